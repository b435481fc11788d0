#include "mpi/survivors.hpp"

#include <gtest/gtest.h>

namespace hydra::mpi {
namespace {

using ranks = std::vector<int>;

TEST(Survivors, NormalizedSortsAndDedups) { EXPECT_EQ(normalized({3, 1, 3, 0}), (ranks{0, 1, 3})); }

TEST(Survivors, ValidateAcceptsSubsetContainingSelf) {
  EXPECT_TRUE(validate_members({0, 1, 3}, {0, 1, 2, 3}, 4, 1).ok());
  EXPECT_TRUE(validate_members({3, 0, 1}, {0, 1, 2, 3}, 4, 3).ok());  // order does not matter
}

TEST(Survivors, ValidateRejectsBadLists) {
  const ranks current{0, 1, 2, 3};
  EXPECT_EQ(validate_members({}, current, 4, 0).err().code, errc::invalid_input);
  EXPECT_FALSE(validate_members({0, 4}, current, 4, 0).ok());      // outside the world
  EXPECT_FALSE(validate_members({-1, 0}, current, 4, 0).ok());     // negative
  EXPECT_FALSE(validate_members({0, 0, 1}, current, 4, 0).ok());   // duplicate
  EXPECT_FALSE(validate_members({1, 3}, current, 4, 0).ok());      // self missing
  EXPECT_FALSE(validate_members({0, 2}, {0, 1, 3}, 4, 0).ok());    // 2 already left
}

TEST(Survivors, MissingFrom) {
  EXPECT_EQ(missing_from({0, 1, 2, 3}, {0, 1, 3}), (ranks{2}));
  EXPECT_EQ(missing_from({0, 1}, {0, 1}), ranks{});
}

TEST(Survivors, IntersectAgreesWhenViewsMatch) {
  EXPECT_EQ(intersect_views({0, 1, 3}, {1, 3}, {{0, 1, 3}, {3, 1, 0}}), (ranks{0, 1, 3}));
}

TEST(Survivors, IntersectDropsRankSomeoneElseMissed) {
  // 3 saw 1 time out; 0 must drop 1 too, or 0 and 3 would build different groups.
  EXPECT_EQ(intersect_views({0, 1, 3}, {1, 3}, {{0, 1, 3}, {0, 3}}), (ranks{0, 3}));
}

TEST(Survivors, IntersectDropsSilentSender) {
  EXPECT_EQ(intersect_views({0, 1, 3}, {1, 3}, {{}, {0, 1, 3}}), (ranks{0, 3}));
}

TEST(Survivors, IntersectCanExcludeSelf) {
  // Everyone else gave up on 0: 0 learns it is out of the group.
  EXPECT_EQ(intersect_views({0, 1, 3}, {1, 3}, {{1, 3}, {1, 3}}), (ranks{1, 3}));
}

TEST(Survivors, FingerprintDistinguishesLists) {
  EXPECT_EQ(fingerprint({0, 1, 3}), fingerprint({0, 1, 3}));
  EXPECT_NE(fingerprint({0, 1, 3}), fingerprint({0, 1, 2}));
  EXPECT_NE(fingerprint({0, 1}), fingerprint({0, 1, 0}));
  EXPECT_NE(fingerprint({}), fingerprint({0}));
}

TEST(Survivors, JoinRanks) {
  EXPECT_EQ(join_ranks({0, 1, 3}), "0,1,3");
  EXPECT_EQ(join_ranks({}), "(none)");
}

}  // namespace
}  // namespace hydra::mpi
