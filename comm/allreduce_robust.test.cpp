// Byzantine-robust all-reduce (reduce_op::trimmed_mean, reduce_op::median):
// exact order statistics over the ranks with weight, bit-identical on every
// rank; a poisoned minority cannot leave the honest range (while the mean
// is dragged away); deaths and disagreements end in errors, never hangs.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using death = inproc_faults::death;
using testing::expect_identical;
using testing::rank_input;
using testing::run_ranks;
using testing::seconds_since;

using inputs = std::vector<std::vector<float>>;

allreduce_options robust(reduce_op op, std::size_t segment_bytes = 1 << 20, int trim = 0) {
  allreduce_options opt;
  opt.op = op;
  opt.segment_bytes = segment_bytes;
  opt.trim = trim;
  return opt;
}

inputs make_inputs(int n, std::size_t count) {
  inputs x;
  for (int r = 0; r < n; ++r) x.push_back(rank_input(r, count));
  return x;
}

/// filtered_mean, independently (see filtered_segment in allreduce.cpp):
/// per segment of each owner's chunk, up to f suspects dropped (longer than
/// twice the median norm, or agreeing — median pairwise cosine — less than
/// half the median agreement), the rest capped and averaged in rank order.
std::vector<float> reference_filtered(const inputs& x, const std::vector<double>& w, int trim, std::size_t seg) {
  const int n = static_cast<int>(x.size());
  const std::size_t count = x.empty() ? 0 : x[0].size();
  const std::size_t f0 = trim > 0 ? static_cast<std::size_t>(trim) : n >= 3 ? std::max(1, (n - 1) / 3) : 0;
  std::vector<int> ranks;
  for (int r = 0; r < n; ++r)
    if (w[static_cast<std::size_t>(r)] > 0) ranks.push_back(r);
  std::vector<float> out(count);
  if (ranks.empty()) return out;
  const std::size_t c = ranks.size(), f = std::min(f0, c - 1);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  // Segments of each owner's chunk (the engine's layout): chunk lengths as
  // ring_layout cuts them, segments of `seg` values.
  const std::size_t base = count / static_cast<std::size_t>(n), rem = count % static_cast<std::size_t>(n);
  for (std::size_t ch = 0, begin = 0; ch < static_cast<std::size_t>(n); ++ch) {
    const std::size_t len = base + (ch < rem ? 1 : 0);
    // Each chunk's owner keeps its own history of dropped ranks, segment
    // after segment (EWMA 0.9; a rank above 0.5 stays a suspect).
    std::vector<double> history(static_cast<std::size_t>(n), 0.0);
    for (std::size_t b = begin; b < begin + len; b += seg) {
      const std::size_t width = std::min(seg, begin + len - b);
      auto val = [&](std::size_t q, std::size_t k) { return static_cast<double>(x[static_cast<std::size_t>(ranks[q])][b + k]); };
      std::vector<std::vector<double>> g(c, std::vector<double>(c));
      for (std::size_t q = 0; q < c; ++q)
        for (std::size_t j = 0; j < c; ++j) {
          double d = 0;
          for (std::size_t k = 0; k < width; ++k) d += val(q, k) * val(j, k);
          g[q][j] = d;
        }
      std::vector<double> norm(c), agree(c);
      for (std::size_t q = 0; q < c; ++q) {
        norm[q] = std::sqrt(g[q][q]);
        std::vector<double> cs;
        for (std::size_t j = 0; j < c; ++j)
          if (j != q) {
            const double v = g[q][j] / (std::sqrt(g[q][q]) * std::sqrt(g[j][j]));
            cs.push_back(std::isfinite(v) ? v : -std::numeric_limits<double>::infinity());
          }
        std::sort(cs.begin(), cs.end(), std::greater<>());
        const std::size_t peers = std::max<std::size_t>(1, std::min(cs.size(), c - f - 1));
        double sum = 0;
        for (std::size_t j = 0; j < peers && j < cs.size(); ++j) sum += cs[j];
        agree[q] = cs.empty() ? 1.0 : sum / static_cast<double>(peers);
        if (!std::isfinite(agree[q])) agree[q] = -std::numeric_limits<double>::infinity();
      }
      std::vector<double> sn(norm);
      for (auto& v : sn)
        if (!std::isfinite(v)) v = std::numeric_limits<double>::infinity();
      const double cap = 2 * median(sn);
      const double mid = median(agree);
      // Suspects: too long (longest first), then disagreeing (least first).
      std::vector<std::size_t> idx(c);
      for (std::size_t q = 0; q < c; ++q) idx[q] = q;
      auto too_long = [&](std::size_t q) { return !(norm[q] <= cap); };
      auto hist = [&](std::size_t q) { return history[static_cast<std::size_t>(ranks[q])]; };
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t bb) {
        if (too_long(a) != too_long(bb)) return too_long(bb);
        if (too_long(a)) return norm[a] < norm[bb];
        return agree[a] - hist(a) > agree[bb] - hist(bb);
      });
      auto suspect = [&](std::size_t q) {
        return too_long(q) || !(agree[q] > 0 && agree[q] >= 0.25 * mid) || hist(q) > 0.5;
      };
      std::size_t kept = c;
      while (c - kept < f && suspect(idx[kept - 1])) --kept;
      for (std::size_t j = 0; j < c; ++j) {
        double& h = history[static_cast<std::size_t>(ranks[idx[j]])];
        h = 0.9 * h + (j >= kept ? 0.1 : 0.0);
      }
      std::vector<std::size_t> keep(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kept));
      std::sort(keep.begin(), keep.end());
      for (std::size_t k = 0; k < width; ++k) {
        double s = 0;
        for (auto q : keep) {
          const double sc = norm[q] > cap && std::isfinite(cap) ? cap / norm[q] : 1.0;
          s += sc * val(q, k);
        }
        out[b + k] = static_cast<float>(s / static_cast<double>(keep.size()));
      }
    }
    begin += len;
  }
  return out;
}

