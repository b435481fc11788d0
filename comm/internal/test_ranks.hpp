#pragma once
/// Test helpers: run the ranks of an inproc group as threads, make inputs
/// that differ per rank, and check results against a double reference.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/inproc.hpp"

namespace hydra::comm::testing {

/// Calls fn(rank, link) on one thread per rank of a fresh inproc group of n
/// and returns when all have returned.
template <class F>
void run_ranks(int n, F&& fn, std::shared_ptr<inproc_faults> faults = nullptr) {
  auto links = make_inproc_group(n, std::move(faults));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back([&fn, &links, r] { fn(r, *links[static_cast<std::size_t>(r)]); });
  for (auto& t : threads) t.join();
}

/// Deterministic values in about [-1, 1] + rank / 4, different for every rank.
inline std::vector<float> rank_input(int rank, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t h = (i * 7919 + static_cast<std::size_t>(rank) * 104729 + 13) % 2001;
    v[i] = (static_cast<float>(h) - 1000.0f) / 1000.0f + 0.25f * static_cast<float>(rank);
  }
  return v;
}

/// A rank's sample weight in the tests: not all equal, not all integers.
inline double rank_weight(int rank) { return 1.5 + rank; }

/// Wall-clock seconds since `t0`, for "returned within about the timeout".
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline std::vector<double> default_weights(int n) {
  std::vector<double> w;
  for (int r = 0; r < n; ++r) w.push_back(rank_weight(r));
  return w;
}

/// The weighted mean of rank_input over n ranks in double, and the
/// magnitude the float sums work at (sum_r w_r |x_r| / sum_r w_r), which
/// scales the tolerances.
struct reference {
  std::vector<double> mean, scale;
  double total = 0;
};

inline reference weighted_mean(int n, std::size_t count, const std::vector<double>& w) {
  reference ref{std::vector<double>(count), std::vector<double>(count)};
  for (int r = 0; r < n; ++r) {
    const auto x = rank_input(r, count);
    const double wr = w[static_cast<std::size_t>(r)];
    ref.total += wr;
    for (std::size_t i = 0; i < count; ++i) {
      ref.mean[i] += wr * x[i];
      ref.scale[i] += wr * std::fabs(x[i]);
    }
  }
  const double inv = ref.total > 0 ? 1.0 / ref.total : 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    ref.mean[i] *= inv;
    ref.scale[i] *= inv;
  }
  return ref;
}

/// One all-reduce of rank_input on n threads; returns every rank's data.
inline std::vector<std::vector<float>> run_allreduce(int n, std::size_t count, const allreduce_options& opt,
                                                     const std::vector<double>& w,
                                                     std::vector<allreduce_result>* res = nullptr) {
  std::vector<std::vector<float>> out(static_cast<std::size_t>(n));
  if (res) res->assign(static_cast<std::size_t>(n), {});
  run_ranks(n, [&](int r, link& l) {
    auto& x = out[static_cast<std::size_t>(r)];
    x = rank_input(r, count);
    auto got = ring_allreduce(l, x, w[static_cast<std::size_t>(r)], opt);
    ASSERT_TRUE(got) << "rank " << r << ": " << got.err().message;
    if (res) (*res)[static_cast<std::size_t>(r)] = *got;
  });
  return out;
}

inline void expect_identical(const std::vector<std::vector<float>>& out) {
  for (std::size_t r = 1; r < out.size(); ++r) {
    ASSERT_EQ(out[r].size(), out[0].size());
    if (out[0].empty()) continue;
    ASSERT_EQ(std::memcmp(out[r].data(), out[0].data(), out[0].size() * sizeof(float)), 0) << "rank " << r;
  }
}

/// |got - mean| <= rel * scale, element by element.
inline void expect_near_mean(const std::vector<float>& got, const reference& ref, double rel) {
  ASSERT_EQ(got.size(), ref.mean.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - ref.mean[i]), rel * ref.scale[i] + 1e-30) << "at " << i << " of " << got.size();
}

}  // namespace hydra::comm::testing
