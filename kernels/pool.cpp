#include "kernels/pool.hpp"

#include <stdexcept>

namespace hydra::kernels {

max_pool::max_pool(dims3 in, layout l, int k) : in_(in), layout_(l), k_(k) {
  if (k < 1 || k > 15 || in.h % k != 0 || in.w % k != 0)
    throw std::invalid_argument("max_pool: input height and width must be multiples of the window (1..15)");
  if (in.c % block_of(l) != 0) throw std::invalid_argument("max_pool: channels must be a multiple of the block size");
  out_ = {in.c, in.h / k, in.w / k};
}

std::string max_pool::describe() const {
  return "maxpool " + std::to_string(k_) + "x" + std::to_string(k_);
}

// Both layouts are "planes of `b` interleaved channels": plain is b = 1 with
// c planes, blockedB is b = B with c/B planes. The inner loop over b
// vectorises (8 or 16 floats = one AVX2 or AVX-512 register).
void max_pool::forward(int n, const float* x, float* y) {
  const int b = block_of(layout_);
  const int planes = n * (in_.c / b);
  const int ih = in_.h, iw = in_.w, oh = out_.h, ow = out_.w, k = k_;
  argmax_.resize(std::size_t(n) * out_.elems());
  std::uint8_t* am = argmax_.data();
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    const float* xp = x + std::size_t(p) * ih * iw * b;
    float* yp = y + std::size_t(p) * oh * ow * b;
    std::uint8_t* ap = am + std::size_t(p) * oh * ow * b;
    for (int r = 0; r < oh; ++r)
      for (int c = 0; c < ow; ++c) {
        float best[16];
        std::uint8_t arg[16] = {};
        const float* x0 = xp + (std::size_t(r * k) * iw + c * k) * b;
        for (int j = 0; j < b; ++j) best[j] = x0[j];
        for (int dr = 0; dr < k; ++dr)
          for (int dc = 0; dc < k; ++dc) {
            const float* xs = x0 + (std::size_t(dr) * iw + dc) * b;
            const auto idx = static_cast<std::uint8_t>(dr * k + dc);
            for (int j = 0; j < b; ++j) {
              const bool gt = xs[j] > best[j];
              best[j] = gt ? xs[j] : best[j];
              arg[j] = gt ? idx : arg[j];
            }
          }
        float* yo = yp + (std::size_t(r) * ow + c) * b;
        std::uint8_t* ao = ap + (std::size_t(r) * ow + c) * b;
        for (int j = 0; j < b; ++j) {
          yo[j] = best[j];
          ao[j] = arg[j];
        }
      }
  }
}

void max_pool::backward(int n, const float*, const float*, float* dy, float* dx) {
  if (!dx) return;
  const int b = block_of(layout_);
  const int planes = n * (in_.c / b);
  const int iw = in_.w, ih = in_.h, oh = out_.h, ow = out_.w, k = k_;
  const std::uint8_t* am = argmax_.data();
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    float* xp = dx + std::size_t(p) * ih * iw * b;
    const float* yp = dy + std::size_t(p) * oh * ow * b;
    const std::uint8_t* ap = am + std::size_t(p) * oh * ow * b;
    for (int r = 0; r < oh; ++r)
      for (int c = 0; c < ow; ++c) {
        const float* go = yp + (std::size_t(r) * ow + c) * b;
        const std::uint8_t* ao = ap + (std::size_t(r) * ow + c) * b;
        float* x0 = xp + (std::size_t(r * k) * iw + c * k) * b;
        // Every input cell of a window is written (gradient or zero): windows
        // tile the input, so dx needs no separate clearing pass.
        for (int dr = 0; dr < k; ++dr)
          for (int dc = 0; dc < k; ++dc) {
            float* xs = x0 + (std::size_t(dr) * iw + dc) * b;
            const auto idx = static_cast<std::uint8_t>(dr * k + dc);
            for (int j = 0; j < b; ++j) xs[j] = ao[j] == idx ? go[j] : 0.0f;
          }
      }
  }
}

}  // namespace hydra::kernels
