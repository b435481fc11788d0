#include "comm/allreduce.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using testing::default_weights;
using testing::expect_identical;
using testing::expect_near_mean;
using testing::rank_input;
using testing::run_allreduce;
using testing::run_ranks;
using testing::weighted_mean;

// world size x element count x segment size (small: many segments, partial
// and empty ones; large: one segment per chunk).
using shape = std::tuple<int, std::size_t, bool>;

std::size_t segment_bytes(std::size_t count, bool small) {
  if (!small) return 1 << 20;
  return count >= 65536 ? 4100 : 12;  // 1025 or 3 floats: never divides a chunk evenly
}

class RingAllreduce : public ::testing::TestWithParam<shape> {};

TEST_P(RingAllreduce, WeightedMeanIsExactAndBitIdentical) {
  const auto [n, count, small] = GetParam();
  allreduce_options opt;
  opt.segment_bytes = segment_bytes(count, small);
  const auto w = default_weights(n);
  std::vector<allreduce_result> res;
  const auto out = run_allreduce(n, count, opt, w, &res);
  const auto ref = weighted_mean(n, count, w);
  expect_identical(out);
  expect_near_mean(out[0], ref, 1e-5);
  for (const auto& r : res) EXPECT_DOUBLE_EQ(r.total_weight, ref.total);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RingAllreduce,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 7),
                                            ::testing::Values(std::size_t{1}, std::size_t{7}, std::size_t{1000},
                                                              std::size_t{1} << 18),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<shape>& p) {
                           return "World" + std::to_string(std::get<0>(p.param)) + "Count" +
                                  std::to_string(std::get<1>(p.param)) +
                                  (std::get<2>(p.param) ? "SmallSegments" : "LargeSegments");
                         });

TEST(RingAllreduceEngine, ReusesBuffersAcrossSizesAndRounds) {
  const int n = 3;
  const auto w = default_weights(n);
  const std::size_t sizes[] = {1000, 10, 1 << 16, 0, 1000};
  std::vector<std::vector<std::vector<float>>> out(std::size(sizes), std::vector<std::vector<float>>(n));
  run_ranks(n, [&](int r, link& l) {
    allreduce_engine e;
    allreduce_options opt;
    opt.segment_bytes = 256;
    for (std::size_t k = 0; k < std::size(sizes); ++k) {
      auto& x = out[k][static_cast<std::size_t>(r)];
      x = rank_input(r, sizes[k]);
      auto got = e.run(l, x, w[static_cast<std::size_t>(r)], opt);
      ASSERT_TRUE(got) << got.err().message;
      EXPECT_EQ(e.failed_rank(), -1);
    }
  });
  for (std::size_t k = 0; k < std::size(sizes); ++k) {
    expect_identical(out[k]);
    expect_near_mean(out[k][0], weighted_mean(n, sizes[k], w), 1e-5);
  }
}

TEST(RingAllreduceEngine, EmptyDataStillSumsWeights) {
  std::vector<allreduce_result> res;
  run_allreduce(4, 0, {}, default_weights(4), &res);
  for (const auto& r : res) EXPECT_DOUBLE_EQ(r.total_weight, 1.5 + 2.5 + 3.5 + 4.5);
}

TEST(RingAllreduceEngine, ZeroWeightContributesNothing) {
  const std::vector<double> w{2.0, 0.0, 5.0};
  const auto out = run_allreduce(3, 500, {}, w);
  expect_identical(out);
  expect_near_mean(out[1], weighted_mean(3, 500, w), 1e-5);
}

TEST(RingAllreduceEngine, AllZeroWeightsGiveZeros) {
  std::vector<allreduce_result> res;
  const auto out = run_allreduce(3, 100, {}, {0.0, 0.0, 0.0}, &res);
  for (const auto& x : out)
    for (float v : x) ASSERT_EQ(v, 0.0f);
  EXPECT_EQ(res[0].total_weight, 0.0);
}

TEST(RingAllreduceEngine, BytesSentIsTheRingVolume) {
  // 4 ranks x 1000 floats each chunk: 3 reduce-scatter messages carrying
  // 1, 2, 3 weights and 3 all-gather ones, each with a 24-byte header.
  std::vector<allreduce_result> res;
  std::vector<std::uint64_t> link_bytes(4);
  run_ranks(4, [&](int r, link& l) {
    auto x = rank_input(r, 4000);
    auto got = ring_allreduce(l, x, 1.0, {});
    ASSERT_TRUE(got);
    EXPECT_EQ(got->bytes_sent, l.bytes_sent());
    link_bytes[static_cast<std::size_t>(r)] = got->bytes_sent;
  });
  for (auto b : link_bytes) EXPECT_EQ(b, 3 * (24 + 4000) + 8 * (1 + 2 + 3) + 3 * (24 + 4000));
}

TEST(RingAllreduceEngine, RejectsBadArguments) {
  auto links = make_inproc_group(1);
  std::vector<float> x(10, 1.0f);
  auto bad_weight = ring_allreduce(*links[0], x, -1.0, {});
  ASSERT_FALSE(bad_weight);
  EXPECT_EQ(bad_weight.err().code, errc::invalid_input);
  EXPECT_FALSE(ring_allreduce(*links[0], x, std::nan(""), {}));
  allreduce_options topk;
  topk.codec = kernels::codec_kind::topk;
  topk.topk_fraction = 0.0;
  EXPECT_FALSE(ring_allreduce(*links[0], x, 1.0, topk));
  allreduce_options no_time;
  no_time.timeout = clock::duration::zero();
  EXPECT_FALSE(ring_allreduce(*links[0], x, 1.0, no_time));
}

TEST(RingAllreduceEngine, OneRanksBadArgumentStopsTheOthersAtOnce) {
  std::vector<errc> codes(3, errc::internal);
  std::vector<double> seconds(3);
  run_ranks(3, [&](int r, link& l) {
    auto x = rank_input(r, 100);
    allreduce_options opt;
    opt.timeout = std::chrono::seconds(20);
    const auto t0 = std::chrono::steady_clock::now();
    auto got = ring_allreduce(l, x, r == 1 ? -2.0 : 1.0, opt);
    seconds[static_cast<std::size_t>(r)] = testing::seconds_since(t0);
    if (!got) codes[static_cast<std::size_t>(r)] = got.err().code;
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(codes[static_cast<std::size_t>(r)], errc::invalid_input) << r;
    EXPECT_LT(seconds[static_cast<std::size_t>(r)], 5.0) << r;
  }
}

TEST(RingAllreduceEngine, MismatchedSizesFailOnEveryRank) {
  std::vector<errc> codes(3, errc::internal);
  std::vector<int> ok(3, 1);  // not vector<bool>: ranks write concurrently
  run_ranks(3, [&](int r, link& l) {
    auto x = rank_input(r, r == 1 ? 999 : 1000);
    allreduce_options opt;
    opt.timeout = std::chrono::seconds(5);
    auto got = ring_allreduce(l, x, 1.0, opt);
    ok[static_cast<std::size_t>(r)] = got.ok();
    if (!got) codes[static_cast<std::size_t>(r)] = got.err().code;
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_FALSE(ok[static_cast<std::size_t>(r)]) << r;
    EXPECT_EQ(codes[static_cast<std::size_t>(r)], errc::invalid_input) << r;
  }
}

}  // namespace
}  // namespace hydra::comm