/// The statistic computed independently of the engine: per coordinate, the
/// values of the ranks with weight > 0, sorted (NaN last), trimmed, and
/// averaged in double in ascending order (as the engine does, so results
/// match bit for bit).
std::vector<float> reference(reduce_op op, const inputs& x, const std::vector<double>& w, int trim = 0,
                             std::size_t segment_bytes = 1 << 20) {
  const int n = static_cast<int>(x.size());
  const std::size_t count = x.empty() ? 0 : x[0].size();
  std::size_t t = 0;
  if (op == reduce_op::filtered_mean) return reference_filtered(x, w, trim, std::max<std::size_t>(1, segment_bytes / 4));
  if (op == reduce_op::trimmed_mean || op == reduce_op::mean_around_median)
    t = trim > 0 ? static_cast<std::size_t>(trim) : n >= 3 ? std::max(1, (n - 1) / 3) : 0;
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::vector<float> v;
    for (int r = 0; r < n; ++r)
      if (w[static_cast<std::size_t>(r)] > 0) v.push_back(x[static_cast<std::size_t>(r)][i]);
    if (v.empty()) continue;
    std::sort(v.begin(), v.end(), [](float a, float b) { return a < b || (std::isnan(b) && !std::isnan(a)); });
    const std::size_t c = v.size();
    if (op == reduce_op::median) {
      out[i] = c % 2 ? v[c / 2] : static_cast<float>((static_cast<double>(v[c / 2 - 1]) + v[c / 2]) / 2);
    } else if (op == reduce_op::mean_around_median) {
      // Brute force: every window of c - f sorted values; keep the one whose
      // farther end is nearest the median (first on ties).
      const std::size_t f = std::min(t, c - 1), keep = c - f;
      const double m = c % 2 ? v[c / 2] : (static_cast<double>(v[c / 2 - 1]) + v[c / 2]) / 2;
      std::size_t best = 0;
      double reach = std::numeric_limits<double>::quiet_NaN();
      for (std::size_t st = 0; st <= f; ++st) {
        double r = std::max(m - v[st], static_cast<double>(v[st + keep - 1]) - m);
        if (std::isnan(m - v[st]) || std::isnan(static_cast<double>(v[st + keep - 1]) - m))
          r = std::numeric_limits<double>::infinity();
        if (st == 0 || r < reach) reach = r, best = st;
      }
      double s = 0;
      for (std::size_t q = best; q < best + keep; ++q) s += v[q];
      out[i] = static_cast<float>(s / static_cast<double>(keep));
    } else {
      const std::size_t tt = std::min(t, (c - 1) / 2);
      double s = 0;
      for (std::size_t q = tt; q < c - tt; ++q) s += v[q];
      out[i] = static_cast<float>(s / static_cast<double>(c - 2 * tt));
    }
  }
  return out;
}

struct outcome {
  std::vector<float> data;
  allreduce_result res;
  bool ok = false;
  errc code = errc::internal;
  std::string message;
  int blamed = -1;
  double seconds = 0;
};

/// One all-reduce of `x` (rank r's data x[r], weight w[r], options opt[r]).
std::vector<outcome> run_each(const inputs& x, const std::vector<double>& w, const std::vector<allreduce_options>& opt,
                              std::shared_ptr<inproc_faults> faults = nullptr) {
  const int n = static_cast<int>(x.size());
  std::vector<outcome> out(static_cast<std::size_t>(n));
  run_ranks(
      n,
      [&](int r, link& l) {
        auto& o = out[static_cast<std::size_t>(r)];
        o.data = x[static_cast<std::size_t>(r)];
        allreduce_engine e;
        const auto t0 = std::chrono::steady_clock::now();
        auto got = e.run(l, o.data, w[static_cast<std::size_t>(r)], opt[static_cast<std::size_t>(r)]);
        o.seconds = seconds_since(t0);
        o.ok = got.ok();
        if (got)
          o.res = *got;
        else {
          o.code = got.err().code;
          o.message = got.err().message;
        }
        o.blamed = e.failed_rank();
      },
      std::move(faults));
  return out;
}

std::vector<outcome> run_all(const inputs& x, const std::vector<double>& w, const allreduce_options& opt) {
  return run_each(x, w, std::vector<allreduce_options>(x.size(), opt));
}

/// Every rank succeeded with the same bytes; returns rank 0's data.
std::vector<float> agreed(const std::vector<outcome>& out) {
  inputs data;
  for (std::size_t r = 0; r < out.size(); ++r) {
    EXPECT_TRUE(out[r].ok) << "rank " << r << ": " << out[r].message;
    data.push_back(out[r].data);
  }
  expect_identical(data);
  return data[0];
}

