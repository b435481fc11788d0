// Peers that die or stall in the middle of a collective: every survivor
// returns an error within about one timeout, nobody hangs, and the round
// redone over the survivors gives their weighted mean.

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using death = inproc_faults::death;
using testing::default_weights;
using testing::expect_identical;
using testing::expect_near_mean;
using testing::rank_input;
using testing::run_ranks;
using testing::seconds_since;
using testing::weighted_mean;

constexpr auto short_timeout = std::chrono::milliseconds(200);

struct outcome {
  int ok = 0;
  errc code = errc::internal;
  int blamed = -1;
  double seconds = 0;
};

/// One all-reduce of n ranks over a group with `faults`.
std::vector<outcome> run_with_faults(int n, std::size_t count, std::shared_ptr<inproc_faults> faults,
                                     allreduce_options opt) {
  std::vector<outcome> out(static_cast<std::size_t>(n));
  run_ranks(
      n,
      [&](int r, link& l) {
        auto x = rank_input(r, count);
        allreduce_engine e;
        const auto t0 = std::chrono::steady_clock::now();
        auto got = e.run(l, x, 1.0, opt);
        auto& o = out[static_cast<std::size_t>(r)];
        o.seconds = seconds_since(t0);
        o.ok = got.ok();
        if (!got) o.code = got.err().code;
        o.blamed = e.failed_rank();
      },
      std::move(faults));
  return out;
}

// world size, dying rank, sends it makes before dying, how it dies.
using death_case = std::tuple<int, int, int, death>;

class DeadRankMidRound : public ::testing::TestWithParam<death_case> {};

