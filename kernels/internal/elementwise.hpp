#pragma once
/// Element-wise loops shared by the layers. They run on the OpenMP team that
/// oneDNN uses, and go single-threaded below a size where forking costs more
/// than it saves.

#include <cstddef>

namespace hydra::kernels::internal {

inline constexpr std::ptrdiff_t parallel_min = 1 << 15;

/// dy[i] = y[i] > 0 ? dy[i] : 0 (ReLU backward, using the ReLU's output).
inline void relu_mask(std::ptrdiff_t n, const float* y, float* dy) {
#pragma omp parallel for simd if (n >= parallel_min) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/// y[i] = max(x[i], 0).
inline void relu_forward(std::ptrdiff_t n, const float* x, float* y) {
#pragma omp parallel for simd if (n >= parallel_min) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

}  // namespace hydra::kernels::internal
