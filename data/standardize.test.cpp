#include "data/standardize.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace hydra::data {
namespace {

TEST(PixelStats, MeanAndPopulationStd) {
  dataset d;
  d.rows = 1;
  d.cols = 4;
  d.images = {0.0f, 0.5f, 1.0f, 0.5f, 0.0f, 1.0f, 0.25f, 0.75f};
  d.labels = {0, 1};
  const auto s = compute_pixel_stats(d);
  EXPECT_DOUBLE_EQ(s.mean, 0.5);
  // deviations: .5 0 .5 0 .5 .5 .25 .25 -> squares sum 1.125 over 8
  EXPECT_NEAR(s.stddev, std::sqrt(1.125 / 8), 1e-12);
}

TEST(PixelStats, EmptyOrConstantDataGetsUnitStd) {
  dataset d;
  EXPECT_EQ(compute_pixel_stats(d).stddev, 1.0);
  d.rows = d.cols = 2;
  d.images.assign(8, 0.3f);
  d.labels = {0, 0};
  const auto s = compute_pixel_stats(d);
  EXPECT_NEAR(s.mean, 0.3, 1e-7);
  EXPECT_EQ(s.stddev, 1.0);
}

}  // namespace
}  // namespace hydra::data