TEST_P(DeadRankMidRound, EverySurvivorFailsWithinTheTimeout) {
  const auto [n, dead, sends, how] = GetParam();
  auto faults = std::make_shared<inproc_faults>();
  faults->kill_after_sends(dead, static_cast<std::uint64_t>(sends), how);
  allreduce_options opt;
  opt.timeout = short_timeout;
  opt.segment_bytes = 400;  // 100 floats: several segments per chunk, so death lands mid-phase
  const auto out = run_with_faults(n, 4000, faults, opt);
  for (int r = 0; r < n; ++r) {
    if (r == dead) continue;
    const auto& o = out[static_cast<std::size_t>(r)];
    EXPECT_FALSE(o.ok) << "rank " << r;
    EXPECT_TRUE(o.code == errc::deadline || o.code == errc::unavailable) << "rank " << r << ": " << to_string(o.code);
    EXPECT_LT(o.seconds, 3.0 * 0.2) << "rank " << r;  // about one timeout, never a hang
  }
  // The rank after the dead one saw it go; with a detected death the abort
  // outruns every other deadline, so all survivors blame the same rank.
  EXPECT_EQ(out[static_cast<std::size_t>((dead + 1) % n)].blamed, dead);
  for (int r = 0; r < n && how == death::detected; ++r) {
    if (r == dead) continue;
    EXPECT_EQ(out[static_cast<std::size_t>(r)].blamed, dead) << "rank " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Deaths, DeadRankMidRound,
                         ::testing::Values(death_case{2, 1, 0, death::silent}, death_case{3, 0, 5, death::silent},
                                           death_case{4, 2, 3, death::silent},
                                           death_case{4, 3, 40, death::silent},  // during all-gather
                                           death_case{4, 1, 3, death::detected}, death_case{7, 4, 20, death::detected}),
                         [](const ::testing::TestParamInfo<death_case>& p) {
                           return "World" + std::to_string(std::get<0>(p.param)) + "Rank" +
                                  std::to_string(std::get<1>(p.param)) + "After" +
                                  std::to_string(std::get<2>(p.param)) + "Sends" +
                                  (std::get<3>(p.param) == death::silent ? "Silent" : "Detected");
                         });

TEST(RingAllreduceFaults, DetectedDeathEndsTheRoundLongBeforeTheTimeout) {
  auto faults = std::make_shared<inproc_faults>();
  faults->kill_after_sends(2, 4, death::detected);
  allreduce_options opt;
  opt.timeout = std::chrono::seconds(20);
  opt.segment_bytes = 400;
  const auto out = run_with_faults(5, 4000, faults, opt);
  for (int r = 0; r < 5; ++r) {
    if (r == 2) continue;
    EXPECT_FALSE(out[static_cast<std::size_t>(r)].ok);
    EXPECT_EQ(out[static_cast<std::size_t>(r)].code, errc::unavailable);
    EXPECT_LT(out[static_cast<std::size_t>(r)].seconds, 2.0) << "rank " << r;
  }
}

TEST(RingAllreduceFaults, SlowLinksWithinTheTimeoutStillAgree) {
  auto faults = std::make_shared<inproc_faults>();
  faults->delay_all(std::chrono::milliseconds(2));
  faults->delay(1, 2, std::chrono::milliseconds(30));
  const auto w = default_weights(3);
  std::vector<std::vector<float>> data(3);
  run_ranks(
      3,
      [&](int r, link& l) {
        auto& x = data[static_cast<std::size_t>(r)];
        x = rank_input(r, 3000);
        allreduce_options opt;
        opt.timeout = std::chrono::seconds(5);
        opt.segment_bytes = 2000;
        ASSERT_TRUE(ring_allreduce(l, x, w[static_cast<std::size_t>(r)], opt));
      },
      faults);
  expect_identical(data);
  expect_near_mean(data[0], weighted_mean(3, 3000, w), 1e-5);
}

TEST(RingAllreduceFaults, LinkSlowerThanTheTimeoutFailsEveryRank) {
  auto faults = std::make_shared<inproc_faults>();
  faults->delay(1, 2, std::chrono::milliseconds(600));
  allreduce_options opt;
  opt.timeout = std::chrono::milliseconds(150);
  const auto out = run_with_faults(3, 300, faults, opt);
  for (int r = 0; r < 3; ++r) {
    EXPECT_FALSE(out[static_cast<std::size_t>(r)].ok) << r;
    EXPECT_EQ(out[static_cast<std::size_t>(r)].code, errc::deadline) << r;
    EXPECT_LT(out[static_cast<std::size_t>(r)].seconds, 0.5) << r;
  }
  EXPECT_EQ(out[2].blamed, 1);
}

// The caller's loop: the round fails, the survivors form a new group and
// redo it with their own contributions; the weights re-normalise.
TEST(RingAllreduceFaults, RedoneOverSurvivorsGivesTheirWeightedMean) {
  auto faults = std::make_shared<inproc_faults>();
  faults->kill_after_sends(1, 2, death::silent);
  allreduce_options opt;
  opt.timeout = short_timeout;
  opt.segment_bytes = 400;
  const auto first = run_with_faults(4, 1000, faults, opt);
  for (int r : {0, 2, 3}) ASSERT_FALSE(first[static_cast<std::size_t>(r)].ok);

  const int survivors[] = {0, 2, 3};
  std::vector<std::vector<float>> data(3);
  std::vector<double> totals(3);
  run_ranks(3, [&](int r, link& l) {
    const int old_rank = survivors[r];
    auto& x = data[static_cast<std::size_t>(r)];
    x = rank_input(old_rank, 1000);
    auto got = ring_allreduce(l, x, testing::rank_weight(old_rank), opt);
    ASSERT_TRUE(got) << got.err().message;
    totals[static_cast<std::size_t>(r)] = got->total_weight;
  });
  expect_identical(data);
  std::vector<double> want(1000);
  double total = 0;
  for (int old_rank : survivors) {
    const auto x = rank_input(old_rank, 1000);
    const double w = testing::rank_weight(old_rank);
    total += w;
    for (std::size_t i = 0; i < want.size(); ++i) want[i] += w * x[i];
  }
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(data[0][i], want[i] / total, 1e-5);
  EXPECT_DOUBLE_EQ(totals[0], total);
}

}  // namespace
}  // namespace hydra::comm
