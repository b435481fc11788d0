#pragma once
/// A sequential model whose trainable parameters and gradients each live in
/// one contiguous buffer (so an all-reduce can send them in one piece), laid
/// out layer by layer, weights then bias, in PyTorch's element order.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "kernels/buffer.hpp"
#include "kernels/context.hpp"
#include "kernels/layer.hpp"
#include "kernels/softmax_xent.hpp"

namespace hydra::kernels {

class model {
 public:
  /// Builds a model by name: "mlp" (784-256-128-10) or "cnn"
  /// (conv5x5x32-pool-conv5x5x64-pool-fc1024-fc10), for 1 x 28 x 28 inputs.
  static result<std::unique_ptr<model>> make(std::string_view name, context& ctx);
  /// The names `make` accepts.
  static std::vector<std::string> names();

  model(context& ctx, std::string name, dims3 input, int classes);
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  /// Appends a layer; call `finalize()` after the last.
  void add(std::unique_ptr<layer> l);
  /// Allocates the parameter and gradient buffers and binds the layers.
  void finalize();

  /// Initialises all parameters from `seed` (layer i uses stream i).
  void init(std::uint64_t seed);

  /// Forward + backward on `n` samples: gradients (mean over the batch)
  /// overwrite `grads()`. Returns the batch loss and correct count.
  xent_result compute_gradients(int n, const float* x, const std::int32_t* labels);
  /// Forward only; returns the n x classes logits (valid until the next call).
  const float* predict(int n, const float* x);
  /// Loss and correct count on `n` labelled samples, no gradients.
  xent_result evaluate(int n, const float* x, const std::int32_t* labels);

  /// Per-channel input standardisation, applied to every input before the
  /// first layer: x' = (x - mean[c]) / std[c]. Identity (0, 1) until set.
  /// Each span has input_dims().c entries; every std must be finite and > 0
  /// and every mean finite (else invalid_input, and nothing changes).
  status set_standardization(std::span<const float> mean, std::span<const float> stddev);
  /// The same as one buffer: c means, then c reciprocals of the stds. Part
  /// of a model's state wherever its weights go (checkpoints, the group's
  /// state transfer, the scorers' copy); writing it sets the transform.
  std::span<float> standardization_state() { return norm_; }
  std::span<const float> standardization_state() const { return norm_; }
  /// False while the transform is the identity.
  bool standardizes() const;

  std::span<float> params() { return params_.span(); }
  std::span<const float> params() const { return params_.span(); }
  std::span<float> grads() { return grads_.span(); }
  const std::string& name() const { return name_; }
  dims3 input_dims() const { return input_; }
  int classes() const { return classes_; }
  const std::vector<std::unique_ptr<layer>>& layers() const { return layers_; }

  /// Floating-point operations one training sample costs (forward + backward).
  double train_flops_per_sample() const;
  /// One line per layer with its parameter count.
  std::string summary() const;

 private:
  void ensure_activations(int n);
  void run_forward(int n, const float* x);
  /// `x`, or its standardised copy (in `x_norm_`) when standardizes().
  const float* standardized(int n, const float* x);

  context& ctx_;
  std::string name_;
  dims3 input_;
  int classes_;
  std::vector<std::unique_ptr<layer>> layers_;
  aligned_buffer params_, grads_;
  // acts_[i] = output of layer i, for `act_batch_` samples.
  std::vector<aligned_buffer> acts_;
  aligned_buffer grad_a_, grad_b_;
  int act_batch_ = 0;
  std::vector<float> norm_;  // c means, then c inverse stds
  aligned_buffer x_norm_;
};

}  // namespace hydra::kernels
