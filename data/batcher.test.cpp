#include "data/batcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace hydra::data {
namespace {

/// n samples of 2 x 3 pixels; every pixel of sample k is k, its label k % 10.
dataset numbered(std::size_t n) {
  dataset d;
  d.rows = 2, d.cols = 3;
  for (std::size_t k = 0; k < n; ++k) {
    d.labels.push_back(std::uint8_t(k % 10));
    d.images.insert(d.images.end(), d.sample_size(), float(k));
  }
  return d;
}

/// Runs one epoch and returns the sample ids in the order they came out,
/// checking on the way that every image row matches its label.
std::vector<std::uint32_t> drain(batcher& b, const dataset& d, std::vector<int>* sizes = nullptr) {
  std::vector<float> x(std::size_t(b.batch()) * d.sample_size(), -1.0f);
  std::vector<std::int32_t> y(std::size_t(b.batch()), -1);
  std::vector<std::uint32_t> seen;
  while (int n = b.next(x.data(), y.data())) {
    if (sizes) sizes->push_back(n);
    for (int k = 0; k < n; ++k) {
      const float id = x[std::size_t(k) * d.sample_size()];
      for (std::size_t j = 0; j < d.sample_size(); ++j) EXPECT_EQ(x[k * d.sample_size() + j], id);
      EXPECT_EQ(y[k], std::int32_t(id) % 10);
      seen.push_back(std::uint32_t(id));
    }
  }
  return seen;
}

TEST(Batcher, SameSeedAndEpochGiveSameOrder) {
  const dataset d = numbered(100);
  batcher a(d, 8, 42), b(d, 8, 42);
  a.start_epoch(3);
  b.start_epoch(3);
  EXPECT_EQ(drain(a, d), drain(b, d));
  a.start_epoch(3);  // restarting an epoch replays it
  EXPECT_EQ(a.order(), b.order());
}

TEST(Batcher, DifferentEpochOrSeedGivesDifferentOrder) {
  const dataset d = numbered(100);
  batcher a(d, 8, 42), b(d, 8, 43);
  a.start_epoch(0);
  const auto first = drain(a, d);
  a.start_epoch(1);
  EXPECT_NE(first, drain(a, d));
  b.start_epoch(0);
  EXPECT_NE(first, drain(b, d));
}

TEST(Batcher, EachEpochCoversEveryIndexOnce) {
  const dataset d = numbered(1000);
  batcher b(d, 64, 7);
  std::vector<std::uint32_t> all(1000);
  std::iota(all.begin(), all.end(), 0u);
  for (int epoch = 0; epoch < 5; ++epoch) {
    b.start_epoch(epoch);
    auto seen = drain(b, d);
    EXPECT_NE(seen, all) << "epoch " << epoch << " was not shuffled";
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, all) << "epoch " << epoch;
  }
}

TEST(Batcher, ShortLastBatch) {
  const dataset d = numbered(10);
  batcher b(d, 4, 1);
  EXPECT_EQ(b.samples(), 10u);
  EXPECT_EQ(b.batches_per_epoch(), 3u);
  std::vector<int> sizes;
  b.start_epoch(0);
  drain(b, d, &sizes);
  EXPECT_EQ(sizes, (std::vector<int>{4, 4, 2}));
  float x[4 * 6];
  std::int32_t y[4];
  EXPECT_EQ(b.next(x, y), 0) << "the epoch stays done";
}

TEST(Batcher, UnshuffledKeepsOrder) {
  const dataset d = numbered(9);
  batcher b(d, 4, 1);
  b.start_epoch(5, false);
  EXPECT_EQ(drain(b, d), (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(Batcher, YieldsNothingBeforeStartEpoch) {
  const dataset d = numbered(9);
  batcher b(d, 4, 1);
  EXPECT_TRUE(drain(b, d).empty());
}

TEST(Batcher, SubsetIndices) {
  const dataset d = numbered(50);
  const std::vector<std::uint32_t> shard = {3, 7, 11, 19, 23, 29, 31};
  batcher b(d, shard, 3, 9);
  EXPECT_EQ(b.samples(), 7u);
  EXPECT_EQ(b.batches_per_epoch(), 3u);
  b.start_epoch(0, false);
  EXPECT_EQ(drain(b, d), shard);
  b.start_epoch(2);
  auto seen = drain(b, d);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, shard);
}

TEST(Batcher, ExactMultipleHasNoEmptyBatch) {
  const dataset d = numbered(12);
  batcher b(d, 4, 1);
  EXPECT_EQ(b.batches_per_epoch(), 3u);
  std::vector<int> sizes;
  b.start_epoch(0);
  drain(b, d, &sizes);
  EXPECT_EQ(sizes, (std::vector<int>{4, 4, 4}));
}

TEST(Batcher, EmptyDataset) {
  const dataset d = numbered(0);
  batcher b(d, 4, 1);
  EXPECT_EQ(b.batches_per_epoch(), 0u);
  b.start_epoch(0);
  EXPECT_TRUE(drain(b, d).empty());
}

TEST(BatcherDeathTest, AbortsOnIndexOutOfRange) {
  const dataset d = numbered(5);
  EXPECT_DEATH(batcher(d, {1, 5}, 2, 0), "every index < d.size");
  EXPECT_DEATH(batcher(d, 0, 0), "batch > 0");
}

}  // namespace
}  // namespace hydra::data
