#pragma once
/// Element-wise loops shared by the layers and optimizers. They run on the
/// OpenMP team that oneDNN uses, and stay on the calling thread below a size
/// where forking costs more than it saves.
///
/// Why `for_chunks` instead of `#pragma omp parallel for simd if(...)`: GCC 12
/// vectorises only the parallel branch of such a loop and leaves the serial
/// one (every small layer of the MLP) as scalar, branchy code.

#include <omp.h>

#include <algorithm>
#include <cstddef>

namespace hydra::kernels::internal {

inline constexpr std::ptrdiff_t parallel_min = 1 << 15;

/// Calls f(begin, end) on contiguous pieces of [0, n): one piece on the
/// calling thread when n is small, one per OpenMP thread otherwise.
template <class F>
inline void for_chunks(std::ptrdiff_t n, F&& f) {
  if (n < parallel_min || omp_get_max_threads() == 1) {
    f(std::ptrdiff_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const std::ptrdiff_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    // 16-float aligned piece boundaries keep every piece's vector loop whole.
    const std::ptrdiff_t per = ((n + nt - 1) / nt + 15) / 16 * 16;
    const std::ptrdiff_t b = std::min(n, t * per), e = std::min(n, b + per);
    if (b < e) f(b, e);
  }
}

/// dy[i] = y[i] > 0 ? dy[i] : 0 (ReLU backward, using the ReLU's output).
inline void relu_mask(std::ptrdiff_t n, const float* y, float* dy) {
  for_chunks(n, [=](std::ptrdiff_t b, std::ptrdiff_t e) {
#pragma omp simd
    for (std::ptrdiff_t i = b; i < e; ++i) {
      // Load unconditionally, then select: a vector blend, not a branch.
      const float d = dy[i];
      dy[i] = y[i] > 0.0f ? d : 0.0f;
    }
  });
}

/// y[i] = max(x[i], 0).
inline void relu_forward(std::ptrdiff_t n, const float* x, float* y) {
  for_chunks(n, [=](std::ptrdiff_t b, std::ptrdiff_t e) {
#pragma omp simd
    for (std::ptrdiff_t i = b; i < e; ++i) {
      const float v = x[i];
      y[i] = v > 0.0f ? v : 0.0f;
    }
  });
}

}  // namespace hydra::kernels::internal
