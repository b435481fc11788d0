// Every layer's backward pass against central finite differences of
// L = sum(y * r) for a fixed random r. Linear layers are checked exactly
// (finite differences of a linear map have no truncation error); ReLU and
// pooling on inputs kept away from their kinks and ties.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/conv2d.hpp"
#include "kernels/dense.hpp"
#include "kernels/flatten.hpp"
#include "kernels/pool.hpp"
#include "kernels/relu.hpp"
#include "kernels/softmax_xent.hpp"

namespace hydra::kernels {
namespace {

struct harness {
  layer& l;
  int n;
  std::size_t in_elems;
  std::vector<float> x, params, grads, r;

  harness(layer& layer_, int n_, std::size_t in, std::uint64_t seed) : l(layer_), n(n_), in_elems(in) {
    rng g(seed);
    x.resize(n * in);
    for (auto& v : x) v = g.uniform(-1, 1);
    params.resize(l.param_count());
    grads.resize(l.param_count());
    l.bind(params.data(), grads.data());
    l.init(g);
    // Make biases matter too: init gives them small values; spread them.
    for (auto& p : params) p += g.uniform(-0.1f, 0.1f);
    r.resize(n * l.out_dims().elems());
    for (auto& v : r) v = g.uniform(-1, 1);
  }

  double loss() {
    std::vector<float> y(r.size());
    l.forward(n, x.data(), y.data());
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += double(y[i]) * r[i];
    return s;
  }

  // Analytic gradients: returns dx; fills `grads`.
  std::vector<float> analytic() {
    std::vector<float> y(r.size()), dy = r, dx(x.size());
    l.forward(n, x.data(), y.data());
    l.backward(n, x.data(), y.data(), dy.data(), dx.data());
    return dx;
  }

  double numeric(std::vector<float>& v, std::size_t i, float eps) {
    const float keep = v[i];
    v[i] = keep + eps;
    const double up = loss();
    v[i] = keep - eps;
    const double down = loss();
    v[i] = keep;
    return (up - down) / (2.0 * eps);
  }

  void check(float eps, double tol, bool check_dx = true) {
    auto dx = analytic();
    auto g = grads;
    rng pick(99);
    const int samples = 60;
    if (check_dx)
      for (int s = 0; s < samples; ++s) {
        std::size_t i = pick.below(x.size());
        const double num = numeric(x, i, eps);
        ASSERT_NEAR(dx[i], num, tol * std::max(1.0, std::abs(num))) << l.describe() << " dx[" << i << "]";
      }
    for (int s = 0; s < samples && !params.empty(); ++s) {
      std::size_t i = pick.below(params.size());
      const double num = numeric(params, i, eps);
      ASSERT_NEAR(g[i], num, tol * std::max(1.0, std::abs(num))) << l.describe() << " dparam[" << i << "]";
    }
    // The bias is the tail of the parameter slice: check all of it.
    const std::size_t out_c = l.out_dims().c;
    for (std::size_t i = params.size() - std::min(params.size(), out_c); i < params.size(); ++i) {
      const double num = numeric(params, i, eps);
      ASSERT_NEAR(g[i], num, tol * std::max(1.0, std::abs(num))) << l.describe() << " dbias[" << i << "]";
    }
  }
};

TEST(GradCheck, Dense) {
  context ctx(1);
  dense d(ctx, dims3{13}, 7, false);
  harness h(d, 5, 13, 1);
  h.check(0.05f, 2e-3);
}

TEST(GradCheck, DenseFlattensImageInput) {
  context ctx(1);
  dense d(ctx, dims3{2, 3, 4}, 5, false);
  harness h(d, 3, 24, 2);
  h.check(0.05f, 2e-3);
}

TEST(GradCheck, ConvPlainInput) {
  context ctx(1);
  conv2d c(ctx, dims3{1, 9, 9}, layout::plain, layout::blocked8, 8, 5, 2, false);
  harness h(c, 2, 81, 3);
  h.check(0.05f, 2e-3);
}

TEST(GradCheck, ConvBlockedInput) {
  context ctx(1);
  conv2d c(ctx, dims3{8, 7, 7}, layout::blocked8, layout::blocked8, 16, 3, 1, false);
  harness h(c, 2, 8 * 49, 4);
  h.check(0.05f, 2e-3);
}

TEST(GradCheck, Relu) {
  relu l(dims3{4, 3, 3}, layout::plain);
  harness h(l, 3, 36, 5);
  for (auto& v : h.x) v = v < 0 ? v - 0.05f : v + 0.05f;  // away from the kink
  h.check(1e-2f, 1e-3);
}

void check_fused_relu_matches_composition(layer& fused, layer& linear, std::size_t in_elems, layout l) {
  harness hf(fused, 2, in_elems, 6);
  harness hl(linear, 2, in_elems, 6);
  ASSERT_EQ(hf.params, hl.params);
  relu act(fused.out_dims(), l);
  const std::size_t out = hf.r.size();
  std::vector<float> yf(out), z(out), yl(out);
  fused.forward(2, hf.x.data(), yf.data());
  linear.forward(2, hl.x.data(), z.data());
  act.forward(2, z.data(), yl.data());
  for (std::size_t i = 0; i < out; ++i) ASSERT_FLOAT_EQ(yf[i], yl[i]);
  std::vector<float> dyf = hf.r, dyl = hf.r, dz(out), dxf(hf.x.size()), dxl(hf.x.size());
  fused.backward(2, hf.x.data(), yf.data(), dyf.data(), dxf.data());
  act.backward(2, z.data(), yl.data(), dyl.data(), dz.data());
  linear.backward(2, hl.x.data(), z.data(), dz.data(), dxl.data());
  for (std::size_t i = 0; i < dxf.size(); ++i) ASSERT_NEAR(dxf[i], dxl[i], 1e-5);
  for (std::size_t i = 0; i < hf.grads.size(); ++i) ASSERT_NEAR(hf.grads[i], hl.grads[i], 1e-5);
}

TEST(GradCheck, DenseFusedReluEqualsDenseThenRelu) {
  context ctx(1);
  dense f(ctx, dims3{11}, 9, true), l(ctx, dims3{11}, 9, false);
  check_fused_relu_matches_composition(f, l, 11, layout::plain);
}

TEST(GradCheck, ConvFusedReluEqualsConvThenRelu) {
  context ctx(1);
  conv2d f(ctx, dims3{8, 6, 6}, layout::blocked8, layout::blocked8, 8, 3, 1, true);
  conv2d l(ctx, dims3{8, 6, 6}, layout::blocked8, layout::blocked8, 8, 3, 1, false);
  check_fused_relu_matches_composition(f, l, 8 * 36, layout::blocked8);
}

void spread_distinct(std::vector<float>& x, std::uint64_t seed) {
  // Distinct values 0.01 apart in random order: no ties inside eps.
  std::vector<std::uint32_t> perm(x.size());
  std::iota(perm.begin(), perm.end(), 0u);
  rng g(seed);
  for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[g.below(i)]);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * perm[i] - 0.005f * x.size();
}

TEST(GradCheck, MaxPoolPlain) {
  max_pool p(dims3{3, 6, 4}, layout::plain, 2);
  harness h(p, 2, 72, 7);
  spread_distinct(h.x, 7);
  h.check(1e-3f, 1e-3);
}

TEST(GradCheck, MaxPoolBlocked) {
  max_pool p(dims3{16, 4, 6}, layout::blocked8, 2);
  harness h(p, 2, 16 * 24, 8);
  spread_distinct(h.x, 8);
  h.check(1e-3f, 1e-3);
}

TEST(MaxPool, ForwardPicksWindowMaximum) {
  max_pool p(dims3{1, 4, 4}, layout::plain, 2);
  std::vector<float> x{1, 2, 5, 0,  //
                       3, 4, 1, 1,  //
                       0, 0, 9, 8,  //
                       -1, 7, 6, 2};
  std::vector<float> y(4);
  p.forward(1, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{4, 5, 7, 9}));
}

