// The trust boundary of the mean all-reduce: one rank's non-finite values
// or weight, or a weight above its share, is dropped from the round; the
// others' weighted mean is still every rank's result, bit-identical, and
// every rank learns who was dropped and why.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/inproc.hpp"
#include "comm/internal/protocol.hpp"
#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using testing::default_weights;
using testing::expect_identical;
using testing::expect_near_mean;
using testing::rank_input;
using testing::weighted_mean;

constexpr std::size_t count = 1000;
constexpr std::size_t segment_bytes = 400;  // 100 values: 3 segments per chunk of 250

/// What a hostile rank does to its reduce-scatter messages.
struct tamper {
  float value = 0;            ///< written over every value sent, if `values`
  bool values = false;
  double weight = 0;          ///< written over its own claimed weight, if `claim`
  bool claim = false;
};

/// A rank's link that rewrites the reduce-scatter messages it sends (index <
/// rs_msgs), as a modified node would: the honest code's own checks never
/// see the lie.
class lying_link final : public link {
 public:
  lying_link(link& inner, tamper t, std::uint32_t rs_msgs) : inner_(inner), t_(t), rs_msgs_(rs_msgs) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::uint64_t bytes_sent() const override { return inner_.bytes_sent(); }
  status recv(int from, std::vector<std::byte>& out, clock::time_point deadline) override {
    return inner_.recv(from, out, deadline);
  }
  status send(int to, std::span<const std::byte> bytes) override {
    std::vector<std::byte> msg(bytes.begin(), bytes.end());
    internal::header h;
    std::memcpy(&h, msg.data(), sizeof h);
    if (h.kind == internal::op::allreduce && h.seq < rs_msgs_ && h.nweights > 0) {
      const std::size_t at = sizeof h + 8 * h.nweights;
      if (t_.claim) std::memcpy(msg.data() + sizeof h, &t_.weight, sizeof t_.weight);
      for (std::size_t i = at; t_.values && i + sizeof(float) <= msg.size(); i += sizeof(float))
        std::memcpy(msg.data() + i, &t_.value, sizeof(float));
    }
    return inner_.send(to, msg);
  }

 private:
  link& inner_;
  tamper t_;
  std::uint32_t rs_msgs_;
};

struct rank_outcome {
  std::vector<float> data;
  allreduce_result res;
  std::set<int> reported;  ///< ranks passed to on_dropped
};

/// One mean all-reduce of rank_input over n ranks; ranks in `liars` send
/// through a lying_link; `nan_rank` (if >= 0) passes NaN values of its own.
std::vector<rank_outcome> run_group(int n, const std::vector<double>& w, const std::vector<std::pair<int, tamper>>& liars,
                                    allreduce_options opt, int nan_rank = -1) {
  opt.segment_bytes = segment_bytes;
  std::vector<rank_outcome> out(static_cast<std::size_t>(n));
  const std::size_t chunk = (count + n - 1) / n, seg = segment_bytes / sizeof(float);
  const auto rs = static_cast<std::uint32_t>((n - 1) * ((chunk + seg - 1) / seg));
  testing::run_ranks(n, [&](int r, link& l) {
    auto& o = out[static_cast<std::size_t>(r)];
    o.data = rank_input(r, count);
    if (r == nan_rank) o.data[17] = std::numeric_limits<float>::quiet_NaN();
    allreduce_options mine = opt;
    mine.on_dropped = [&o](int q, const std::string&) { o.reported.insert(q); };
    std::unique_ptr<link> liar;
    for (const auto& [who, t] : liars)
      if (who == r) liar = std::make_unique<lying_link>(l, t, rs);
    allreduce_engine eng;
    auto got = eng.run(liar ? *liar : l, o.data, w[static_cast<std::size_t>(r)], mine);
    ASSERT_TRUE(got) << "rank " << r << ": " << got.err().message;
    o.res = *got;
  });
  return out;
}

std::vector<std::vector<float>> values(const std::vector<rank_outcome>& out) {
  std::vector<std::vector<float>> v;
  for (const auto& o : out) v.push_back(o.data);
  return v;
}

/// Every rank: the weighted mean of the others, and the same dropped list.
void expect_dropped(const std::vector<rank_outcome>& out, std::vector<double> w, const std::set<int>& dropped,
                    const std::string& why_has) {
  const int n = static_cast<int>(out.size());
  for (int q : dropped) w[static_cast<std::size_t>(q)] = 0;
  const auto ref = weighted_mean(n, count, w);
  expect_identical(values(out));
  for (int r = 0; r < n; ++r) {
    const auto& o = out[static_cast<std::size_t>(r)];
    expect_near_mean(o.data, ref, 1e-5);
    EXPECT_DOUBLE_EQ(o.res.total_weight, ref.total) << "rank " << r;
    std::set<int> got;
    for (const auto& d : o.res.dropped) {
      got.insert(d.rank);
      EXPECT_NE(d.why.find(why_has), std::string::npos) << "rank " << r << " says rank " << d.rank << ": " << d.why;
    }
    EXPECT_EQ(got, dropped) << "rank " << r;
    EXPECT_EQ(o.reported, dropped) << "rank " << r;
  }
}

