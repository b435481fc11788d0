#include "placement/roles.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/rng.hpp"

namespace hydra::placement {
namespace {

std::vector<node_caps> cluster(std::size_t n, std::uint64_t seed) {
  rng r(seed);
  std::vector<node_caps> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = node_caps{i, 10.0 + 100 * r.uniform01(), 1e8 * (1 + r.uniform01()), 0.01, 1000,
                     r.uniform01(), r.uniform01() < 0.3f, r.uniform01() < 0.9f};
  return v;
}

bool contains(const std::vector<std::size_t>& v, std::size_t i) {
  return std::find(v.begin(), v.end(), i) != v.end();
}

TEST(Roles, LedgerOnMostAvailableMains) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    auto nodes = cluster(200, seed);
    auto r = place_roles(nodes, 5);
    ASSERT_EQ(r.ledger.size(), 5u);
    double worst = 1;
    for (auto i : r.ledger) {
      EXPECT_TRUE(nodes[i].alive);
      EXPECT_FALSE(nodes[i].on_battery);
      worst = std::min(worst, nodes[i].availability);
    }
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].alive && !nodes[i].on_battery && !contains(r.ledger, i)) {
        EXPECT_LE(nodes[i].availability, worst);
      }
  }
}

TEST(Roles, NothingHeavyOnBatteryOrSlowNodes) {
  auto nodes = cluster(300, 9);
  nodes[0].samples_per_second = 0.5;  // far below the median
  nodes[0].on_battery = false;
  nodes[0].alive = true;
  auto r = place_roles(nodes);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].alive) {
      EXPECT_FALSE(contains(r.trainers, i) || contains(r.scorers, i) || contains(r.ledger, i));
      continue;
    }
    if (nodes[i].on_battery) {
      EXPECT_TRUE(contains(r.scorers, i));
      EXPECT_FALSE(contains(r.trainers, i) || contains(r.collectors, i) || contains(r.ledger, i));
    }
  }
  EXPECT_TRUE(contains(r.scorers, 0));
  EXPECT_FALSE(contains(r.trainers, 0));
  EXPECT_FALSE(r.collectors.empty());
}

TEST(Roles, FewerLedgerReplicasThanAskedWhenAllOnBattery) {
  std::vector<node_caps> nodes(4, node_caps{0, 10, 1e8, 0.01, 100, 0.9, true, true});
  nodes[2].on_battery = false;
  auto r = place_roles(nodes, 3);
  ASSERT_EQ(r.ledger.size(), 1u);
  EXPECT_EQ(r.ledger[0], 2u);
}

}  // namespace
}  // namespace hydra::placement
