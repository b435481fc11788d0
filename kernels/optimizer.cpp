#include "kernels/optimizer.hpp"

#include <cmath>

#include "kernels/internal/elementwise.hpp"

namespace hydra::kernels {
namespace {

using internal::for_chunks;

class sgd final : public optimizer {
 public:
  sgd(optimizer_config cfg, std::size_t n) : optimizer(std::move(cfg)), velocity_(cfg_.momentum > 0 ? n : 0) {}

  void step(std::span<float> p, std::span<const float> g) override {
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(p.size());
    const float lr = cfg_.lr, wd = cfg_.weight_decay, mu = cfg_.momentum;
    float* w = p.data();
    const float* d = g.data();
    if (mu == 0.0f) {
      for_chunks(n, [=](std::ptrdiff_t b, std::ptrdiff_t e) {
#pragma omp simd
        for (std::ptrdiff_t i = b; i < e; ++i) w[i] -= lr * (d[i] + wd * w[i]);
      });
    } else {
      float* v = velocity_.data();
      // PyTorch: the first step sets v = g (no dampening).
      const float keep = steps_ == 0 ? 0.0f : mu;
      const bool nest = cfg_.nesterov;
      for_chunks(n, [=](std::ptrdiff_t b, std::ptrdiff_t e) {
#pragma omp simd
        for (std::ptrdiff_t i = b; i < e; ++i) {
          const float gi = d[i] + wd * w[i];
          const float vi = keep * v[i] + gi;
          v[i] = vi;
          w[i] -= lr * (nest ? gi + mu * vi : vi);
        }
      });
    }
    ++steps_;
  }

  std::span<float> state() override { return velocity_.span(); }

 private:
  aligned_buffer velocity_;
};

class adam final : public optimizer {
 public:
  adam(optimizer_config cfg, std::size_t n) : optimizer(std::move(cfg)), moments_(2 * n), n_(n) {}

  void step(std::span<float> p, std::span<const float> g) override {
    ++steps_;
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(n_);
    const float b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps, wd = cfg_.weight_decay;
    const double t = static_cast<double>(steps_);
    const float c1 = static_cast<float>(1.0 - std::pow(double(b1), t));
    const float c2 = static_cast<float>(std::sqrt(1.0 - std::pow(double(b2), t)));
    const float step = cfg_.lr / c1;
    float* w = p.data();
    const float* d = g.data();
    float* m = moments_.data();
    float* v = moments_.data() + n_;
    for_chunks(n, [=](std::ptrdiff_t b, std::ptrdiff_t e) {
#pragma omp simd
      for (std::ptrdiff_t i = b; i < e; ++i) {
        const float gi = d[i] + wd * w[i];
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= step * mi / (std::sqrt(vi) / c2 + eps);
      }
    });
  }

  std::span<float> state() override { return moments_.span(); }

 private:
  aligned_buffer moments_;
  std::size_t n_;
};

}  // namespace

result<std::unique_ptr<optimizer>> make_optimizer(const optimizer_config& cfg, std::size_t n) {
  if (!(cfg.lr > 0) || !std::isfinite(cfg.lr))
    return make_error(errc::invalid_input, "learning rate must be a positive number");
  if (!(cfg.weight_decay >= 0)) return make_error(errc::invalid_input, "weight decay must be >= 0");
  if (cfg.kind == "sgd") {
    if (!(cfg.momentum >= 0 && cfg.momentum < 1)) return make_error(errc::invalid_input, "momentum must be in [0, 1)");
    if (cfg.nesterov && cfg.momentum == 0) return make_error(errc::invalid_input, "nesterov needs momentum > 0");
    return std::unique_ptr<optimizer>(new sgd(cfg, n));
  }
  if (cfg.kind == "adam") {
    if (!(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1))
      return make_error(errc::invalid_input, "adam betas must be in [0, 1)");
    if (!(cfg.eps > 0)) return make_error(errc::invalid_input, "adam eps must be > 0");
    return std::unique_ptr<optimizer>(new adam(cfg, n));
  }
  return make_error(errc::invalid_input, "unknown optimizer '" + cfg.kind + "' (choose sgd or adam)");
}

}  // namespace hydra::kernels
