#pragma once
/// Fully connected layer y = W x + b (optionally followed by a fused ReLU),
/// on oneDNN inner-product primitives. Weights are stored `oi` (out x in,
/// PyTorch's order) in the model buffer, which the primitives use directly:
/// no reorders on the hot path.

#include <dnnl.hpp>

#include "kernels/context.hpp"
#include "kernels/internal/plan_cache.hpp"
#include "kernels/layer.hpp"

namespace hydra::kernels {

class dense final : public layer {
 public:
  /// `in` may be a (c, h, w) shape in plain layout; it is flattened.
  dense(context& ctx, dims3 in, int out, bool relu);
  ~dense() override;

  std::string describe() const override;
  dims3 out_dims() const override { return {out_, 1, 1}; }
  layout out_layout() const override { return layout::plain; }
  std::size_t param_count() const override { return std::size_t(in_) * out_ + out_; }
  void init(rng& r) override;
  void forward(int n, const float* x, float* y) override;
  void backward(int n, const float* x, const float* y, float* dy, float* dx) override;
  double flops_per_sample(bool with_dx) const override;

 private:
  struct plan;
  plan& get(int n);

  context& ctx_;
  int in_, out_;
  bool relu_;
  internal::plan_cache<plan> plans_;
};

}  // namespace hydra::kernels
