#pragma once
/// A duty-cycle cap (`--cpu-limit PCT`): after each piece of work, pause so
/// that work takes at most PCT% of the time — the polite-guest setting of
/// volunteer computing, and a way to make slow nodes on one machine.

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/env.hpp"

namespace hydra {

class duty_cycle {
 public:
  /// `percent` in (0, 100]; 100 means no pauses.
  explicit duty_cycle(env& e, double percent = 100) : env_(e) { set(percent); }

  void set(double percent) { percent_ = std::clamp(percent, 1.0, 100.0); }
  double percent() const { return percent_; }

  /// Seconds to pause after `busy` seconds of work.
  double pause_for(double busy) const { return busy * (100.0 / percent_ - 1.0); }

  /// Call after work that took `busy` seconds: sleeps the matching pause.
  void pace(double busy) {
    const double p = pause_for(busy);
    if (p > 0) env_.sleep_for(std::chrono::duration_cast<env::clock::duration>(std::chrono::duration<double>(p)));
  }

 private:
  env& env_;
  std::atomic<double> percent_{100};
};

}  // namespace hydra
