#pragma once
/// Max pooling with a k x k window and stride k (non-overlapping), on plain
/// or blocked8 activations. Hand-written: oneDNN 2.6's max pooling with
/// workspace took ~15% of a CNN step, several times what memory bandwidth
/// allows. The argmax of each window is kept (one byte per output) so the
/// backward pass scatters without re-reading the input.

#include <cstdint>
#include <vector>

#include "kernels/layer.hpp"

namespace hydra::kernels {

class max_pool final : public layer {
 public:
  /// `in.h` and `in.w` must be multiples of `k`; c a multiple of the block.
  max_pool(dims3 in, layout l, int k);

  std::string describe() const override;
  dims3 out_dims() const override { return out_; }
  layout out_layout() const override { return layout_; }
  void forward(int n, const float* x, float* y) override;
  void backward(int n, const float* x, const float* y, float* dy, float* dx) override;

 private:
  dims3 in_, out_;
  layout layout_;
  int k_;
  std::vector<std::uint8_t> argmax_;
};

}  // namespace hydra::kernels
