#include "kernels/optimizer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hydra::kernels {
namespace {

std::unique_ptr<optimizer> make(optimizer_config c, std::size_t n) {
  auto r = make_optimizer(c, n);
  EXPECT_TRUE(r) << (r ? "" : r.err().message);
  return std::move(*r);
}

// Reference values worked by hand from torch.optim's update rules.
TEST(Optimizer, SgdMomentumMatchesTorch) {
  auto o = make({.kind = "sgd", .lr = 0.1f, .momentum = 0.9f}, 1);
  std::vector<float> p{1.0f}, g{0.5f};
  o->step(p, g);
  EXPECT_FLOAT_EQ(p[0], 0.95f);
  o->step(p, g);
  EXPECT_FLOAT_EQ(p[0], 0.855f);
  EXPECT_EQ(o->steps(), 2u);
}

TEST(Optimizer, SgdNesterovAndWeightDecay) {
  auto o = make({.kind = "sgd", .lr = 0.1f, .momentum = 0.5f, .nesterov = true, .weight_decay = 0.1f}, 1);
  std::vector<float> p{2.0f}, g{1.0f};
  o->step(p, g);  // g' = 1.2, v = 1.2, update = g' + 0.5 v = 1.8
  EXPECT_FLOAT_EQ(p[0], 2.0f - 0.18f);
}

TEST(Optimizer, PlainSgd) {
  auto o = make({.kind = "sgd", .lr = 0.5f}, 3);
  std::vector<float> p{1, 2, 3}, g{1, -1, 0};
  o->step(p, g);
  EXPECT_EQ(p, (std::vector<float>{0.5f, 2.5f, 3.0f}));
  EXPECT_TRUE(o->state().empty());
}

TEST(Optimizer, AdamFirstStepsMatchTorch) {
  auto o = make({.kind = "adam", .lr = 0.1f}, 1);
  std::vector<float> p{1.0f}, g{0.5f};
  o->step(p, g);  // m̂ = 0.5, v̂ = 0.25: step = lr
  EXPECT_NEAR(p[0], 0.9f, 1e-6);
  g[0] = -1.0f;
  o->step(p, g);
  // m = 0.9*0.05 - 0.1 = -0.055, v = 0.999*0.00025 + 0.001 = 0.00124975
  const double mhat = -0.055 / (1 - 0.81), vhat = 0.00124975 / (1 - 0.998001);
  EXPECT_NEAR(p[0], 0.9 - 0.1 * mhat / (std::sqrt(vhat) + 1e-8), 1e-5);
  EXPECT_EQ(o->state().size(), 2u);
}

TEST(Optimizer, AdamMinimisesQuadratic) {
  auto o = make({.kind = "adam", .lr = 0.05f}, 4);
  std::vector<float> p{3, -2, 1, 5}, g(4);
  for (int s = 0; s < 2000; ++s) {
    for (int i = 0; i < 4; ++i) g[i] = 2 * (p[i] - i);
    o->step(p, g);
  }
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[i], i, 1e-2);
}

TEST(Optimizer, RejectsBadSettings) {
  EXPECT_FALSE(make_optimizer({.kind = "rmsprop"}, 1));
  EXPECT_FALSE(make_optimizer({.kind = "sgd", .lr = -1}, 1));
  EXPECT_FALSE(make_optimizer({.kind = "sgd", .lr = 0.1f, .momentum = 1.5f}, 1));
  EXPECT_FALSE(make_optimizer({.kind = "sgd", .lr = 0.1f, .nesterov = true}, 1));
  auto r = make_optimizer({.kind = "adam", .lr = 0.1f, .beta1 = 1.0f}, 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("betas"), std::string::npos);
}

}  // namespace
}  // namespace hydra::kernels
