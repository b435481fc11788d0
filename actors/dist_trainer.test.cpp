// Which rank's state a new group adopts: a step claimed far ahead of the
// group is not adopted (the trust boundary of agree_on_state).

#include "actors/dist_trainer.hpp"

#include <gtest/gtest.h>

namespace hydra::actors {
namespace {

TEST(ChooseStateSource, TheMostAdvancedRankWinsWhenOthersVouchForIt) {
  // Survivors at 500 and 501 (one finished the failed round), a joiner at 0.
  const auto c = choose_state_source({500, 0, 501, 500}, 1000, 1);
  EXPECT_EQ(c.source, 2);
  EXPECT_TRUE(c.refused.empty());
}

TEST(ChooseStateSource, AStepFarAheadOfTheGroupIsNotAdopted) {
  const auto c = choose_state_source({500, 500, 900, 0}, 1000, 1);
  EXPECT_EQ(c.source, 0);
  EXPECT_EQ(c.refused, (std::vector<int>{2}));
}

TEST(ChooseStateSource, AStepPastTheJobsEndIsNotAdopted) {
  const auto c = choose_state_source({500, 1ull << 62, 0}, 1000, 1);
  EXPECT_EQ(c.source, 0);
  EXPECT_EQ(c.refused, (std::vector<int>{1}));
}

TEST(ChooseStateSource, ALoneSurvivorLeadsFreshJoiners) {
  // Fresh ranks (step 0) vouch for nothing, so they cannot pull the job back.
  const auto c = choose_state_source({0, 0, 700}, 1000, 1);
  EXPECT_EQ(c.source, 2);
  EXPECT_TRUE(c.refused.empty());
}

TEST(ChooseStateSource, LocalModeVouchesWithinOneSyncInterval) {
  EXPECT_EQ(choose_state_source({64, 72, 72 + 8 * 50}, 1000, 8).source, 1);
  EXPECT_EQ(choose_state_source({64, 72}, 1000, 8).source, 1);
}

TEST(ChooseStateSource, EqualClaimsGoToTheLowestRank) {
  EXPECT_EQ(choose_state_source({0, 300, 300}, 1000, 1).source, 1);
  EXPECT_EQ(choose_state_source({0, 0}, 1000, 1).source, 0);
}

TEST(MaxRoundWeight, BoundsTheSamplesARankCanClaim) {
  dist_train_options o;
  o.batch = 64;
  EXPECT_EQ(max_round_weight(o), 64);
  o.pool = std::make_shared<sample_pool>();
  EXPECT_EQ(max_round_weight(o), 64 + 16);
  o.mode = "local";
  o.local_steps = 8;
  EXPECT_EQ(max_round_weight(o), 8 * (64 + 16));
}

}  // namespace
}  // namespace hydra::actors
