#include "kernels/softmax_xent.hpp"

#include <cmath>

namespace hydra::kernels {

xent_result softmax_xent(int n, int classes, const float* logits, const std::int32_t* labels, float* dlogits) {
  double loss = 0;
  int correct = 0;
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int i = 0; i < n; ++i) {
    const float* z = logits + std::size_t(i) * classes;
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (z[c] > z[best]) best = c;
    const float m = z[best];
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += std::exp(double(z[c] - m));
    const int y = labels[i];
    loss += std::log(sum) - double(z[y] - m);
    correct += best == y;
    if (dlogits) {
      float* d = dlogits + std::size_t(i) * classes;
      const double inv_sum = 1.0 / sum;
      for (int c = 0; c < classes; ++c) {
        const float p = static_cast<float>(std::exp(double(z[c] - m)) * inv_sum);
        d[c] = (p - (c == y ? 1.0f : 0.0f)) * inv_n;
      }
    }
  }
  return {loss / n, correct};
}

void argmax_rows(int n, int classes, const float* logits, std::int32_t* out) {
  for (int i = 0; i < n; ++i) {
    const float* z = logits + std::size_t(i) * classes;
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (z[c] > z[best]) best = c;
    out[i] = best;
  }
}

}  // namespace hydra::kernels