TEST(GradCheck, FlattenBlocked) {
  context ctx(1);
  flatten f(ctx, dims3{16, 3, 2}, layout::blocked8);
  harness h(f, 2, 96, 9);
  h.check(0.05f, 1e-4);
}

TEST(Flatten, BlockedToPyTorchOrder) {
  context ctx(1);
  const int C = 16, H = 3, W = 2, N = 2;
  flatten f(ctx, dims3{C, H, W}, layout::blocked8);
  std::vector<float> x(N * C * H * W), y(x.size());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w) x[(((n * (C / 8) + c / 8) * H + h) * W + w) * 8 + c % 8] = 1000 * n + 100 * c + 10 * h + w;
  f.forward(N, x.data(), y.data());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w) ASSERT_EQ(y[((n * C + c) * H + h) * W + w], 1000 * n + 100 * c + 10 * h + w);
}

TEST(GradCheck, SoftmaxCrossEntropy) {
  const int n = 4, k = 6;
  rng g(10);
  std::vector<float> z(n * k), d(n * k);
  for (auto& v : z) v = g.uniform(-3, 3);
  std::vector<std::int32_t> y{0, 5, 2, 2};
  softmax_xent(n, k, z.data(), y.data(), d.data());
  for (int i = 0; i < n * k; ++i) {
    const float keep = z[i], eps = 1e-2f;
    z[i] = keep + eps;
    const double up = softmax_xent(n, k, z.data(), y.data(), nullptr).loss;
    z[i] = keep - eps;
    const double down = softmax_xent(n, k, z.data(), y.data(), nullptr).loss;
    z[i] = keep;
    ASSERT_NEAR(d[i], (up - down) / (2 * eps), 1e-4) << i;
  }
}

TEST(SoftmaxCrossEntropy, StableForHugeLogitsAndCountsCorrect) {
  std::vector<float> z{1000, 0, -1000, 0, 1e4f, 0};
  std::vector<std::int32_t> y{0, 1};
  auto r = softmax_xent(2, 3, z.data(), y.data(), nullptr);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_NEAR(r.loss, 0.0, 1e-6);
  EXPECT_EQ(r.correct, 2);
}

}  // namespace
}  // namespace hydra::kernels
