#pragma once
/// Property tests of the collectives: a random plan of back-to-back calls
/// (all-reduce and broadcast; lengths from 0 to a few thousand, including
/// fewer values than ranks; every codec; segment sizes from one value to
/// more than the data), played by every rank of a group on one engine each,
/// then checked: every call succeeds, every rank ends bit-identical, the
/// mean is within the codec's error of a double reference, broadcasts carry
/// the root's bytes. Used over inproc links (allreduce_property.test.cpp)
/// and TCP links (tcp_link.test.cpp).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/internal/test_ranks.hpp"

namespace hydra::comm::testing {

struct planned_call {
  bool broadcast = false;
  std::size_t count = 0;  ///< floats (all-reduce) or bytes (broadcast)
  int root = 0;
  allreduce_options opt;

  std::string describe() const {
    return std::string(broadcast ? "broadcast" : "allreduce") + " count " + std::to_string(count) + " codec " +
           kernels::to_string(opt.codec) + " segment " + std::to_string(opt.segment_bytes) +
           (broadcast ? " root " + std::to_string(root) : "");
  }
};

/// `calls` random calls for a group of n, from `seed`.
inline std::vector<planned_call> random_plan(std::uint64_t seed, int n, int calls) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::size_t k) { return static_cast<std::size_t>(rng() % k); };
  const kernels::codec_kind codecs[] = {kernels::codec_kind::none, kernels::codec_kind::fp16,
                                        kernels::codec_kind::int8, kernels::codec_kind::topk};
  const std::size_t segments[] = {4, 8, 12, 64, 4100, 1 << 20};
  std::vector<planned_call> plan;
  for (int c = 0; c < calls; ++c) {
    planned_call p;
    p.broadcast = pick(5) == 0;
    switch (pick(4)) {
      case 0: p.count = pick(static_cast<std::size_t>(n) + 1); break;  // 0 .. n: fewer values than ranks
      case 1: p.count = pick(64); break;
      case 2: p.count = pick(5000); break;
      default: p.count = 1; break;  // the "line up the ranks" call of the benchmarks
    }
    p.root = static_cast<int>(pick(static_cast<std::size_t>(n)));
    p.opt.segment_bytes = segments[pick(std::size(segments))];
    p.opt.codec = p.broadcast ? kernels::codec_kind::none : codecs[pick(std::size(codecs))];
    p.opt.topk_fraction = 0.25;
    p.opt.timeout = std::chrono::seconds(20);
    plan.push_back(p);
  }
  return plan;
}

/// What one rank saw: per call its data after the call, or the error.
struct rank_log {
  std::vector<std::vector<float>> values;
  std::vector<std::vector<std::byte>> bytes;
  std::vector<double> total_weight;
  std::vector<std::string> errors;
};

inline std::vector<std::byte> broadcast_input(int rank, std::size_t n) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 131 + static_cast<std::size_t>(rank) * 7) % 251);
  return b;
}

/// Plays the plan on one rank (call it on every rank's thread or process).
inline rank_log play(int rank, link& l, const std::vector<planned_call>& plan) {
  allreduce_engine engine;
  rank_log log;
  for (const auto& p : plan) {
    if (p.broadcast) {
      auto b = broadcast_input(rank, p.count);
      auto st = engine.broadcast(l, b, p.root, p.opt);
      log.errors.push_back(st ? "" : st.err().message);
      log.bytes.push_back(std::move(b));
      log.values.emplace_back();
      log.total_weight.push_back(0);
    } else {
      auto x = rank_input(rank, p.count);
      auto got = engine.run(l, x, rank_weight(rank), p.opt);
      log.errors.push_back(got ? "" : got.err().message);
      log.total_weight.push_back(got ? got->total_weight : -1);
      log.values.push_back(std::move(x));
      log.bytes.emplace_back();
    }
  }
  return log;
}

/// Checks every rank's log against the plan.
inline void check_logs(const std::vector<rank_log>& logs, const std::vector<planned_call>& plan) {
  const int n = static_cast<int>(logs.size());
  const auto w = default_weights(n);
  for (std::size_t c = 0; c < plan.size(); ++c) {
    const auto& p = plan[c];
    SCOPED_TRACE("call " + std::to_string(c) + ": " + p.describe() + ", " + std::to_string(n) + " ranks");
    for (int r = 0; r < n; ++r) ASSERT_EQ(logs[r].errors[c], "") << "rank " << r;
    if (p.broadcast) {
      const auto want = broadcast_input(p.root, p.count);
      for (int r = 0; r < n; ++r) ASSERT_EQ(logs[r].bytes[c], want) << "rank " << r;
      continue;
    }
    std::vector<std::vector<float>> out;
    for (int r = 0; r < n; ++r) out.push_back(logs[r].values[c]);
    expect_identical(out);
    const auto ref = weighted_mean(n, p.count, w);
    for (int r = 0; r < n; ++r) ASSERT_DOUBLE_EQ(logs[r].total_weight[c], ref.total) << "rank " << r;
    if (p.opt.codec == kernels::codec_kind::none) {
      expect_near_mean(out[0], ref, 1e-5);
    } else if (p.opt.codec == kernels::codec_kind::fp16) {
      expect_near_mean(out[0], ref, n * 0x1p-11 * 1.01);
    } else if (p.opt.codec == kernels::codec_kind::int8) {
      const double worst = ref.scale.empty() ? 0 : *std::max_element(ref.scale.begin(), ref.scale.end());
      for (std::size_t i = 0; i < p.count; ++i)
        ASSERT_LE(std::fabs(out[0][i] - ref.mean[i]), n * worst / 254 * 1.01 + 1e-30) << "at " << i;
    } else {
      // topk keeps a share of each segment: the result is finite and no
      // larger than the inputs' magnitudes allow.
      for (std::size_t i = 0; i < p.count; ++i) {
        ASSERT_TRUE(std::isfinite(out[0][i])) << "at " << i;
        ASSERT_LE(std::fabs(out[0][i]), n * (ref.scale[i] + 2.0) + 1e-6) << "at " << i;
      }
    }
  }
}

}  // namespace hydra::comm::testing
