#include "kernels/model.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "common/hash.hpp"
#include "kernels/optimizer.hpp"

namespace hydra::kernels {
namespace {

std::unique_ptr<model> build(const char* name, context& ctx) {
  auto m = model::make(name, ctx);
  EXPECT_TRUE(m);
  return std::move(*m);
}

void random_batch(int n, std::uint64_t seed, std::vector<float>& x, std::vector<std::int32_t>& y) {
  rng g(seed);
  x.resize(std::size_t(n) * 784);
  y.resize(n);
  for (auto& v : x) v = g.uniform01();
  for (auto& l : y) l = static_cast<std::int32_t>(g.below(10));
}

TEST(Model, ParameterCountsAndOneBuffer) {
  context ctx(1);
  auto mlp = build("mlp", ctx);
  EXPECT_EQ(mlp->params().size(), 784u * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  EXPECT_EQ(mlp->grads().size(), mlp->params().size());
  auto cnn = build("cnn", ctx);
  EXPECT_EQ(cnn->params().size(), 32u * 25 + 32 + 64 * 32 * 25 + 64 + 3136 * 1024 + 1024 + 1024 * 10 + 10);
  EXPECT_GT(cnn->train_flops_per_sample(), mlp->train_flops_per_sample());
}

TEST(Model, UnknownNameIsAClearError) {
  context ctx(1);
  auto m = model::make("resnet", ctx);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.err().code, errc::invalid_input);
  EXPECT_NE(m.err().message.find("resnet"), std::string::npos);
}

std::string train_hash(const char* name, std::uint64_t seed, int steps) {
  context ctx(1);
  auto m = build(name, ctx);
  m->init(seed);
  auto opt = std::move(*make_optimizer({.kind = "sgd", .lr = 0.05f, .momentum = 0.9f}, m->params().size()));
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (int s = 0; s < steps; ++s) {
    random_batch(16, seed * 100 + s, x, y);
    m->compute_gradients(16, x.data(), y.data());
    opt->step(m->params(), m->grads());
  }
  return hash_floats(m->params());
}

TEST(Model, SameSeedBitIdenticalWeights) {
  EXPECT_EQ(train_hash("mlp", 7, 5), train_hash("mlp", 7, 5));
  EXPECT_NE(train_hash("mlp", 7, 5), train_hash("mlp", 8, 5));
  EXPECT_EQ(train_hash("cnn", 3, 2), train_hash("cnn", 3, 2));
}

// The gradient of a batch is the mean of its samples' gradients: checks the
// per-batch-size primitives against each other (batch 6 vs batch 1 and 5).
void check_batch_consistency(const char* name) {
  context ctx(1);
  auto m = build(name, ctx);
  m->init(11);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  random_batch(6, 5, x, y);
  m->compute_gradients(6, x.data(), y.data());
  std::vector<float> full(m->grads().begin(), m->grads().end());
  m->compute_gradients(1, x.data(), y.data());
  std::vector<float> first(m->grads().begin(), m->grads().end());
  m->compute_gradients(5, x.data() + 784, y.data() + 1);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const double mean = (first[i] + 5.0 * m->grads()[i]) / 6.0;
    worst = std::max(worst, std::abs(mean - full[i]));
    scale = std::max(scale, std::abs(double(full[i])));
  }
  EXPECT_LT(worst, 1e-4 * std::max(1.0, scale)) << name;
}

TEST(Model, BatchGradientIsMeanOfSampleGradients) {
  check_batch_consistency("mlp");
  check_batch_consistency("cnn");
}

TEST(Model, LearnsASyntheticTask) {
  context ctx(1);
  auto m = build("mlp", ctx);
  m->init(1);
  auto opt = std::move(*make_optimizer({.kind = "sgd", .lr = 0.1f}, m->params().size()));
  // Label = which tenth of the image is brightest: learnable, not trivial.
  auto make = [](std::uint64_t seed, std::vector<float>& x, std::vector<std::int32_t>& y) {
    rng g(seed);
    x.assign(64 * 784, 0.0f);
    y.resize(64);
    for (int i = 0; i < 64; ++i) {
      y[i] = static_cast<std::int32_t>(g.below(10));
      for (int p = 0; p < 784; ++p) x[i * 784 + p] = 0.2f * g.uniform01() + (p / 79 == y[i] ? 0.5f : 0.0f);
    }
  };
  std::vector<float> x;
  std::vector<std::int32_t> y;
  make(1000, x, y);
  const double before = m->evaluate(64, x.data(), y.data()).loss;
  for (int s = 0; s < 200; ++s) {
    std::vector<float> bx;
    std::vector<std::int32_t> by;
    make(s, bx, by);
    m->compute_gradients(64, bx.data(), by.data());
    opt->step(m->params(), m->grads());
  }
  auto after = m->evaluate(64, x.data(), y.data());
  EXPECT_LT(after.loss, before * 0.2);
  EXPECT_GE(after.correct, 60);
}

}  // namespace
}  // namespace hydra::kernels

namespace hydra::kernels {
namespace {

// Standardisation is the model's first step: a model standardising with
// (mean, std) on x gives exactly the logits and gradients of the same
// weights on (x - mean) / std given directly.
TEST(ModelStandardization, SameAsFeedingStandardisedInputs) {
  context ctx(1);
  auto a = build("mlp", ctx);
  auto b = build("mlp", ctx);
  a->init(3);
  b->init(3);
  EXPECT_FALSE(a->standardizes());
  const float mean[] = {0.2860f}, sd[] = {0.3530f};
  ASSERT_TRUE(a->set_standardization(mean, sd));
  EXPECT_TRUE(a->standardizes());
  std::vector<float> x, xs;
  std::vector<std::int32_t> y;
  random_batch(5, 11, x, y);
  xs = x;
  for (auto& v : xs) v = (v - mean[0]) * (1.0f / sd[0]);
  const auto ra = a->compute_gradients(5, x.data(), y.data());
  const auto rb = b->compute_gradients(5, xs.data(), y.data());
  EXPECT_EQ(ra.loss, rb.loss);
  ASSERT_EQ(a->grads().size(), b->grads().size());
  for (std::size_t i = 0; i < a->grads().size(); ++i) ASSERT_EQ(a->grads()[i], b->grads()[i]) << i;
  const float* la = a->predict(5, x.data());
  std::vector<float> logits(la, la + 50);
  const float* lb = b->predict(5, xs.data());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(logits[i], lb[i]);
  // The state buffer is the transform: copying it copies the behaviour.
  auto c = build("mlp", ctx);
  c->init(3);
  std::copy(a->standardization_state().begin(), a->standardization_state().end(),
            c->standardization_state().begin());
  const float* lc = c->predict(5, x.data());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(logits[i], lc[i]);
}

TEST(ModelStandardization, RejectsBadStatistics) {
  context ctx(1);
  auto m = build("cnn", ctx);
  const float zero[] = {0.0f}, nan[] = {std::numeric_limits<float>::quiet_NaN()}, one[] = {1.0f};
  const float two[] = {0.1f, 0.2f};
  EXPECT_FALSE(m->set_standardization(one, zero));
  EXPECT_FALSE(m->set_standardization(nan, one));
  EXPECT_FALSE(m->set_standardization(one, nan));
  auto st = m->set_standardization(two, two);
  ASSERT_FALSE(st);
  EXPECT_NE(st.err().message.find("needs 1 mean"), std::string::npos) << st.err().message;
  EXPECT_FALSE(m->standardizes());
}

}  // namespace
}  // namespace hydra::kernels