/// Exactly the reference's values (-0 and +0 are the same value: which one
/// a sort puts first is not specified).
void expect_exact(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))
        << "at " << i << " of " << got.size() << ": " << got[i] << " vs " << want[i];
}

double sum(const std::vector<double>& w) {
  double s = 0;
  for (double v : w) s += v;
  return s;
}

// ---- exact results -----------------------------------------------------------

// op x world size x element count x small segments.
using shape = std::tuple<reduce_op, int, std::size_t, bool>;

class RobustAllreduce : public ::testing::TestWithParam<shape> {};

TEST_P(RobustAllreduce, ExactStatisticBitIdenticalOnEveryRank) {
  const auto [op, n, count, small] = GetParam();
  const auto x = make_inputs(n, count);
  const auto w = testing::default_weights(n);
  const auto out = run_all(x, w, robust(op, small ? 12 : 1 << 20));  // 12 bytes: 3 floats per segment
  const auto got = agreed(out);
  expect_exact(got, reference(op, x, w, 0, small ? 12 : 1 << 20));
  for (const auto& o : out) EXPECT_DOUBLE_EQ(o.res.total_weight, sum(w));
}

INSTANTIATE_TEST_SUITE_P(Shapes, RobustAllreduce,
                         ::testing::Combine(::testing::Values(reduce_op::trimmed_mean, reduce_op::median,
                                                              reduce_op::mean_around_median, reduce_op::filtered_mean),
                                            ::testing::Values(1, 2, 3, 4, 5, 7),
                                            ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{3},
                                                              std::size_t{7}, std::size_t{1000}, std::size_t{4099}),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<shape>& p) {
                           const reduce_op op = std::get<0>(p.param);
                           return std::string(op == reduce_op::median               ? "Median"
                                              : op == reduce_op::mean_around_median ? "MeanAroundMedian"
                                              : op == reduce_op::filtered_mean      ? "FilteredMean"
                                                                                    : "TrimmedMean") +
                                  "World" + std::to_string(std::get<1>(p.param)) + "Count" +
                                  std::to_string(std::get<2>(p.param)) +
                                  (std::get<3>(p.param) ? "SmallSegments" : "LargeSegments");
                         });

TEST(RobustAllreduceOps, ManyRanksAndNonFiniteValues) {
  // Past 32 contributing ranks, and with NaN / inf in some blocks, the
  // engine sorts coordinate by coordinate instead of with its network.
  for (int n : {33, 40}) {
    SCOPED_TRACE("world " + std::to_string(n));
    auto x = make_inputs(n, 777);
    x[5][3] = std::numeric_limits<float>::quiet_NaN();
    x[7][500] = std::numeric_limits<float>::infinity();
    x[9][500] = -std::numeric_limits<float>::infinity();
    auto w = testing::default_weights(n);
    w[11] = 0;
    for (auto op : {reduce_op::trimmed_mean, reduce_op::median}) {
      const auto got = agreed(run_all(x, w, robust(op, 1000)));
      expect_exact(got, reference(op, x, w));
      EXPECT_FALSE(std::isnan(got[3]));
    }
  }
}

TEST(RobustAllreduceOps, TrimmedMeanOfFiveDropsOneAtEachEnd) {
  // Hand-checked: per coordinate the values 1..5 in some rank order.
  const inputs x{{5, 1, 3}, {1, 2, 5}, {4, 3, 1}, {2, 5, 4}, {3, 4, 2}};
  const std::vector<double> w(5, 1.0);
  const auto t = agreed(run_all(x, w, robust(reduce_op::trimmed_mean)));
  EXPECT_EQ(t, (std::vector<float>{3, 3, 3}));
  // With rank 0 at 100 everywhere: (2+3+4)/3, (3+4+5)/3 and (2+4+5)/3 -> the
  // values of ranks 1..4 without their lowest and the 100.
  inputs y = x;
  y[0] = {100, 100, 100};
  const auto u = agreed(run_all(y, w, robust(reduce_op::trimmed_mean)));
  EXPECT_EQ(u, (std::vector<float>{3, 4, static_cast<float>(11.0 / 3)}));
  const auto m = agreed(run_all(y, std::vector<double>(5, 1.0), robust(reduce_op::median)));
  EXPECT_EQ(m, (std::vector<float>{3, 4, 4}));
}

TEST(RobustAllreduceOps, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  const inputs x{{1, -4}, {10, 0}, {2, -1}, {7, 8}};
  EXPECT_EQ(agreed(run_all(x, std::vector<double>(4, 1.0), robust(reduce_op::median))),
            (std::vector<float>{4.5f, -0.5f}));
}

TEST(RobustAllreduceOps, ExplicitTrimIsClampedToLeaveOneValue) {
  const int n = 7;
  const auto x = make_inputs(n, 1001);
  const auto w = testing::default_weights(n);
  const auto median = agreed(run_all(x, w, robust(reduce_op::median, 400)));
  for (int trim : {1, 2, 3, 10}) {
    SCOPED_TRACE("trim " + std::to_string(trim));
    const auto got = agreed(run_all(x, w, robust(reduce_op::trimmed_mean, 400, trim)));
    expect_exact(got, reference(reduce_op::trimmed_mean, x, w, trim));
    if (trim >= 3) expect_exact(got, median);  // 7 - 2*3 = 1 value left: the median
  }
  // auto trim for 7 ranks is 2.
  expect_exact(agreed(run_all(x, w, robust(reduce_op::trimmed_mean, 400))),
               reference(reduce_op::trimmed_mean, x, w, 2));
}

