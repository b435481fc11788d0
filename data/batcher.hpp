#pragma once
/// Deterministic shuffled mini-batches over an in-memory dataset.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/idx.hpp"

namespace hydra::data {

/// Deterministic shuffled mini-batches over a dataset (or a subset of its
/// indices, for shards). The order of an epoch depends only on (seed, epoch)
/// and the index subset, so every rank and every rerun sees the same batches.
///
/// Holds a pointer to the dataset: `d` must outlive the batcher and must not
/// be resized meanwhile. Not thread-safe; use one batcher per thread.
class batcher {
 public:
  /// Batches over all samples of `d`. Precondition: batch > 0.
  batcher(const dataset& d, int batch, std::uint64_t seed);
  /// Batches over the samples `indices` of `d`, in that order when not
  /// shuffled. Preconditions: batch > 0 and every index < d.size()
  /// (violations abort: they are the caller's bug).
  batcher(const dataset& d, std::vector<std::uint32_t> indices, int batch, std::uint64_t seed);

  /// Begins an epoch. With shuffle, the order is a Fisher–Yates permutation
  /// drawn from hydra::rng::derive(seed, epoch) with below(); without, the
  /// construction order is kept (for evaluation). next() yields nothing until
  /// the first call.
  void start_epoch(int epoch, bool shuffle = true);

  /// Copies the next batch: x gets n*sample_size() floats, y gets n labels.
  /// Returns n (<= batch; the last batch may be short; 0 when the epoch is
  /// done). x and y must have room for a full batch.
  int next(float* x, std::int32_t* y);

  /// ceil(samples() / batch).
  std::size_t batches_per_epoch() const;
  /// Samples per epoch (the subset size).
  std::size_t samples() const { return indices_.size(); }
  /// Samples per full batch.
  int batch() const { return batch_; }
  /// This epoch's sample order (indices into the dataset).
  const std::vector<std::uint32_t>& order() const { return order_; }

 private:
  const dataset* data_;
  std::vector<std::uint32_t> indices_;
  std::vector<std::uint32_t> order_;
  std::size_t cursor_ = 0;
  int batch_;
  std::uint64_t seed_;
};

}  // namespace hydra::data