class AllreduceTrustNonFinite : public ::testing::TestWithParam<float> {};

TEST_P(AllreduceTrustNonFinite, MeanDropsARankSendingNonFiniteValues) {
  tamper t;
  t.values = true;
  t.value = GetParam();
  const auto w = default_weights(4);
  const auto out = run_group(4, w, {{2, t}}, {});
  expect_dropped(out, w, {2}, "non-finite");
}

INSTANTIATE_TEST_SUITE_P(Values, AllreduceTrustNonFinite,
                         ::testing::Values(std::numeric_limits<float>::quiet_NaN(),
                                           std::numeric_limits<float>::infinity(),
                                           -std::numeric_limits<float>::infinity()));

TEST(AllreduceTrust, MeanDropsTwoNeighboursSendingNaN) {
  tamper t;
  t.values = true;
  t.value = std::numeric_limits<float>::quiet_NaN();
  const auto w = default_weights(5);
  const auto out = run_group(5, w, {{1, t}, {2, t}}, {});
  expect_dropped(out, w, {1, 2}, "non-finite");
}

TEST(AllreduceTrust, MeanDropsAnHonestRankWhoseValuesAreNotFinite) {
  const auto w = default_weights(4);
  const auto out = run_group(4, w, {}, {}, 1);
  expect_dropped(out, w, {1}, "not finite");
}

TEST(AllreduceTrust, MeanDropsANonFiniteWeightClaim) {
  tamper t;
  t.claim = true;
  t.weight = std::numeric_limits<double>::quiet_NaN();
  const auto w = default_weights(4);
  const auto out = run_group(4, w, {{3, t}}, {});
  expect_dropped(out, w, {3}, "weight");
}

TEST(AllreduceTrust, MeanDropsAWeightClaimAboveItsShare) {
  tamper t;
  t.claim = true;
  t.weight = 1e6;
  allreduce_options opt;
  opt.max_weights = {10, 10, 10, 10};
  const auto w = default_weights(4);
  const auto out = run_group(4, w, {{1, t}}, opt);
  expect_dropped(out, w, {1}, "more than its share 10");
}

TEST(AllreduceTrust, MeanDropsAWeightClaimAboveTheGroupBound) {
  tamper t;
  t.claim = true;
  t.weight = 1e6;
  allreduce_options opt;
  opt.max_weight = 64;
  const auto w = default_weights(3);
  const auto out = run_group(3, w, {{0, t}}, opt);
  expect_dropped(out, w, {0}, "more than its share 64");
}

TEST(AllreduceTrust, MeanClampsItsOwnWeightToItsShare) {
  allreduce_options opt;
  opt.max_weights = {5, 0, 0, 0};
  auto w = default_weights(4);
  w[0] = 100;
  const auto out = run_group(4, w, {}, opt);
  w[0] = 5;
  expect_dropped(out, w, {}, "");
}

TEST(AllreduceTrust, MeanOfOneDropsItsOwnNonFiniteValues) {
  auto links = make_inproc_group(1);
  std::vector<float> x(10, 1.0f);
  x[3] = std::numeric_limits<float>::infinity();
  auto got = ring_allreduce(*links[0], x, 1.0, {});
  ASSERT_TRUE(got);
  ASSERT_EQ(got->dropped.size(), 1u);
  EXPECT_EQ(got->dropped[0].rank, 0);
  EXPECT_EQ(got->total_weight, 0.0);
  for (float v : x) EXPECT_EQ(v, 0.0f);
}

// The finiteness check runs on 8-lane blocks with a scalar tail: a bad
// value anywhere -- first lane, last lane, across a 4096-value block, in
// the tail -- is found, and the largest finite values, subnormals and -0 pass.
TEST(AllreduceTrust, MeanOfOneFindsANonFiniteValueAtAnyPosition) {
  const std::size_t n = 10007;
  for (std::size_t at : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{4095}, std::size_t{4096},
                         std::size_t{9000}, std::size_t{10000}, n - 1})
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
      auto links = make_inproc_group(1);
      std::vector<float> x(n, 1.0f);
      x[at] = bad;
      auto got = ring_allreduce(*links[0], x, 1.0, {});
      ASSERT_TRUE(got);
      EXPECT_EQ(got->dropped.size(), 1u) << "bad value at " << at;
    }
  auto links = make_inproc_group(1);
  std::vector<float> x(n, 1.0f);
  x[5] = std::numeric_limits<float>::max();
  x[4100] = -std::numeric_limits<float>::max();
  x[n - 1] = std::numeric_limits<float>::denorm_min();
  x[9] = -0.0f;
  auto got = ring_allreduce(*links[0], x, 1.0, {});
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->dropped.empty());
  EXPECT_EQ(x[5], std::numeric_limits<float>::max());
}

TEST(AllreduceTrust, MeanRejectsMaxWeightsOfTheWrongSize) {
  auto links = make_inproc_group(1);
  std::vector<float> x(10, 1.0f);
  allreduce_options opt;
  opt.max_weights = {1, 2};
  auto got = ring_allreduce(*links[0], x, 1.0, opt);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.err().code, errc::invalid_input);
}

}  // namespace
}  // namespace hydra::comm
