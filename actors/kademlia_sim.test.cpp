#include "actors/kademlia_sim.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>

namespace hydra::membership {
namespace {

TEST(KademliaSim, TenThousandNodesFindAnyIdInLogHops) {
  const std::size_t n = 10000;
  const sim_result res = simulate_lookups(n, 1000, 42);
  const double bound = std::ceil(std::log2(static_cast<double>(n))) + 2;  // 16
  std::cout << "kademlia_sim: nodes=" << res.nodes << " lookups=" << res.lookups
            << " mean_hops=" << res.mean_hops << " max_hops=" << res.max_hops
            << " success_rate=" << res.success_rate << " mean_queries=" << res.mean_queries
            << " mean_table_size=" << res.mean_table_size << " seconds=" << res.seconds
            << " (bound " << bound << ")\n";
  RecordProperty("mean_hops", std::to_string(res.mean_hops));
  RecordProperty("max_hops", std::to_string(res.max_hops));
  RecordProperty("success_rate", std::to_string(res.success_rate));
  RecordProperty("seconds", std::to_string(res.seconds));
  EXPECT_EQ(res.nodes, n);
  EXPECT_EQ(res.lookups, 1000u);
  EXPECT_LE(res.mean_hops, bound);
  EXPECT_GE(res.mean_hops, 1.0);
  EXPECT_EQ(res.success_rate, 1.0);
}

TEST(KademliaSim, SameSeedSameResult) {
  const sim_result a = simulate_lookups(300, 100, 7);
  const sim_result b = simulate_lookups(300, 100, 7);
  EXPECT_EQ(a.mean_hops, b.mean_hops);
  EXPECT_EQ(a.max_hops, b.max_hops);
  EXPECT_EQ(a.mean_queries, b.mean_queries);
  EXPECT_EQ(a.success_rate, 1.0);
}

// Joins leave each node knowing (nearly all of) its true k closest peers:
// what makes the last hop of a lookup land on the target.
TEST(KademliaSim, JoinsConvergeOnTrueNeighbours) {
  const std::size_t n = 1000, k = 20;
  sim_network net(n, 11, k);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<node_id> truth;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) truth.push_back(net.id(j));
    std::nth_element(truth.begin(), truth.begin() + k, truth.end(), [&](const node_id& a, const node_id& b) {
      return xor_distance(a, net.id(i)) < xor_distance(b, net.id(i));
    });
    for (std::size_t j = 0; j < k; ++j) hits += net.table(i).contains(truth[j]) ? 1 : 0;
  }
  const double recall = static_cast<double>(hits) / static_cast<double>(n * k);
  std::cout << "neighbour recall " << recall << "\n";
  EXPECT_GT(recall, 0.95);
}

TEST(KademliaSim, LookupsSurviveCrashedNodes) {
  const std::size_t n = 2000;
  sim_network net(n, 12);
  rng r(13);
  std::vector<bool> down(n, false);
  for (std::size_t i = 0; i < n / 5; ++i) {
    const std::size_t v = r.below(n);
    down[v] = true;
    net.set_down(v, true);
  }
  int tries = 0, found = 0;
  for (int l = 0; l < 300; ++l) {
    const std::size_t from = r.below(n), target = r.below(n);
    if (down[from] || down[target] || from == target) continue;
    const sim_lookup res = net.run_lookup(from, net.id(target));
    ++tries;
    found += res.found ? 1 : 0;
    ASSERT_FALSE(res.result.empty());
    EXPECT_EQ(res.result.front().id, net.id(target));
    for (const contact& c : res.result) EXPECT_FALSE(down[net.index_of(c.id)]);
  }
  EXPECT_GT(tries, 150);
  EXPECT_EQ(found, tries);
}

TEST(KademliaSim, TinyNetworks) {
  EXPECT_EQ(simulate_lookups(1, 10, 1).lookups, 0u);
  const sim_result two = simulate_lookups(2, 10, 1);
  EXPECT_EQ(two.success_rate, 1.0);
  EXPECT_EQ(two.max_hops, 1);
}

}  // namespace
}  // namespace hydra::membership
