#include "actors/internal/test_ids.hpp"
#include "actors/lookup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace hydra::membership {
namespace {

using testing::random_id;

// A small network where every node has offered every other to its table
// (so buckets hold what they can: a converged Kademlia network). Small k
// forces multi-hop lookups.
struct small_net {
  std::vector<node_id> ids;
  std::vector<routing_table> tables;
  std::map<node_id, std::size_t> index;
  std::set<node_id> down;

  small_net(std::size_t n, std::size_t k, std::uint64_t seed) {
    rng r(seed);
    for (std::size_t i = 0; i < n; ++i) {
      ids.push_back(random_id(r));
      index[ids.back()] = i;
    }
    for (std::size_t i = 0; i < n; ++i) {
      tables.emplace_back(ids[i], k);
      for (std::size_t j = 0; j < n; ++j) tables[i].update(contact{ids[j], "h:" + std::to_string(j)}, 0);
    }
  }

  // Drives `l` to completion, answering synchronously; at most `limit` batches.
  void run(lookup& l, std::size_t k, int limit = 1000) {
    while (!l.done() && limit-- > 0) {
      for (const contact& q : l.next_queries()) {
        if (down.count(q.id)) {
          l.on_failure(q.id);
        } else {
          l.on_response(q.id, tables[index.at(q.id)].closest(l.target(), k));
        }
      }
    }
  }

