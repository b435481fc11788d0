#pragma once
/// The `env` seam: the one place logic gets time from. Production code uses
/// `default_env()`; tests pass a fake that advances time by hand.
/// (Sockets and files join this interface as the modules that need them land.)

#include <chrono>
#include <cstdint>

namespace hydra {

class env {
 public:
  using clock = std::chrono::steady_clock;
  virtual ~env() = default;
  /// Monotonic time. Never the wall clock: it jumps.
  virtual clock::time_point now() const = 0;
  /// Blocks the calling thread for `d` (a fake env just advances its clock).
  virtual void sleep_for(clock::duration d) = 0;
  /// Calendar time in seconds since the Unix epoch: only for validity windows
  /// (certificates, request expiry), never for measuring durations.
  virtual std::int64_t unix_seconds() const = 0;
};

/// The real environment. Lives for the whole program; thread-safe.
env& default_env();

/// A clock that moves only when told to: for tests.
class manual_env final : public env {
 public:
  clock::time_point now() const override { return t_; }
  void sleep_for(clock::duration d) override { advance(d); }
  void advance(clock::duration d) {
    t_ += d;
    unix_ += std::chrono::duration_cast<std::chrono::seconds>(d).count();
  }
  std::int64_t unix_seconds() const override { return unix_; }
  void set_unix_seconds(std::int64_t s) { unix_ = s; }

 private:
  clock::time_point t_{};
  std::int64_t unix_ = 1'800'000'000;  // 2027-01-15
};

/// Seconds between two time points, as a double.
inline double seconds_between(env::clock::time_point a, env::clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace hydra
