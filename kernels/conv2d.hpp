#pragma once
/// 2-D convolution, stride 1, square kernel, zero padding, optional fused
/// ReLU, on oneDNN's direct convolution. The output is blocked (nChw8c or
/// nChw16c: what the CPU's kernels run on natively, see
/// `context::conv_layout`), so out channels must be a multiple of the block.
/// The input is `plain` (e.g. the images) or blocked.
/// Weights live `oihw` (PyTorch's order) in the model buffer, so the buffer
/// means the same on every machine; they are reordered to the primitive's
/// layout once per step, which costs < 1% of the convolution.

#include <dnnl.hpp>

#include "kernels/context.hpp"
#include "kernels/internal/plan_cache.hpp"
#include "kernels/layer.hpp"

namespace hydra::kernels {

class conv2d final : public layer {
 public:
  conv2d(context& ctx, dims3 in, layout in_layout, layout out_layout, int out_channels, int kernel, int pad,
         bool relu);
  ~conv2d() override;

  std::string describe() const override;
  dims3 out_dims() const override { return out_; }
  layout out_layout() const override { return out_layout_; }
  std::size_t param_count() const override { return weight_count() + out_.c; }
  void init(rng& r) override;
  void forward(int n, const float* x, float* y) override;
  void backward(int n, const float* x, const float* y, float* dy, float* dx) override;
  double flops_per_sample(bool with_dx) const override;

 private:
  struct plan;
  plan& get(int n);
  std::size_t weight_count() const { return std::size_t(out_.c) * in_.c * k_ * k_; }

  context& ctx_;
  dims3 in_, out_;
  layout in_layout_, out_layout_;
  int k_, pad_;
  bool relu_;
  internal::plan_cache<plan> plans_;
};

}  // namespace hydra::kernels
