#pragma once
/// A simulator of a heterogeneous, churning cluster running synchronous
/// rounds under a placement policy. Pure apart from timing the policy's
/// `make` with std::chrono (the plan-time figure); simulated time is a double.
///
/// Generated clusters: speeds log-uniform over [10, 10 * speed_spread]
/// samples/s, bandwidth log-uniform over [1e8, 1e9] B/s, latency uniform over
/// [1, 50] ms, max_batch uniform over [1024, 8192), availability uniform over
/// [0.5, 1), 10% on battery. Between rounds each alive node leaves with
/// probability churn_per_hour/100 * round_seconds/3600 and each empty slot
/// is refilled by a fresh node (new id) with probability 1/2. With drift > 0
/// each node's true speed does a log random walk, step sigma `drift`, while
/// its advertised speed stays stale. Measured step times carry +-`noise`
/// relative uniform noise (unit-variance scaled).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "placement/policy.hpp"

namespace hydra::placement {

struct sim_config {
  std::size_t nodes = 1000, rounds = 100;
  double speed_spread = 20, churn_per_hour = 5, drift = 0;
  double noise = 0.01;
  std::uint64_t seed = 1;
  std::size_t global_batch = 0;  ///< 0: 256 per node
  double model_bytes = 1e7;
};

struct sim_report {
  std::string policy;
  std::size_t rounds = 0, failed_rounds = 0, joins = 0, leaves = 0;
  double mean_round_seconds = 0;
  double mean_ideal_seconds = 0;  ///< total work / total true capacity + comm
  double ratio = 0;               ///< mean_round / mean_ideal
  double mean_plan_seconds = 0, max_plan_seconds = 0;
  double simulated_seconds = 0;
};

/// One line of a trace: `node_id,time_s,event,value`.
struct trace_event {
  enum class kind { join, leave, speed };
  std::uint64_t node_id = 0;
  double time_s = 0;
  kind what = kind::join;
  double value = 0;  ///< join, speed: samples/s (true speed); leave: unused
};

/// Parses CSV text: an optional `node_id,...` header, `#` comments and blank
/// lines allowed. Errors name the line. Events come back sorted by time.
result<std::vector<trace_event>> parse_trace(std::string_view text);

/// Applies "spread=20,churn=5,..." (keys: nodes rounds spread churn drift
/// noise seed batch model_bytes) to `c`; invalid_input on unknown keys or
/// bad numbers.
status apply_spec(std::string_view spec, sim_config& c);

/// Generated cluster of `c.nodes` nodes.
sim_report simulate(const sim_config& c, policy& p);

/// Trace-driven: starts empty and applies events as simulated time passes
/// them (join: a node with that true speed, advertised the same; speed: the
/// true speed changes, the advertised one stays). `c.nodes`, `spread`,
/// `churn` and `drift` are ignored; global batch 0 means 256 per node id.
sim_report simulate(const sim_config& c, policy& p, std::span<const trace_event> trace);

}  // namespace hydra::placement