TEST(RobustAllreduceOps, AutoTrimAndExplicitTrimThatAgreeWork) {
  // 0 (auto) resolves to 1 for 4 ranks: ranks passing 0 and 1 agree.
  const auto x = make_inputs(4, 300);
  const std::vector<double> w(4, 1.0);
  std::vector<allreduce_options> opt(4, robust(reduce_op::trimmed_mean, 100));
  opt[2].trim = 1;
  const auto got = agreed(run_each(x, w, opt));
  expect_exact(got, reference(reduce_op::trimmed_mean, x, w, 1));
}

// ---- weights -----------------------------------------------------------------

TEST(RobustAllreduceWeights, ZeroWeightRanksAreExcluded) {
  const int n = 5;
  auto x = make_inputs(n, 999);
  for (float& v : x[1]) v = 1e30f;  // would win any order statistic it took part in
  for (float& v : x[3]) v = -1e30f;
  const std::vector<double> w{2.0, 0.0, 5.0, 0.0, 1.0};
  for (auto op : {reduce_op::trimmed_mean, reduce_op::median, reduce_op::mean_around_median}) {
    SCOPED_TRACE(to_string(op));
    const auto out = run_all(x, w, robust(op, 40));
    const auto got = agreed(out);
    const inputs honest{x[0], x[2], x[4]};
    // Over the 3 ranks with weight, both ops are the median of 3 (auto trim
    // of the group of 5 is 1, clamped to 1).
    expect_exact(got, reference(op, honest, {1, 1, 1}, 1));
    expect_exact(got, reference(op, x, w));
    for (const auto& o : out) EXPECT_DOUBLE_EQ(o.res.total_weight, 8.0);
  }
}

TEST(RobustAllreduceWeights, AllZeroWeightsGiveZeros) {
  const auto x = make_inputs(3, 100);
  for (auto op : {reduce_op::trimmed_mean, reduce_op::median}) {
    const auto out = run_all(x, {0.0, 0.0, 0.0}, robust(op));
    for (float v : agreed(out)) ASSERT_EQ(v, 0.0f);
    EXPECT_EQ(out[0].res.total_weight, 0.0);
  }
  // A group of one too.
  auto links = make_inproc_group(1);
  std::vector<float> y(5, 3.0f);
  auto got = ring_allreduce(*links[0], y, 0.0, robust(reduce_op::median));
  ASSERT_TRUE(got);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(RobustAllreduceWeights, OneContributorGivesItsOwnValues) {
  const auto x = make_inputs(4, 501);
  for (auto op : {reduce_op::trimmed_mean, reduce_op::median})
    expect_exact(agreed(run_all(x, {0.0, 0.0, 2.5, 0.0}, robust(op, 64))), x[2]);
}

TEST(RobustAllreduceWeights, WeightsDoNotWeighTheStatistic) {
  // Rank 0 has most samples but still counts once.
  const inputs x{{0}, {1}, {2}};
  EXPECT_EQ(agreed(run_all(x, {1000, 1, 1}, robust(reduce_op::median))), (std::vector<float>{1}));
}

TEST(RobustAllreduceWeights, ErrorFeedbackResidualIsFoldedIn) {
  // Residuals are in weighted-sum units: rank r's values become x + res / w.
  const int n = 3;
  const auto x = make_inputs(n, 200);
  const auto w = testing::default_weights(n);
  inputs folded = x;
  inputs data(n);
  std::vector<std::vector<float>> residual(n);
  run_ranks(n, [&](int r, link& l) {
    const auto rr = static_cast<std::size_t>(r);
    error_feedback ef;
    ef.residual.assign(200, 0.5f * static_cast<float>(r + 1));
    data[rr] = x[rr];
    auto got = allreduce_engine().run(l, data[rr], w[rr], robust(reduce_op::median), &ef);
    ASSERT_TRUE(got) << got.err().message;
    residual[rr] = ef.residual;
  });
  for (int r = 0; r < n; ++r)
    for (auto& v : folded[static_cast<std::size_t>(r)])
      v = static_cast<float>(v + 0.5f * static_cast<float>(r + 1) / w[static_cast<std::size_t>(r)]);
  expect_identical(data);
  expect_exact(data[0], reference(reduce_op::median, folded, w));
  for (const auto& res : residual)
    for (float v : res) ASSERT_EQ(v, 0.0f);
}

// ---- Byzantine ranks -----------------------------------------------------------

struct attack {
  const char* name;
  std::function<float(float)> poison;
};

const attack attacks[] = {
    {"ScaleMinus10", [](float v) { return -10.0f * v; }},
    {"Scale1e6", [](float v) { return 1e6f * v; }},
    {"SignFlip", [](float v) { return -v; }},
    {"Huge", [](float) { return 3e38f; }},
    {"Inf", [](float) { return -std::numeric_limits<float>::infinity(); }},
    {"NaN", [](float) { return std::numeric_limits<float>::quiet_NaN(); }},
};

// attack index x attacker rank.
class ByzantineRank : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(ByzantineRank, RobustOpsStayWithinTheHonestRangeWhileTheMeanDoesNot) {
  const auto [a, attacker] = GetParam();
  const attack& atk = attacks[a];
  const int n = 4;
  const std::size_t count = 2001;
  auto x = make_inputs(n, count);
  for (float& v : x[static_cast<std::size_t>(attacker)]) v = atk.poison(v);
  const std::vector<double> w(n, 1.0);
  std::vector<float> lo(count, std::numeric_limits<float>::infinity()), hi(count, -lo[0]);
  for (int r = 0; r < n; ++r) {
    if (r == attacker) continue;
    for (std::size_t i = 0; i < count; ++i) {
      lo[i] = std::min(lo[i], x[static_cast<std::size_t>(r)][i]);
      hi[i] = std::max(hi[i], x[static_cast<std::size_t>(r)][i]);
    }
  }
  for (auto op : {reduce_op::trimmed_mean, reduce_op::median, reduce_op::mean_around_median,
                  reduce_op::filtered_mean}) {
    SCOPED_TRACE(to_string(op));
    const auto got = agreed(run_all(x, w, robust(op, 400)));  // 100 floats a segment
    expect_exact(got, reference(op, x, w, 0, 400));
    // Median and trimmed mean stay inside the honest range; mean around
    // median may take the attacker into its window when the attacker hides
    // inside the honest spread, so it is bounded by one more spread.
    const bool meamed = op == reduce_op::mean_around_median || op == reduce_op::filtered_mean;
    for (std::size_t i = 0; i < count; ++i) {
      const float slack = meamed ? hi[i] - lo[i] : 0.0f;
      ASSERT_GE(got[i], lo[i] - slack) << "at " << i;
      ASSERT_LE(got[i], hi[i] + slack) << "at " << i;
    }
  }
  // The plain mean, same inputs: dragged out of the honest range. (Not for
  // a plain sign flip: with 3 honest ranks its pull, -2x/4, mostly stays
  // inside their spread.) Non-finite values are the exception: the mean
  // drops their rank from the round (allreduce_trust.test.cpp), leaving the
  // honest mean.
  if (std::string(atk.name) == "SignFlip") return;
  const bool non_finite = std::string(atk.name) == "Inf" || std::string(atk.name) == "NaN";
  allreduce_options mean;
  mean.segment_bytes = 400;
  const auto m = agreed(run_all(x, w, mean));
  std::size_t outside = 0;
  for (std::size_t i = 0; i < count; ++i) outside += !(m[i] >= lo[i] && m[i] <= hi[i]);  // NaN counts as outside
  if (non_finite)
    EXPECT_EQ(outside, 0u) << atk.name;
  else
    EXPECT_GT(outside, count / 2) << atk.name;
}

INSTANTIATE_TEST_SUITE_P(Attacks, ByzantineRank,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(attacks))),
                                            ::testing::Values(0, 1, 3)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& p) {
                           return std::string(attacks[std::get<0>(p.param)].name) + "Rank" +
                                  std::to_string(std::get<1>(p.param));
                         });

