#pragma once
/// The online policy, exposed for tests that look at what it learned.
///
/// It keeps, per node id, an exponentially weighted moving average of the
/// node's effective speed (samples / measured step seconds) and plans like
/// `model` with those speeds; unseen nodes start at their advertised speed
/// and the first measurement replaces it outright, as does any measurement
/// more than 25% off the estimate (a step change, far beyond noise). There is no bandit or
/// exploration term: every alive node that can hold `min_batch` gets at least
/// `min_batch` samples, so every estimate is refreshed each round and nothing
/// needs exploring.

#include <cstdint>
#include <unordered_map>

#include "placement/policy.hpp"

namespace hydra::placement {

class adaptive_policy final : public policy {
 public:
  explicit adaptive_policy(double alpha = 0.3) : alpha_(alpha) {}

  result<plan> make(const job& j, std::span<const node_caps> nodes) override;
  void observe(std::span<const double> step_seconds,
               std::span<const double> transfer_seconds) override;
  const char* name() const override { return "adaptive"; }

  /// The learned speed of `id`, or `fallback` when never measured.
  double estimate(std::uint64_t id, double fallback) const;

 private:
  struct estimate_entry {
    double speed = 0;
    std::uint32_t samples_seen = 0;
  };
  double alpha_;
  std::unordered_map<std::uint64_t, estimate_entry> est_;
  std::vector<std::uint64_t> last_ids_;
  std::vector<std::size_t> last_samples_;
};

}  // namespace hydra::placement
