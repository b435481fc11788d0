#pragma once
/// Live figures of a training job, written by the trainer (one writer) and
/// read at any time by the metrics server and the status page (any reader).
/// Scalars are atomics; the curves are bounded histories behind a mutex:
/// when a history is full every other point is dropped, so a long job keeps
/// its whole shape in a fixed amount of memory.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace hydra {

struct train_point {
  double t = 0;               ///< unix seconds
  std::uint64_t step = 0;
  std::uint64_t samples = 0;  ///< global samples trained so far
  double value = 0;           ///< loss, accuracy or round seconds
};

class bounded_history {
 public:
  explicit bounded_history(std::size_t cap = 1024) : cap_(cap < 2 ? 2 : cap) {}
  void add(const train_point& p) {
    std::lock_guard lock(mu_);
    if (++seen_ % stride_ != 0) return;
    points_.push_back(p);
    if (points_.size() >= cap_) {
      std::size_t j = 0;
      for (std::size_t i = 0; i < points_.size(); i += 2) points_[j++] = points_[i];
      points_.resize(j);
      stride_ *= 2;
    }
  }
  std::vector<train_point> points() const {
    std::lock_guard lock(mu_);
    return points_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<train_point> points_;
  std::size_t cap_;
  std::uint64_t seen_ = 0, stride_ = 1;
};

struct train_metrics {
  std::atomic<bool> training{false}, done{false};
  std::atomic<std::uint64_t> step{0}, total_steps{0}, samples{0}, total_samples{0};
  std::atomic<std::uint64_t> rounds{0}, failed_rounds{0}, groups{0};
  std::atomic<std::uint64_t> bytes_sent{0}, bytes_received{0};  ///< data plane (all-reduce)
  std::atomic<int> world{0}, rank{-1};
  std::atomic<double> loss{0}, last_round_seconds{0}, round_seconds_sum{0}, allreduce_seconds_sum{0};
  std::atomic<double> samples_per_second{0}, test_accuracy{-1}, started_at{0};
  bounded_history loss_curve{1024}, accuracy_curve{256}, round_curve{1024};

  /// Adds to an atomic double (C++20 has no fetch_add for it before GCC 13's libstdc++ path).
  static void add(std::atomic<double>& a, double v) {
    double cur = a.load(std::memory_order_relaxed);
    while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
  }
};

}  // namespace hydra
