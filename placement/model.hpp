#pragma once
/// What placement knows about a machine and a training job. Plain values: the
/// planners in this module are pure functions of these.

#include <cstddef>
#include <cstdint>

namespace hydra::placement {

/// A machine's advertised capabilities (what it reported when it joined).
struct node_caps {
  std::uint64_t id = 0;
  double samples_per_second = 0;          ///< training throughput
  double bandwidth_bytes_per_second = 0;  ///< its link to the rest of the job
  double latency_seconds = 0;             ///< one-way latency of that link
  std::size_t max_batch = 0;              ///< memory limit, samples per round
  double availability = 0;                ///< 0..1, fraction of time it is up
  bool on_battery = false;
  bool alive = false;
};

/// One synchronous round: `global_batch` samples split over the nodes, then
/// one allreduce of `model_bytes`.
struct job {
  std::size_t global_batch = 0;
  std::size_t min_batch = 1;  ///< every node that trains takes at least this
  double model_bytes = 0;
};

}  // namespace hydra::placement
