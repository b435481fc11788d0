#include "placement/adaptive.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "placement/sim.hpp"

namespace hydra::placement {
namespace {

TEST(Adaptive, ConvergesTowardTrueSpeeds) {
  std::vector<node_caps> nodes(20);
  std::vector<double> truth(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i] = node_caps{i, 10.0 + static_cast<double>(i), 1e9, 0.001, 100000, 1, false, true};
    truth[i] = i % 2 ? nodes[i].samples_per_second * 3 : nodes[i].samples_per_second / 2;
  }
  adaptive_policy p;
  job j{20 * 256, 1, 1e6};
  std::vector<double> step(nodes.size()), transfer(nodes.size(), 0.01);
  for (int round = 0; round < 30; ++round) {
    auto pl = p.make(j, nodes);
    ASSERT_TRUE(pl);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      truth[i] *= 1.01;  // steady drift
      step[i] = pl->samples[i] / truth[i];
    }
    p.observe(step, transfer);
  }
  for (std::size_t i = 0; i < nodes.size(); ++i)
    EXPECT_NEAR(p.estimate(i, 0) / truth[i], 1.0, 0.05) << i;
}

TEST(Adaptive, BeatsModelUnderDrift) {
  sim_config c;
  c.nodes = 1000;
  c.rounds = 60;
  c.drift = 0.05;
  auto model = make_policy("model");
  auto adaptive = make_policy("adaptive");
  auto m = simulate(c, **model);
  auto a = simulate(c, **adaptive);
  std::printf("drift %.2f: model %.3fs (%.3fx ideal), adaptive %.3fs (%.3fx ideal)\n", c.drift,
              m.mean_round_seconds, m.ratio, a.mean_round_seconds, a.ratio);
  EXPECT_LT(a.mean_round_seconds, 0.8 * m.mean_round_seconds);
}

TEST(Adaptive, CloseToModelWithoutDrift) {
  sim_config c;
  c.nodes = 1000;
  c.rounds = 60;
  auto model = make_policy("model");
  auto adaptive = make_policy("adaptive");
  auto m = simulate(c, **model);
  auto a = simulate(c, **adaptive);
  std::printf("no drift: model %.3fs (%.3fx ideal), adaptive %.3fs (%.3fx ideal)\n",
              m.mean_round_seconds, m.ratio, a.mean_round_seconds, a.ratio);
  EXPECT_LT(a.mean_round_seconds, 1.05 * m.mean_round_seconds);
}

}  // namespace
}  // namespace hydra::placement
