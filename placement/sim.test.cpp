#include "placement/sim.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace hydra::placement {
namespace {

TEST(Sim, TenThousandNodesPlanFastAndAdaptiveNearIdeal) {
  sim_config c;
  c.nodes = 10000;
  c.rounds = 25;
  c.speed_spread = 20;
  c.churn_per_hour = 5;
  for (auto name : policy_names()) {
    auto p = make_policy(name);
    auto r = simulate(c, **p);
    std::printf("10k nodes %-8s round %.3fs ideal %.3fs ratio %.3f plan mean %.2fms max %.2fms "
                "(target < 100 ms)\n",
                r.policy.c_str(), r.mean_round_seconds, r.mean_ideal_seconds, r.ratio,
                1e3 * r.mean_plan_seconds, 1e3 * r.max_plan_seconds);
    EXPECT_EQ(r.failed_rounds, 0u);
    EXPECT_LT(r.max_plan_seconds, 0.5);  // generous; the target is 100 ms
    if (std::string_view(name) == "adaptive") {
      EXPECT_LT(r.ratio, 1.1);
    }
  }
}

TEST(Sim, ChurnMakesNodesLeaveAndJoin) {
  sim_config c;
  c.nodes = 500;
  c.rounds = 50;
  c.churn_per_hour = 20000;  // extreme, so a short run sees some
  auto p = make_policy("adaptive");
  auto r = simulate(c, **p);
  EXPECT_GT(r.leaves, 0u);
  EXPECT_GT(r.joins, 0u);
  EXPECT_EQ(r.failed_rounds, 0u);
  EXPECT_LT(r.ratio, 1.2);
}

TEST(Sim, SameSeedSameReport) {
  sim_config c;
  c.nodes = 200;
  c.rounds = 20;
  c.drift = 0.02;
  auto a = make_policy("adaptive"), b = make_policy("adaptive");
  auto x = simulate(c, **a), y = simulate(c, **b);
  EXPECT_EQ(x.mean_round_seconds, y.mean_round_seconds);
  EXPECT_EQ(x.mean_ideal_seconds, y.mean_ideal_seconds);
}

TEST(Sim, SpecParsing) {
  sim_config c;
  ASSERT_TRUE(apply_spec("spread=10, churn=3,drift=0.1,nodes=50", c));
  EXPECT_EQ(c.speed_spread, 10);
  EXPECT_EQ(c.churn_per_hour, 3);
  EXPECT_EQ(c.drift, 0.1);
  EXPECT_EQ(c.nodes, 50u);
  auto bad = apply_spec("spread=20,colour=blue", c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("colour"), std::string::npos);
  EXPECT_FALSE(apply_spec("spread=abc", c));
  EXPECT_FALSE(apply_spec("spread", c));
  EXPECT_FALSE(apply_spec("nodes=0", c));
}

}  // namespace
}  // namespace hydra::placement
