#pragma once
/// Flatten (c, h, w) to a vector in PyTorch's (c, h, w) order. From a blocked
/// layout this is a oneDNN reorder nChw8c/16c -> nchw (and back for the gradient); from
/// plain it is a copy.

#include <dnnl.hpp>

#include "kernels/context.hpp"
#include "kernels/internal/plan_cache.hpp"
#include "kernels/layer.hpp"

namespace hydra::kernels {

class flatten final : public layer {
 public:
  flatten(context& ctx, dims3 in, layout l);

  std::string describe() const override { return "flatten"; }
  dims3 out_dims() const override { return {static_cast<int>(in_.elems()), 1, 1}; }
  layout out_layout() const override { return layout::plain; }
  void forward(int n, const float* x, float* y) override;
  void backward(int n, const float* x, const float* y, float* dy, float* dx) override;

 private:
  struct plan {
    dnnl::memory blocked, plain;
    dnnl::reorder to_plain, to_blocked;
  };
  plan& get(int n);

  context& ctx_;
  dims3 in_;
  layout layout_;
  internal::plan_cache<plan> plans_;
};

}  // namespace hydra::kernels
