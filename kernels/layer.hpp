#pragma once
/// The layer interface. A layer is built for one per-sample input shape;
/// primitives are built lazily once per batch size and then only executed.
/// Parameters are not owned: the model binds every layer to its slice of the
/// model's one contiguous parameter buffer and gradient buffer.

#include <cstddef>
#include <string>

#include "common/rng.hpp"

namespace hydra::kernels {

/// How a layer's activations are laid out in memory, per sample.
enum class layout {
  plain,     ///< nchw (or nc for vectors): PyTorch's order
  blocked8,  ///< nChw8c: channels in blocks of 8, oneDNN's AVX2 conv layout
  blocked16  ///< nChw16c: blocks of 16, oneDNN's AVX-512 conv layout
};

/// Channels per block: 1 for plain.
inline int block_of(layout l) { return l == layout::blocked16 ? 16 : l == layout::blocked8 ? 8 : 1; }

/// Per-sample activation shape (c, h, w); a vector is (n, 1, 1).
struct dims3 {
  int c = 0, h = 1, w = 1;
  std::size_t elems() const { return std::size_t(c) * h * w; }
  bool operator==(const dims3&) const = default;
};

class layer {
 public:
  virtual ~layer() = default;
  virtual std::string describe() const = 0;
  virtual dims3 out_dims() const = 0;
  virtual layout out_layout() const = 0;

  /// Floats of trainable parameters this layer needs (weights then bias).
  virtual std::size_t param_count() const { return 0; }
  /// Points the layer at its parameter and gradient slices (param_count() each).
  virtual void bind(float* params, float* grads) {
    params_ = params;
    grads_ = grads;
  }
  /// Initialises the bound parameters (PyTorch's default scheme).
  virtual void init(rng&) {}

  /// y = f(x) for `n` samples. `x` is n * in elems, `y` n * out elems.
  virtual void forward(int n, const float* x, float* y) = 0;
  /// Given x, y = f(x) and dL/dy, writes dL/dparams into the gradient slice
  /// (overwriting) and, when `dx` is not null, dL/dx. May modify `dy`.
  virtual void backward(int n, const float* x, const float* y, float* dy, float* dx) = 0;

  /// Floating-point operations per sample for forward + backward (dx included
  /// only when `with_dx`).
  virtual double flops_per_sample(bool with_dx) const { return 0; }

 protected:
  float* params_ = nullptr;
  float* grads_ = nullptr;
};

}  // namespace hydra::kernels
