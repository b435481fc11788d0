#include "data/standardize.hpp"

#include <cmath>

namespace hydra::data {

pixel_stats compute_pixel_stats(const dataset& d) {
  pixel_stats s;
  const std::size_t n = d.images.size();
  if (n == 0) return s;
  // Two passes (mean, then squared deviations): exact enough in double for
  // 47M pixels, and the same on every machine for the same data.
  double sum = 0;
  for (float v : d.images) sum += v;
  s.mean = sum / double(n);
  double sq = 0;
  for (float v : d.images) {
    const double e = double(v) - s.mean;
    sq += e * e;
  }
  const double sd = std::sqrt(sq / double(n));
  s.stddev = sd > 1e-6 && std::isfinite(sd) ? sd : 1.0;
  return s;
}

}  // namespace hydra::data