TEST(ByzantineRanks, MeanAroundMedianIsTheHonestMeanWhenTheAttackerIsAnOutlier) {
  // Honest ranks agree closely (values near 1 + small spread); the attacker
  // sends -10x. Median and trimmed mean of 4 drop an honest value too (and
  // shrink toward the attacker's side); mean-around-median keeps exactly the
  // three honest values.
  const int n = 4;
  const std::size_t count = 777;
  inputs x(n, std::vector<float>(count));
  for (int r = 0; r < n; ++r)
    for (std::size_t i = 0; i < count; ++i) x[r][i] = 1.0f + 0.01f * static_cast<float>((r * 7 + i) % 5);
  for (float& v : x[2]) v *= -10.0f;
  const std::vector<double> w(n, 1.0);
  const auto got = agreed(run_all(x, w, robust(reduce_op::mean_around_median, 400)));
  const auto med = agreed(run_all(x, w, robust(reduce_op::median, 400)));
  std::size_t shrunk = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::vector<double> honest = {x[0][i], x[1][i], x[3][i]};
    std::sort(honest.begin(), honest.end());
    const double mean = (honest[0] + honest[1] + honest[2]) / 3;
    ASSERT_NEAR(got[i], mean, 1e-6) << "at " << i;
    shrunk += med[i] < mean - 1e-6;
  }
  EXPECT_GT(shrunk, count / 2);  // the median is biased toward the attacker's side
}

