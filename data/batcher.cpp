#include "data/batcher.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <utility>

#include "common/rng.hpp"

namespace hydra::data {
namespace {

/// Precondition violations are our callers' bugs; stop loudly even in
/// Release builds rather than read out of bounds later.
void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "hydra::data::batcher: precondition failed: %s\n", what);
  std::abort();
}

std::vector<std::uint32_t> all_indices(const dataset& d) {
  std::vector<std::uint32_t> v(d.size());
  std::iota(v.begin(), v.end(), std::uint32_t(0));
  return v;
}

}  // namespace

batcher::batcher(const dataset& d, int batch, std::uint64_t seed) : batcher(d, all_indices(d), batch, seed) {}

batcher::batcher(const dataset& d, std::vector<std::uint32_t> indices, int batch, std::uint64_t seed)
    : data_(&d), indices_(std::move(indices)), batch_(batch), seed_(seed) {
  require(batch > 0, "batch > 0");
  require(d.images.size() == d.size() * d.sample_size(), "images.size() == size() * sample_size()");
  for (std::uint32_t i : indices_) require(i < d.size(), "every index < d.size()");
}

void batcher::start_epoch(int epoch, bool shuffle) {
  order_ = indices_;
  cursor_ = 0;
  if (!shuffle || order_.size() < 2) return;
  rng r = rng::derive(seed_, static_cast<std::uint64_t>(epoch));
  for (std::size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[r.below(i + 1)]);
}

int batcher::next(float* x, std::int32_t* y) {
  const std::size_t n = std::min(std::size_t(batch_), order_.size() - cursor_);
  const std::size_t ss = data_->sample_size();
  const float* images = data_->images.data();
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint32_t idx = order_[cursor_ + k];
    std::memcpy(x + k * ss, images + idx * ss, ss * sizeof(float));
    y[k] = data_->labels[idx];
  }
  cursor_ += n;
  return static_cast<int>(n);
}

std::size_t batcher::batches_per_epoch() const { return (indices_.size() + batch_ - 1) / std::size_t(batch_); }

}  // namespace hydra::data
