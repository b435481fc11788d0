#pragma once
/// Loading MNIST-style IDX files (Fashion-MNIST, MNIST) into memory.
///
/// The IDX format (http://yann.lecun.com/exdb/mnist/) is a big-endian header
/// (magic 0x0000 08 NN: unsigned bytes, NN dimensions; then NN uint32 sizes)
/// followed by the raw bytes. Files may be plain or gzip-compressed. Every
/// malformed input is reported as an error naming the file and the problem;
/// the loader never allocates more than a header-declared size that has
/// already been checked against the file.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace hydra::data {

/// A labelled image set held in memory. Plain value; copyable and movable.
struct dataset {
  int rows = 0, cols = 0;            ///< image height and width (28 x 28 for MNIST)
  int num_classes = 10;              ///< every label is < num_classes
  std::vector<float> images;         ///< size()*rows*cols floats, pixel/255.0f, row-major per sample
  std::vector<std::uint8_t> labels;  ///< size() labels

  /// Number of samples.
  std::size_t size() const { return labels.size(); }
  /// Floats per sample (rows * cols).
  std::size_t sample_size() const { return std::size_t(rows) * cols; }
};

/// Reads an IDX3 ubyte image file and an IDX1 ubyte label file, each plain or
/// gzip (detected by the magic bytes 1f 8b, not by the name).
///
/// Errors: errc::not_found when a file does not exist, errc::io when the OS
/// refuses to read it, errc::invalid_input for anything malformed (wrong
/// magic, wrong dimension count, truncation, corrupt or truncated gzip,
/// trailing bytes, absurd sizes, count mismatch, label >= num_classes). The
/// message starts with the offending path.
result<dataset> load_idx(const std::string& images_path, const std::string& labels_path);

/// The standard train/test division of a dataset directory.
struct split {
  dataset train, test;
};

/// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte from `dir`, each
/// optionally with a ".gz" suffix and also in the dotted spelling
/// ("train-images.idx3-ubyte"). When both plain and gzip copies exist the
/// plain one is used. A missing file is errc::not_found naming the dir and
/// the file; otherwise errors are those of load_idx().
result<split> load_dir(const std::string& dir);

/// The number of training samples in `dir`, from the label file's header
/// alone (cheap: no decompression of the images). Errors as for load_dir.
result<std::size_t> count_train_samples(const std::string& dir);

/// Where the Debian image keeps Fashion-MNIST: "/usr/share/datasets/fashion-mnist".
std::string default_data_dir();

}  // namespace hydra::data
