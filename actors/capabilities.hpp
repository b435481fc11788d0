#pragma once
/// What a node can do, measured rather than declared: sustained GFLOP/s on
/// the real kernels (under the node's duty-cycle cap), cores, memory, and the
/// OS's power and load state.

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/duty_cycle.hpp"

namespace hydra::actors {

struct capabilities {
  double gflops = 0;        ///< sustained, as offered (cap included)
  std::uint32_t cores = 0;
  std::uint64_t memory_bytes = 0;
  float cpu_limit = 100;
  bool on_battery = false;
  float battery_percent = -1;  ///< -1: no battery
  float load1 = 0;
  bool idle = false;
  std::string paused;  ///< why the guest policy paused this node's trainer ("" = not paused; actors/guest.hpp)
};

/// Times a oneDNN inner product (the trainer's main kernel) for about
/// `seconds`, pacing with `duty` after each call, and returns GFLOP/s of
/// wall time (so a 25% cap measures about a quarter of the machine).
double measure_gflops(double seconds, duty_cycle& duty, int threads = 0);

/// The machine's full-speed GFLOP/s (measure_gflops at no cap, all
/// cores), measured once per machine and kept in `cache_file` (JSON: the
/// figure, the CPU model, the core count, when): a node started within
/// `max_age_seconds` of the last measurement on the same CPU reads it
/// instead of measuring. Starters hold an exclusive flock on the file while
/// they measure, so 100 processes started at once on one box run one
/// benchmark, undisturbed by the other 99, which wait and read its result.
/// A damaged or foreign file is measured over. `measure` is the benchmark
/// (tests pass a fake). Falls back to measuring when the file cannot be
/// opened.
double cached_machine_gflops(const std::string& cache_file, double max_age_seconds,
                             const std::function<double()>& measure);

/// Where the machine-wide cache lives: $HYDRA_CACHE_DIR, else
/// $XDG_CACHE_HOME/hydra, else $HOME/.cache/hydra, else /tmp; the folder is
/// created. File name "capability.json".
std::string default_capability_cache();

/// Fills cores, memory, battery (from /sys/class/power_supply) and load
/// (getloadavg); `idle` = load below a quarter of the cores.
void read_os_state(capabilities& c, const std::string& power_supply_dir = "/sys/class/power_supply");

nlohmann::json to_json(const capabilities& c);

}  // namespace hydra::actors
