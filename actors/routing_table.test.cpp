#include "actors/internal/test_ids.hpp"
#include "actors/routing_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace hydra::membership {
namespace {

using testing::random_id;

contact make_contact(const node_id& id, int port = 1) {
  return contact{id, "10.0.0.1:" + std::to_string(port)};
}

// A table whose buckets have some contacts at every scale: random ids fill
// the far buckets, ids sharing long prefixes with self the near ones.
routing_table populated(rng& r, std::size_t k) {
  routing_table t(random_id(r), k);
  for (int i = 0; i < 3000; ++i) t.update(make_contact(random_id(r)), i);
  for (int b = 0; b < 256; b += 3)
    for (int j = 0; j < 4; ++j) t.update(make_contact(t.random_id_in_bucket(b, r)), 0);
  return t;
}

TEST(RoutingTable, SelfIsNeverInserted) {
  rng r(1);
  routing_table t(random_id(r), 4);
  EXPECT_FALSE(t.update(make_contact(t.self()), 0).has_value());
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.contains(t.self()));
  t.replace(random_id(r), make_contact(t.self()), 1);
  EXPECT_EQ(t.size(), 0u);
  t.update(make_contact(random_id(r)), 2);
  for (const contact& c : t.closest(t.self(), 10)) EXPECT_NE(c.id, t.self());
}

TEST(RoutingTable, FullBucketKeepsOldContactsAndNamesTheLeastRecentlySeen) {
  rng r(2);
  routing_table t(random_id(r), 3);
  std::vector<contact> far;  // all in bucket 255
  for (int i = 0; i < 5; ++i) far.push_back(make_contact(t.random_id_in_bucket(255, r), i));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(t.update(far[i], i).has_value());

  // Full: the newcomer is not inserted; the head (least recently seen) is
  // named for the caller to ping.
  auto lrs = t.update(far[3], 10);
  ASSERT_TRUE(lrs.has_value());
  EXPECT_EQ(lrs->id, far[0].id);
  EXPECT_FALSE(t.contains(far[3].id));
  EXPECT_EQ(t.bucket_size(255), 3u);

  // It answered the ping: it moves to the tail, the next oldest is named.
  EXPECT_FALSE(t.update(far[0], 11).has_value());
  lrs = t.update(far[3], 12);
  ASSERT_TRUE(lrs.has_value());
  EXPECT_EQ(lrs->id, far[1].id);

  // far[1] did not answer: replace it.
  t.replace(far[1].id, far[3], 13);
  EXPECT_FALSE(t.contains(far[1].id));
  EXPECT_TRUE(t.contains(far[3].id));
  EXPECT_EQ(t.size(), 3u);

  // Other buckets are unaffected by bucket 255 being full.
  EXPECT_FALSE(t.update(make_contact(t.random_id_in_bucket(254, r)), 14).has_value());
  EXPECT_EQ(t.size(), 4u);
}

TEST(RoutingTable, KnownContactMovesToTailWithNewAddress) {
  rng r(3);
  routing_table t(random_id(r), 4);
  const contact a = make_contact(t.random_id_in_bucket(200, r), 1);
  const contact b = make_contact(t.random_id_in_bucket(200, r), 2);
  t.update(a, 0);
  t.update(b, 1);
  t.update(contact{a.id, "10.0.0.9:9"}, 2);
  const auto all = t.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, b.id);
  EXPECT_EQ(all[1].id, a.id);
  EXPECT_EQ(all[1].address, "10.0.0.9:9");
  EXPECT_EQ(t.find(a.id)->address, "10.0.0.9:9");
}

TEST(RoutingTable, ClosestMatchesBruteForce) {
  rng r(4);
  const routing_table t = populated(r, 8);
  const auto everyone = t.all();
  ASSERT_GT(everyone.size(), 300u);
  std::vector<node_id> targets = {t.self()};
  for (int i = 0; i < 40; ++i) targets.push_back(random_id(r));
  for (int i = 0; i < 40; ++i) targets.push_back(everyone[r.below(everyone.size())].id);
  for (int b : {0, 5, 100, 250, 255}) targets.push_back(t.random_id_in_bucket(b, r));
  for (const node_id& target : targets) {
    auto expected = everyone;
    std::sort(expected.begin(), expected.end(), [&](const contact& x, const contact& y) {
      return xor_distance(x.id, target) < xor_distance(y.id, target);
    });
    for (std::size_t n : {1u, 3u, 20u, 100u, 100000u}) {
      const auto got = t.closest(target, n);
      ASSERT_EQ(got.size(), std::min(n, expected.size()));
      for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].id, expected[i].id) << "n=" << n;
    }
  }
  EXPECT_TRUE(t.closest(t.self(), 0).empty());
}

TEST(RoutingTable, RemoveAndContains) {
  rng r(5);
  routing_table t(random_id(r));
  const contact a = make_contact(random_id(r));
  EXPECT_FALSE(t.remove(a.id));
  t.update(a, 0);
  EXPECT_TRUE(t.contains(a.id));
  EXPECT_TRUE(t.remove(a.id));
  EXPECT_FALSE(t.contains(a.id));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.closest(a.id, 5).empty());
}

TEST(RoutingTable, StaleBucketsCoverTheOccupiedRange) {
  rng r(6);
  routing_table t(random_id(r), 4);
  EXPECT_TRUE(t.stale_buckets(100, 10).empty());  // nothing to refresh from yet
  for (int b = 250; b < 256; ++b) t.update(make_contact(t.random_id_in_bucket(b, r)), 0);
  t.touch_bucket(252, 100);
  EXPECT_EQ(t.stale_buckets(150, 60), (std::vector<int>{250, 251, 253, 254, 255}));
  EXPECT_EQ(t.stale_buckets(150, 200), std::vector<int>{});

  t.update(make_contact(t.random_id_in_bucket(245, r)), 120);
  // 246..249 are empty and were never refreshed: due as well.
  EXPECT_EQ(t.stale_buckets(150, 60), (std::vector<int>{246, 247, 248, 249, 250, 251, 253, 254, 255}));
}

TEST(RoutingTable, RandomIdFallsIntoTheBucket) {
  rng r(7);
  routing_table t(random_id(r));
  for (int b : {0, 1, 7, 8, 9, 63, 64, 100, 200, 254, 255})
    for (int i = 0; i < 50; ++i) ASSERT_EQ(bucket_index(t.self(), t.random_id_in_bucket(b, r)), b);
  EXPECT_EQ(t.random_id_in_bucket(256, r), t.self());
  EXPECT_EQ(t.random_id_in_bucket(-1, r), t.self());
}

TEST(RoutingTable, IdLessMatchesArrayOrder) {
  rng r(8);
  for (int i = 0; i < 1000; ++i) {
    node_id a = random_id(r), b = a;
    b[r.below(32)] = static_cast<std::uint8_t>(r.next_u64());
    EXPECT_EQ(id_less{}(a, b), a < b);
    EXPECT_EQ(id_less{}(b, a), b < a);
    EXPECT_EQ(id_less::equal(a, b), a == b);
  }
}

}  // namespace
}  // namespace hydra::membership