TEST(ByzantineRanks, FilteredMeanDropsASignFlippedRankWhole) {
  // Honest ranks: a common direction plus small noise; the attacker sends
  // the sign flip of its honest update. Every block drops the attacker and
  // equals the honest mean.
  const int n = 4;
  const std::size_t count = 1000;
  inputs x(n, std::vector<float>(count));
  for (int r = 0; r < n; ++r)
    for (std::size_t i = 0; i < count; ++i)
      x[r][i] = std::sin(0.1f * static_cast<float>(i)) + 0.05f * static_cast<float>((r * 13 + i * 7) % 11) / 11.0f;
  for (float& v : x[1]) v = -v;
  const std::vector<double> w(n, 1.0);
  const auto got = agreed(run_all(x, w, robust(reduce_op::filtered_mean, 400)));
  expect_exact(got, reference(reduce_op::filtered_mean, x, w, 0, 400));
  // The honest mean, up to the norm cap (honest norms differ by a few %).
  for (std::size_t i = 0; i < count; ++i)
    ASSERT_NEAR(got[i], (double(x[0][i]) + x[2][i] + x[3][i]) / 3, 0.03) << "at " << i;
  // A scaled-up rank (+10x, aligned) is capped at twice the median norm;
  // with no attacker nothing is dropped and the result is the plain mean.
  auto y = x;
  for (float& v : y[1]) v = -v * 10.0f;
  const auto capped = agreed(run_all(y, w, robust(reduce_op::filtered_mean, 400)));
  for (std::size_t i = 0; i < count; ++i) ASSERT_LT(std::abs(capped[i]), 1.6) << "at " << i;
  auto z = x;
  for (float& v : z[1]) v = -v;  // all honest again
  const auto clean = agreed(run_all(z, w, robust(reduce_op::filtered_mean, 400)));
  for (std::size_t i = 0; i < count; ++i)
    ASSERT_NEAR(clean[i], (double(z[0][i]) + z[1][i] + z[2][i] + z[3][i]) / 4, 1e-6) << "at " << i;
}

TEST(ByzantineRanks, FilteredMeanRemembersAPersistentAttacker) {
  // One engine per rank across rounds. For 8 rounds rank 2 sends the sign
  // flip of an honest update and is dropped; in round 9 it sends a vector
  // that agrees weakly (honest direction, mostly noise): on its own that
  // would pass, but its history keeps it out. A fresh engine lets it in.
  const int n = 4;
  const std::size_t count = 600;
  auto honest = [&](int r, int round) {
    std::vector<float> v(count);
    for (std::size_t i = 0; i < count; ++i)
      v[i] = std::sin(0.05f * static_cast<float>(i) + 0.3f * static_cast<float>(round)) +
             0.2f * std::cos(static_cast<float>(i * (r + 3)));
    return v;
  };
  auto weak = [&](int round) {  // half signal, plus noise about as long as the signal
    auto v = honest(1, round);
    for (std::size_t i = 0; i < count; ++i) v[i] = 0.5f * v[i] + std::cos(static_cast<float>(i * i % 97));
    return v;
  };
  const std::vector<double> w(n, 1.0);
  std::vector<allreduce_engine> engines(n);
  std::vector<std::vector<float>> last(n), fresh(n);
  for (int round = 0; round < 9; ++round) {
    run_ranks(n, [&](int r, link& l) {
      std::vector<float> v = r == 2 ? (round < 8 ? honest(0, round) : weak(round)) : honest(r, round);
      if (r == 2 && round < 8)
        for (auto& x : v) x = -x;
      auto got = engines[static_cast<std::size_t>(r)].run(l, v, 1.0, robust(reduce_op::filtered_mean));
      ASSERT_TRUE(got) << got.err().message;
      if (round == 8) last[static_cast<std::size_t>(r)] = v;
    });
  }
  run_ranks(n, [&](int r, link& l) {
    std::vector<float> v = r == 2 ? weak(8) : honest(r, 8);
    auto got = allreduce_engine().run(l, v, 1.0, robust(reduce_op::filtered_mean));
    ASSERT_TRUE(got) << got.err().message;
    fresh[static_cast<std::size_t>(r)] = v;
  });
  expect_identical(last);
  const auto h0 = honest(0, 8), h1 = honest(1, 8), h3 = honest(3, 8);
  for (std::size_t i = 0; i < count; ++i)
    ASSERT_NEAR(last[0][i], (double(h0[i]) + h1[i] + h3[i]) / 3, 1e-5) << "at " << i;
  // Without the history the weak vector is averaged in.
  double diff = 0;
  for (std::size_t i = 0; i < count; ++i) diff += std::abs(fresh[0][i] - last[0][i]);
  EXPECT_GT(diff / count, 0.05);
}

TEST(ByzantineRanks, TwoOfSevenAreTrimmed) {
  const int n = 7;
  const std::size_t count = 1500;
  auto x = make_inputs(n, count);
  for (float& v : x[2]) v *= 1e6f;
  for (float& v : x[5]) v = -1e6f;
  const std::vector<double> w(n, 1.0);
  for (auto op : {reduce_op::trimmed_mean, reduce_op::median, reduce_op::mean_around_median}) {
    SCOPED_TRACE(to_string(op));
    const auto got = agreed(run_all(x, w, robust(op, 256)));  // auto trim: 2
    for (std::size_t i = 0; i < count; ++i) {
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (int r : {0, 1, 3, 4, 6}) {
        lo = std::min(lo, x[static_cast<std::size_t>(r)][i]);
        hi = std::max(hi, x[static_cast<std::size_t>(r)][i]);
      }
      ASSERT_GE(got[i], lo) << i;
      ASSERT_LE(got[i], hi) << i;
    }
  }
}

// ---- failures ------------------------------------------------------------------

constexpr auto short_timeout = std::chrono::milliseconds(200);

// op x (world size, dying rank, sends it makes before dying, how it dies).
using death_case = std::tuple<reduce_op, std::tuple<int, int, int, death>>;

