#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using kernels::codec_kind;
using testing::default_weights;
using testing::expect_identical;
using testing::expect_near_mean;
using testing::rank_input;
using testing::run_allreduce;
using testing::run_ranks;
using testing::weighted_mean;

allreduce_options with(codec_kind k, std::size_t segment_bytes = 1 << 20, double fraction = 0.01) {
  allreduce_options o;
  o.codec = k;
  o.segment_bytes = segment_bytes;
  o.topk_fraction = fraction;
  return o;
}

using codec_shape = std::tuple<codec_kind, int, std::size_t>;

class CompressedAllreduce : public ::testing::TestWithParam<codec_shape> {};

// fp16 / int8: every rank holds the same bits, within the error the codec
// allows at each of the n quantisations a value goes through (n-1 partial
// sums, then the mean).
TEST_P(CompressedAllreduce, WithinCodecErrorAndBitIdentical) {
  const auto [k, n, count] = GetParam();
  const auto w = default_weights(n);
  const auto out = run_allreduce(n, count, with(k, 4096), w);
  expect_identical(out);
  const auto ref = weighted_mean(n, count, w);
  if (k == codec_kind::fp16) {
    expect_near_mean(out[0], ref, n * 0x1p-11 * 1.01);
  } else {
    const double worst = *std::max_element(ref.scale.begin(), ref.scale.end());
    for (std::size_t i = 0; i < count; ++i) ASSERT_LE(std::fabs(out[0][i] - ref.mean[i]), n * worst / 254 * 1.01) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressedAllreduce,
                         ::testing::Combine(::testing::Values(codec_kind::fp16, codec_kind::int8),
                                            ::testing::Values(2, 3, 7),
                                            ::testing::Values(std::size_t{1000}, std::size_t{1} << 16)),
                         [](const ::testing::TestParamInfo<codec_shape>& p) {
                           return std::string(kernels::to_string(std::get<0>(p.param))) + "World" +
                                  std::to_string(std::get<1>(p.param)) + "Count" + std::to_string(std::get<2>(p.param));
                         });

TEST(CompressedAllreduceTopk, BitIdenticalOnEveryRank) {
  for (int n : {2, 3, 4, 7}) {
    const auto out = run_allreduce(n, 5000, with(codec_kind::topk, 1000, 0.1), default_weights(n));
    expect_identical(out);
  }
}

TEST(CompressedAllreduce, SendsFewerBytes) {
  auto bytes = [](codec_kind k) {
    std::vector<allreduce_result> res;
    run_allreduce(4, 1 << 16, with(k, 1 << 20, 0.01), default_weights(4), &res);
    return static_cast<double>(res[1].bytes_sent);
  };
  const double none = bytes(codec_kind::none);
  EXPECT_NEAR(bytes(codec_kind::fp16) / none, 0.5, 0.01);
  EXPECT_NEAR(bytes(codec_kind::int8) / none, 0.25 * (1 + 4.0 / 256), 0.01);
  EXPECT_NEAR(bytes(codec_kind::topk) / none, 2 * 0.01, 0.005);
}

/// `rounds` all-reduces of the same inputs with topk and (optionally) error
/// feedback; returns the average result, and the final residuals per rank.
struct feedback_run {
  std::vector<double> average;
  std::vector<std::vector<float>> residuals;
};

feedback_run repeat_topk(int n, std::size_t count, int rounds, bool feedback) {
  const auto w = default_weights(n);
  std::vector<std::vector<std::vector<float>>> out(static_cast<std::size_t>(rounds),
                                                   std::vector<std::vector<float>>(static_cast<std::size_t>(n)));
  feedback_run fr{std::vector<double>(count), std::vector<std::vector<float>>(static_cast<std::size_t>(n))};
  run_ranks(n, [&](int r, link& l) {
    allreduce_engine e;
    error_feedback ef;
    const auto opt = with(codec_kind::topk, 2048, 0.05);
    for (int t = 0; t < rounds; ++t) {
      auto& x = out[static_cast<std::size_t>(t)][static_cast<std::size_t>(r)];
      x = rank_input(r, count);
      auto got = e.run(l, x, w[static_cast<std::size_t>(r)], opt, feedback ? &ef : nullptr);
      ASSERT_TRUE(got) << got.err().message;
    }
    fr.residuals[static_cast<std::size_t>(r)] = ef.residual;
  });
  for (const auto& round : out) {
    expect_identical(round);
    for (std::size_t i = 0; i < count; ++i) fr.average[i] += round[0][i] / static_cast<double>(rounds);
  }
  return fr;
}

double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

TEST(CompressedAllreduceTopk, ErrorFeedbackConverges) {
  const int n = 4, rounds = 200;
  const std::size_t count = 2000;
  const auto ref = weighted_mean(n, count, default_weights(n));
  const double one = relative_error(repeat_topk(n, count, 1, true).average, ref.mean);
  const auto fed = repeat_topk(n, count, rounds, true);
  const double many = relative_error(fed.average, ref.mean);
  const double plain = relative_error(repeat_topk(n, count, rounds, false).average, ref.mean);
  EXPECT_GT(one, 0.3);  // one round of 5% topk drops most of the signal
  // What was dropped comes back in later rounds: an element waits about
  // 1 / fraction rounds for its turn, so the error of the average falls
  // like (1 / fraction) / rounds.
  EXPECT_LT(many, one / 8);
  EXPECT_GT(plain, one * 0.9);  // without feedback it never does
  // Nothing is lost, only deferred: rounds x weighted sum = sum of the
  // results x total weight + what the residuals still hold.
  const double total = ref.total;
  for (std::size_t i = 0; i < count; ++i) {
    double pending = 0;
    for (const auto& res : fed.residuals) pending += res[i];
    const double want = rounds * ref.mean[i] * total, got = fed.average[i] * rounds * total + pending;
    ASSERT_NEAR(got, want, 1e-4 * rounds * total * ref.scale[i]) << i;
  }
}

}  // namespace
}  // namespace hydra::comm
