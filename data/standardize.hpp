#pragma once
/// Input standardisation: the mean and standard deviation of a dataset's
/// pixels, which a model subtracts and divides by before its first layer
/// (kernels::model::set_standardization) -- the usual (x - mean) / std of
/// torchvision's Normalize, computed from the training set.

#include "data/idx.hpp"

namespace hydra::data {

struct pixel_stats {
  double mean = 0;
  double stddev = 1;
};

/// Over every pixel of every sample (one channel: the datasets here are
/// grayscale), in double. An empty dataset, or one whose pixels are all
/// equal, gets std 1 (nothing to scale by).
pixel_stats compute_pixel_stats(const dataset& d);

}  // namespace hydra::data