class RobustDeadRank : public ::testing::TestWithParam<death_case> {};

TEST_P(RobustDeadRank, EverySurvivorFailsWithinTheTimeout) {
  const auto op = std::get<0>(GetParam());
  const auto [n, dead, sends, how] = std::get<1>(GetParam());
  auto faults = std::make_shared<inproc_faults>();
  faults->kill_after_sends(dead, static_cast<std::uint64_t>(sends), how);
  auto opt = robust(op, 400);  // 100 floats: several segments per chunk
  opt.timeout = short_timeout;
  const auto out = run_each(make_inputs(n, 4000), std::vector<double>(static_cast<std::size_t>(n), 1.0),
                            std::vector<allreduce_options>(static_cast<std::size_t>(n), opt), faults);
  int blame_dead = 0;
  for (int r = 0; r < n; ++r) {
    if (r == dead) continue;
    const auto& o = out[static_cast<std::size_t>(r)];
    EXPECT_FALSE(o.ok) << "rank " << r;
    EXPECT_TRUE(o.code == errc::deadline || o.code == errc::unavailable) << "rank " << r << ": " << to_string(o.code);
    EXPECT_LT(o.seconds, 3.0 * 0.2) << "rank " << r;  // about one timeout, never a hang
    blame_dead += o.blamed == dead;
    if (how == death::detected) {
      EXPECT_EQ(o.code, errc::unavailable) << "rank " << r << ": " << o.message;
      EXPECT_EQ(o.blamed, dead) << "rank " << r << ": " << o.message;
    }
  }
  EXPECT_GE(blame_dead, 1);  // someone waiting on it saw it go
}

std::string death_case_name(const ::testing::TestParamInfo<death_case>& p) {
  const auto& [n, dead, sends, how] = std::get<1>(p.param);
  return std::string(std::get<0>(p.param) == reduce_op::median ? "Median" : "TrimmedMean") + "World" +
         std::to_string(n) + "Rank" + std::to_string(dead) + "After" + std::to_string(sends) + "Sends" +
         (how == death::silent ? "Silent" : "Detected");
}

// With 4000 floats and 100-float segments every rank sends (n-1) S exchange
// messages, S = ceil(4000 / n / 100), then as many in the all-gather.
INSTANTIATE_TEST_SUITE_P(
    Deaths, RobustDeadRank,
    ::testing::Combine(::testing::Values(reduce_op::trimmed_mean, reduce_op::median),
                       ::testing::Values(std::make_tuple(2, 1, 0, death::silent),
                                         std::make_tuple(3, 0, 5, death::silent),
                                         std::make_tuple(4, 2, 3, death::silent),
                                         std::make_tuple(4, 3, 33, death::silent),  // start of all-gather
                                         std::make_tuple(4, 1, 3, death::detected),
                                         std::make_tuple(5, 2, 34, death::detected),  // start of all-gather
                                         std::make_tuple(7, 4, 20, death::detected))),
    death_case_name);

TEST(RobustAllreduceFaults, DetectedDeathEndsTheRoundLongBeforeTheTimeout) {
  auto faults = std::make_shared<inproc_faults>();
  faults->kill_after_sends(2, 4, death::detected);
  auto opt = robust(reduce_op::median, 400);
  opt.timeout = std::chrono::seconds(20);
  const auto out =
      run_each(make_inputs(5, 4000), std::vector<double>(5, 1.0), std::vector<allreduce_options>(5, opt), faults);
  for (int r = 0; r < 5; ++r) {
    if (r == 2) continue;
    EXPECT_FALSE(out[static_cast<std::size_t>(r)].ok);
    EXPECT_EQ(out[static_cast<std::size_t>(r)].code, errc::unavailable);
    EXPECT_LT(out[static_cast<std::size_t>(r)].seconds, 2.0) << "rank " << r;
  }
}

/// Every rank failed (with invalid_input if asked) within `within` seconds.
void expect_all_fail(const std::vector<outcome>& out, double within, bool invalid_input) {
  for (std::size_t r = 0; r < out.size(); ++r) {
    EXPECT_FALSE(out[r].ok) << "rank " << r;
    if (invalid_input) {
      EXPECT_EQ(out[r].code, errc::invalid_input) << "rank " << r << ": " << out[r].message;
    }
    EXPECT_LT(out[r].seconds, within) << "rank " << r;
  }
}

TEST(RobustAllreduceDisagreement, RobustOpsThatDifferFailAtOnce) {
  const auto x = make_inputs(4, 1000);
  const std::vector<double> w(4, 1.0);
  auto base = robust(reduce_op::trimmed_mean, 400);
  base.timeout = std::chrono::seconds(20);
  {
    SCOPED_TRACE("median vs trimmed mean");
    std::vector<allreduce_options> opt(4, base);
    opt[1].op = reduce_op::median;
    expect_all_fail(run_each(x, w, opt), 5.0, true);
  }
  {
    SCOPED_TRACE("trim 1 vs trim 2");
    std::vector<allreduce_options> opt(4, base);
    opt[3].trim = 2;
    expect_all_fail(run_each(x, w, opt), 5.0, true);
  }
}

