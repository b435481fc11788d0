#pragma once
/// Optimizers over a flat parameter buffer, with PyTorch's update rules.
/// Their state is one flat buffer too, so a joiner can fetch it in one piece.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.hpp"
#include "kernels/buffer.hpp"

namespace hydra::kernels {

struct optimizer_config {
  std::string kind = "sgd";  ///< "sgd" or "adam"
  float lr = 0.1f;
  float momentum = 0.0f;      ///< sgd only
  bool nesterov = false;      ///< sgd only (the Local-SGD outer step uses it)
  float weight_decay = 0.0f;  ///< L2, added to the gradient (PyTorch's `weight_decay`)
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  ///< adam only
};

class optimizer {
 public:
  virtual ~optimizer() = default;
  /// params -= update(grads). Both spans have the size given at construction.
  virtual void step(std::span<float> params, std::span<const float> grads) = 0;
  /// The whole optimizer state (momentum / moments), for checkpoints and
  /// state transfer; `steps()` completes it.
  virtual std::span<float> state() = 0;
  std::uint64_t steps() const { return steps_; }
  void set_steps(std::uint64_t s) { steps_ = s; }
  const optimizer_config& config() const { return cfg_; }
  void set_lr(float lr) { cfg_.lr = lr; }

 protected:
  explicit optimizer(optimizer_config cfg) : cfg_(std::move(cfg)) {}
  optimizer_config cfg_;
  std::uint64_t steps_ = 0;
};

/// Builds the optimizer `cfg.kind` for `n` parameters; invalid settings
/// (unknown kind, lr <= 0, momentum outside [0, 1), ...) are an error.
result<std::unique_ptr<optimizer>> make_optimizer(const optimizer_config& cfg, std::size_t n);

}  // namespace hydra::kernels
