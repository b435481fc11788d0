#include "placement/policy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "common/rng.hpp"

namespace hydra::placement {
namespace {

std::vector<node_caps> random_cluster(rng& r, std::size_t n) {
  std::vector<node_caps> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i].id = i;
    v[i].samples_per_second = 10.0 * std::pow(20.0, r.uniform01());
    v[i].bandwidth_bytes_per_second = 1e8 * (1 + r.uniform01());
    v[i].latency_seconds = 0.01;
    v[i].max_batch = 1 + r.below(200);
    v[i].availability = r.uniform01();
    v[i].alive = r.uniform01() < 0.8f;
  }
  return v;
}

TEST(Placement, PlanInvariantsOnRandomClusters) {
  rng r(7);
  for (int trial = 0; trial < 300; ++trial) {
    auto nodes = random_cluster(r, 1 + r.below(60));
    std::size_t cap = 0, alive = 0;
    for (auto& n : nodes)
      if (n.alive) cap += n.max_batch, ++alive;
    job j{1 + r.below(cap + 10), 1 + r.below(3), 1e6};
    for (auto name : policy_names()) {
      auto p = make_policy(name);
      ASSERT_TRUE(p);
      auto pl = (*p)->make(j, nodes);
      if (j.global_batch > cap) {
        EXPECT_FALSE(pl) << name;
        continue;
      }
      std::size_t eligible = 0;
      for (auto& n : nodes) eligible += n.alive && n.max_batch >= j.min_batch;
      std::size_t elig_cap = 0;
      for (auto& n : nodes)
        if (n.alive && n.max_batch >= j.min_batch) elig_cap += n.max_batch;
      if (elig_cap < j.global_batch || j.min_batch > j.global_batch) {
        EXPECT_FALSE(pl);
        continue;
      }
      if (!pl) {  // only when dropping nodes for min_batch leaves too little memory
        EXPECT_LT(j.global_batch / j.min_batch, eligible) << pl.err().message;
        continue;
      }
      ASSERT_EQ(pl->samples.size(), nodes.size());
      EXPECT_EQ(std::accumulate(pl->samples.begin(), pl->samples.end(), std::size_t{0}), j.global_batch);
      const bool all_fit = eligible * j.min_batch <= j.global_batch;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        EXPECT_LE(pl->samples[i], nodes[i].max_batch);
        if (!nodes[i].alive) {
          EXPECT_EQ(pl->samples[i], 0u);
        }
        if (pl->samples[i] > 0) {
          EXPECT_GE(pl->samples[i], j.min_batch);
        }
        if (all_fit && nodes[i].alive && nodes[i].max_batch >= j.min_batch) {
          EXPECT_GE(pl->samples[i], j.min_batch) << name;
        }
      }
      EXPECT_GT(pl->predicted_round_seconds, 0);
    }
  }
}

TEST(Placement, InfeasibleJobIsAnError) {
  std::vector<node_caps> nodes(3);
  for (auto& n : nodes) n = node_caps{1, 10, 1e8, 0.01, 10, 1, false, true};
  auto p = make_policy("model");
  ASSERT_TRUE(p);
  EXPECT_FALSE((*p)->make(job{31, 1, 1e6}, nodes));
  EXPECT_TRUE((*p)->make(job{30, 1, 1e6}, nodes));
  for (auto& n : nodes) n.alive = false;
  auto none = (*p)->make(job{1, 1, 1e6}, nodes);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.err().code, errc::unavailable);
}

TEST(Placement, UnknownPolicyIsAnError) {
  auto p = make_policy("fastest");
  ASSERT_FALSE(p);
  EXPECT_NE(p.err().message.find("fastest"), std::string::npos);
}

TEST(Placement, ModelPlanEqualizesFinishTimes) {
  rng r(3);
  std::vector<node_caps> nodes(500);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    nodes[i] = node_caps{i, 10.0 * std::pow(20.0, r.uniform01()), 1e9, 0.001, 100000, 1, false, true};
  auto p = make_policy("model");
  job j{500 * 256, 1, 1e6};
  auto pl = (*p)->make(j, nodes);
  ASSERT_TRUE(pl);
  double total = 0;
  for (auto& n : nodes) total += n.samples_per_second;
  const double t = static_cast<double>(j.global_batch) / total;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    EXPECT_NEAR(pl->samples[i] / nodes[i].samples_per_second, t, 1.0 / nodes[i].samples_per_second + 1e-9);
  EXPECT_NEAR(pl->predicted_round_seconds, t + allreduce_seconds(nodes, pl->samples, 1e6), 0.05 * t);
}

TEST(Placement, UniformSplitsEqually) {
  std::vector<node_caps> nodes(4, node_caps{0, 10, 1e8, 0.01, 1000, 1, false, true});
  nodes[1].samples_per_second = 100;
  auto p = make_policy("uniform");
  auto pl = (*p)->make(job{10, 1, 0}, nodes);
  ASSERT_TRUE(pl);
  for (auto s : pl->samples) EXPECT_TRUE(s == 2 || s == 3);
}

}  // namespace
}  // namespace hydra::placement