  std::vector<node_id> true_closest(const node_id& target, std::size_t k) const {
    std::vector<node_id> v;
    for (const node_id& id : ids)
      if (!down.count(id)) v.push_back(id);
    std::sort(v.begin(), v.end(), [&](const node_id& a, const node_id& b) {
      return xor_distance(a, target) < xor_distance(b, target);
    });
    v.resize(std::min(k, v.size()));
    return v;
  }
};

TEST(Lookup, NoSeedsIsDoneAtOnce) {
  lookup l(node_id{}, {});
  EXPECT_TRUE(l.done());
  EXPECT_TRUE(l.next_queries().empty());
  EXPECT_TRUE(l.result().empty());
  EXPECT_FALSE(l.found());
  EXPECT_EQ(l.rounds(), 0);
}

TEST(Lookup, KeepsAtMostAlphaInFlight) {
  rng r(1);
  std::vector<contact> seeds;
  for (int i = 0; i < 10; ++i) seeds.push_back(contact{random_id(r), "h:1"});
  lookup l(random_id(r), seeds, 20, 3);
  const auto first = l.next_queries();
  EXPECT_EQ(first.size(), 3u);
  EXPECT_TRUE(l.next_queries().empty());
  EXPECT_EQ(l.in_flight(), 3u);
  l.on_response(first[0].id, {});
  EXPECT_EQ(l.next_queries().size(), 1u);
  l.on_failure(first[1].id);
  EXPECT_EQ(l.next_queries().size(), 1u);
  EXPECT_EQ(l.in_flight(), 3u);
  EXPECT_FALSE(l.done());
}

TEST(Lookup, FindsEveryTargetAndTheTrueKClosest) {
  const std::size_t k = 8;
  small_net net(300, k, 2);
  rng r(3);
  for (int trial = 0; trial < 60; ++trial) {
    const std::size_t from = r.below(net.ids.size());
    const node_id target = trial % 2 ? net.ids[r.below(net.ids.size())] : random_id(r);
    lookup l(target, net.tables[from].closest(target, k), k, 3);
    l.ignore(net.ids[from]);
    net.run(l, k);
    ASSERT_TRUE(l.done());
    EXPECT_GE(l.rounds(), 1);
    EXPECT_LE(l.rounds(), 12);
    std::vector<node_id> got;
    for (const contact& c : l.result()) got.push_back(c.id);
    auto expected = net.true_closest(target, k + 1);
    expected.erase(std::remove(expected.begin(), expected.end(), net.ids[from]), expected.end());
    expected.resize(k);
    EXPECT_EQ(got, expected) << "trial " << trial;
    if (trial % 2 && target != net.ids[from]) {
      EXPECT_TRUE(l.found());
      EXPECT_EQ(got.front(), target);
    }
  }
}

TEST(Lookup, SurvivesNodesThatNeverAnswer) {
  const std::size_t k = 8;
  small_net net(400, k, 4);
  rng r(5);
  while (net.down.size() < 120) net.down.insert(net.ids[r.below(net.ids.size())]);
  int found = 0, tries = 0;
  for (int trial = 0; trial < 60; ++trial) {
    std::size_t from = r.below(net.ids.size()), target = r.below(net.ids.size());
    if (net.down.count(net.ids[from]) || net.down.count(net.ids[target]) || from == target) continue;
    lookup l(net.ids[target], net.tables[from].closest(net.ids[target], k), k, 3);
    l.ignore(net.ids[from]);
    net.run(l, k);
    ASSERT_TRUE(l.done());
    ++tries;
    found += l.found() ? 1 : 0;
    const auto res = l.result();
    ASSERT_FALSE(res.empty());
    EXPECT_EQ(res.front().id, net.ids[target]);
    for (const contact& c : res) EXPECT_FALSE(net.down.count(c.id)) << "a dead node in the result";
  }
  EXPECT_GT(tries, 20);
  EXPECT_EQ(found, tries);
}

TEST(Lookup, AllSeedsFailingEndsTheLookup) {
  rng r(6);
  std::vector<contact> seeds;
  for (int i = 0; i < 5; ++i) seeds.push_back(contact{random_id(r), "h:1"});
  lookup l(random_id(r), seeds, 20, 2);
  int batches = 0;
  while (!l.done()) {
    for (const contact& q : l.next_queries()) l.on_failure(q.id);
    ASSERT_LT(++batches, 10);
  }
  EXPECT_TRUE(l.result().empty());
  EXPECT_FALSE(l.found());
}

TEST(Lookup, RoundsCountTheLongestChainOfQueries) {
  // target is 0...0; a (far) knows b, b knows c (closest), c knows nobody.
  node_id target{}, a{}, b{}, c{};
  a[0] = 0x80;
  b[0] = 0x10;
  c[0] = 0x01;
  lookup l(target, {contact{a, "a:1"}}, 20, 3);
  ASSERT_EQ(l.next_queries().size(), 1u);
  EXPECT_EQ(l.rounds(), 1);
  l.on_response(a, {contact{b, "b:1"}});
  ASSERT_EQ(l.next_queries().size(), 1u);
  EXPECT_EQ(l.rounds(), 2);
  l.on_response(b, {contact{c, "c:1"}, contact{a, "a:1"}});
  ASSERT_EQ(l.next_queries().size(), 1u);
  EXPECT_EQ(l.rounds(), 3);
  EXPECT_FALSE(l.done());
  l.on_response(c, {});
  EXPECT_TRUE(l.done());
  EXPECT_EQ(l.rounds(), 3);
  EXPECT_EQ(l.queries(), 3u);
  EXPECT_FALSE(l.found());
  const auto res = l.result();
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].id, c);
  EXPECT_EQ(res[2].id, a);
}

TEST(Lookup, IgnoredIdIsNeverQueried) {
  node_id target{}, self{}, other{};
  self[0] = 0x01;
  other[0] = 0x02;
  lookup l(target, {contact{other, "o:1"}}, 20, 3);
  l.ignore(self);
  ASSERT_EQ(l.next_queries().size(), 1u);
  l.on_response(other, {contact{self, "s:1"}});
  EXPECT_TRUE(l.next_queries().empty());
  EXPECT_TRUE(l.done());
  ASSERT_EQ(l.result().size(), 1u);
}

TEST(Lookup, LateAnswerAfterTimeoutStillCounts) {
  node_id target{}, a{};
  a[0] = 0x01;
  lookup l(target, {contact{a, "a:1"}}, 20, 3);
  ASSERT_EQ(l.next_queries().size(), 1u);
  l.on_failure(a);
  EXPECT_TRUE(l.done());
  l.on_response(a, {contact{target, "t:1"}});
  EXPECT_TRUE(l.found());
  EXPECT_FALSE(l.done());  // the target is now a candidate to ask
  ASSERT_EQ(l.next_queries().size(), 1u);
  l.on_response(target, {});
  EXPECT_TRUE(l.done());
  EXPECT_EQ(l.result().front().id, target);
}

}  // namespace
}  // namespace hydra::membership
