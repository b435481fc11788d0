#pragma once
/// Batch placement: how many samples of a round each node computes.
///
/// Three policies share one interface: `uniform` (equal split), `model`
/// (proportional to advertised speed so every node finishes together) and
/// `adaptive` (like `model`, but with speeds learned online from measured
/// step times, so it keeps up when machines drift from what they advertised).

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "placement/model.hpp"

namespace hydra::placement {

struct plan {
  std::vector<std::size_t> samples;  ///< per node, same order as the input
  double predicted_round_seconds = 0;
};

class policy {
 public:
  virtual ~policy() = default;
  /// Errors: no alive node can take work, or the job cannot fit in memory.
  virtual result<plan> make(const job& j, std::span<const node_caps> nodes) = 0;
  /// Measurements of the round run from the last plan, same order as the
  /// input of that `make` (per node compute and transfer seconds).
  virtual void observe(std::span<const double> step_seconds,
                       std::span<const double> transfer_seconds) {}
  virtual const char* name() const = 0;
};

/// "uniform", "model" or "adaptive"; invalid_input otherwise.
result<std::unique_ptr<policy>> make_policy(std::string_view name);

/// The names make_policy accepts.
std::span<const std::string_view> policy_names();

/// Splits `j.global_batch` over the nodes proportionally to `weights`
/// (water-filling between min_batch and max_batch), rounding by largest
/// remainder so the sum is exact. Dead nodes and weight <= 0 get 0. When
/// `global_batch` is too small to give every eligible node `min_batch`, only
/// the heaviest `global_batch / min_batch` nodes train.
result<std::vector<std::size_t>> proportional_split(const job& j, std::span<const node_caps> nodes,
                                                    std::span<const double> weights);

/// Allreduce cost over the nodes with samples > 0: a ring moves about twice
/// the model over its slowest link, plus a round trip on the slowest latency.
double allreduce_seconds(std::span<const node_caps> nodes, std::span<const std::size_t> samples,
                         double model_bytes);

/// max_i samples_i / speeds_i + allreduce_seconds.
double round_seconds(std::span<const node_caps> nodes, std::span<const std::size_t> samples,
                     std::span<const double> speeds, double model_bytes);

}  // namespace hydra::placement