TEST(RobustAllreduceDisagreement, MeanAgainstRobustFailsEveryRankWithinTheTimeout) {
  const auto x = make_inputs(3, 1000);
  const std::vector<double> w(3, 1.0);
  allreduce_options mean;
  mean.segment_bytes = 400;
  mean.timeout = std::chrono::milliseconds(300);
  auto median = robust(reduce_op::median, 400);
  median.timeout = mean.timeout;
  expect_all_fail(run_each(x, w, {mean, median, median}), 3.0 * 0.3, false);
  expect_all_fail(run_each(x, w, {median, mean, mean}), 3.0 * 0.3, false);
  expect_all_fail(run_each(make_inputs(4, 1000), std::vector<double>(4, 1.0), {mean, median, mean, median}), 3.0 * 0.3,
                  false);
}

TEST(RobustAllreduceArguments, OtherCodecsAreRejectedOnEveryRank) {
  const auto x = make_inputs(3, 100);
  auto opt = robust(reduce_op::median);
  opt.codec = kernels::codec_kind::fp16;
  opt.timeout = std::chrono::seconds(20);
  const auto out = run_all(x, std::vector<double>(3, 1.0), opt);
  expect_all_fail(out, 5.0, true);
  EXPECT_NE(out[0].message.find("codec none only"), std::string::npos) << out[0].message;
  // One rank with a bad codec stops the others at once.
  std::vector<allreduce_options> each(3, robust(reduce_op::trimmed_mean));
  for (auto& o : each) o.timeout = std::chrono::seconds(20);
  each[1].codec = kernels::codec_kind::int8;
  expect_all_fail(run_each(x, std::vector<double>(3, 1.0), each), 5.0, true);
  // And in a group of one.
  auto links = make_inproc_group(1);
  std::vector<float> y(10, 1.0f);
  auto got = ring_allreduce(*links[0], y, 1.0, opt);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.err().code, errc::invalid_input);
}

TEST(RobustAllreduceArguments, NegativeTrimIsRejected) {
  auto links = make_inproc_group(1);
  std::vector<float> y(10, 1.0f);
  auto got = ring_allreduce(*links[0], y, 1.0, robust(reduce_op::trimmed_mean, 1 << 20, -1));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.err().code, errc::invalid_input);
}

TEST(RobustAllreduceArguments, ParseAndPrintReduceOps) {
  for (auto op : {reduce_op::mean, reduce_op::trimmed_mean, reduce_op::median, reduce_op::mean_around_median,
                  reduce_op::filtered_mean})
    EXPECT_EQ(parse_reduce_op(to_string(op)), op);
  EXPECT_EQ(parse_reduce_op("mean"), reduce_op::mean);
  EXPECT_EQ(parse_reduce_op("trimmed-mean"), reduce_op::trimmed_mean);
  EXPECT_EQ(parse_reduce_op("median"), reduce_op::median);
  EXPECT_FALSE(parse_reduce_op("trimmed_mean"));
  EXPECT_FALSE(parse_reduce_op(""));
  EXPECT_FALSE(parse_reduce_op("Median"));
}

// ---- engine ------------------------------------------------------------------

TEST(RobustAllreduceEngine, BytesSentIsTheExchangePlusTheAllGather) {
  // 4 ranks x 1000-float chunks in one segment: 3 exchange messages (header,
  // 16-byte descriptor, values unless the weight is 0) and 3 all-gather ones.
  const auto x = make_inputs(4, 4000);
  const auto out = run_all(x, {1.0, 0.0, 1.0, 1.0}, robust(reduce_op::median));
  agreed(out);
  for (int r = 0; r < 4; ++r) {
    const std::uint64_t values = r == 1 ? 0 : 4000;
    EXPECT_EQ(out[static_cast<std::size_t>(r)].res.bytes_sent, 3 * (24 + 16 + values) + 3 * (24 + 4000)) << r;
  }
}

TEST(RobustAllreduceEngine, ReusesBuffersAcrossOpsSizesAndRounds) {
  const int n = 3;
  const auto w = testing::default_weights(n);
  const std::size_t sizes[] = {1000, 10, 1 << 16, 0, 2, 1000};
  const reduce_op ops[] = {reduce_op::median, reduce_op::mean,         reduce_op::trimmed_mean,
                           reduce_op::median, reduce_op::trimmed_mean, reduce_op::mean};
  std::vector<inputs> out(std::size(sizes), inputs(n));
  run_ranks(n, [&](int r, link& l) {
    allreduce_engine e;
    for (std::size_t k = 0; k < std::size(sizes); ++k) {
      auto& x = out[k][static_cast<std::size_t>(r)];
      x = rank_input(r, sizes[k]);
      auto opt = robust(ops[k], 256);
      auto got = e.run(l, x, w[static_cast<std::size_t>(r)], opt);
      ASSERT_TRUE(got) << got.err().message;
      EXPECT_EQ(e.failed_rank(), -1);
    }
  });
  for (std::size_t k = 0; k < std::size(sizes); ++k) {
    SCOPED_TRACE(k);
    expect_identical(out[k]);
    if (ops[k] == reduce_op::mean)
      testing::expect_near_mean(out[k][0], testing::weighted_mean(n, sizes[k], w), 1e-5);
    else
      expect_exact(out[k][0], reference(ops[k], make_inputs(n, sizes[k]), w));
  }
}

}  // namespace
}  // namespace hydra::comm
