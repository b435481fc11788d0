#pragma once
/// Stand-alone ReLU. The models fuse ReLU into the layer before it (a oneDNN
/// post-op forward, a mask on dy backward); this layer is for models that
/// need it on its own.

#include "kernels/internal/elementwise.hpp"
#include "kernels/layer.hpp"

namespace hydra::kernels {

class relu final : public layer {
 public:
  relu(dims3 in, layout l) : in_(in), layout_(l) {}
  std::string describe() const override { return "relu"; }
  dims3 out_dims() const override { return in_; }
  layout out_layout() const override { return layout_; }
  void forward(int n, const float* x, float* y) override {
    internal::relu_forward(std::ptrdiff_t(n) * in_.elems(), x, y);
  }
  void backward(int n, const float*, const float* y, float* dy, float* dx) override {
    if (!dx) return;
    const std::ptrdiff_t m = std::ptrdiff_t(n) * in_.elems();
    internal::relu_mask(m, y, dy);
    for (std::ptrdiff_t i = 0; i < m; ++i) dx[i] = dy[i];
  }

 private:
  dims3 in_;
  layout layout_;
};

}  // namespace hydra::kernels
