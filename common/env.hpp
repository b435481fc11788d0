#pragma once
/// The `env` seam: the one place logic gets time from. Production code uses
/// `default_env()`; tests pass a fake that advances time by hand.
/// (Sockets and files join this interface as the modules that need them land.)

#include <chrono>

namespace hydra {

class env {
 public:
  using clock = std::chrono::steady_clock;
  virtual ~env() = default;
  /// Monotonic time. Never the wall clock: it jumps.
  virtual clock::time_point now() const = 0;
  /// Blocks the calling thread for `d` (a fake env just advances its clock).
  virtual void sleep_for(clock::duration d) = 0;
};

/// The real environment. Lives for the whole program; thread-safe.
env& default_env();

/// A clock that moves only when told to: for tests.
class manual_env final : public env {
 public:
  clock::time_point now() const override { return t_; }
  void sleep_for(clock::duration d) override { t_ += d; }
  void advance(clock::duration d) { t_ += d; }

 private:
  clock::time_point t_{};
};

/// Seconds between two time points, as a double.
inline double seconds_between(env::clock::time_point a, env::clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace hydra
