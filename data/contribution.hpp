#pragma once
/// User-contributed training data: parsing and validating what a contributor
/// sends (IDX, CSV or PGM files), reading it from disk on the client, writing
/// it back out, and spotting samples that duplicate already-accepted ones.
///
/// Everything here is pure logic over values except read_contribution(),
/// which reads the local file system. No function throws.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/hash.hpp"
#include "common/result.hpp"
#include "data/idx.hpp"

namespace hydra::data {

/// One file of a contribution, as sent over the wire: a relative name and its bytes.
struct contribution_file {
  std::string name;
  std::string bytes;
};

/// What a contribution must look like and how big it may be.
struct contribution_limits {
  std::size_t max_samples = 10000;
  std::size_t max_bytes = 16u << 20;  ///< total over all files, compressed size as sent
  int rows = 28, cols = 28, num_classes = 10;
};

/// Parses and validates a whole contribution, all or nothing.
///
/// Formats:
///  - "idx": exactly two files, an IDX3 ubyte image file and an IDX1 ubyte
///    label file, each plain or gzip; which is which is decided by the
///    magic number, not the name.
///  - "csv": one file; each line `label,p0,...,p{rows*cols-1}` with integers
///    (pixels 0..255). A first non-blank line whose first field is not an
///    integer is a header and skipped; blank lines are skipped; CRLF and a
///    UTF-8 BOM are accepted.
///  - "pgm": one file per image, named "<label>/<anything>.pgm", binary P5 or
///    ASCII P2, maxval 1..255 scaled to 0..255, '#' comments in the header.
///
/// Returns a dataset of lim.rows x lim.cols images with labels <
/// lim.num_classes (num_classes set to lim.num_classes), samples in file
/// order. Errors are errc::invalid_input with a message naming the file and,
/// where it applies, the line or sample ("digits.csv line 17: 783 pixel
/// values, expected 784"). Total bytes above lim.max_bytes is rejected before
/// any parsing; more than lim.max_samples samples or none at all is an error.
result<dataset> parse_contribution(const std::string& format, const std::vector<contribution_file>& files,
                                   const contribution_limits& lim = {});

/// A contribution ready to send: the format name and its files.
struct contribution_bundle {
  std::string format;
  std::vector<contribution_file> files;
};

/// Client side: reads PATH from disk.
///  - a file ending in ".csv" -> "csv" (file named by its file name);
///  - a directory with digit-named subdirectories holding .pgm files -> "pgm"
///    (names "<label>/<file>", sorted);
///  - a directory holding exactly one IDX image file and one IDX label file
///    (recognised by content, plain or gzip) -> "idx".
/// A single IDX or gzip file is an error asking for its companion file.
/// Never reads more than lim.max_bytes in total: sizes are checked before
/// reading. Content is not validated (see parse_contribution). Errors name
/// the path: errc::not_found when it does not exist, errc::io when the OS
/// refuses, errc::invalid_input otherwise.
result<contribution_bundle> read_contribution(const std::string& path, const contribution_limits& lim = {});

/// As above for several paths: one path behaves as read_contribution(path);
/// two regular files must be an IDX image file and an IDX label file, in any order.
result<contribution_bundle> read_contribution(const std::vector<std::string>& paths,
                                              const contribution_limits& lim = {});

/// Samples [from, min(to, size)) of `d` as CSV text: a header line
/// "label,p0,...", then one line per sample, pixels round(v * 255).
std::string to_csv(const dataset& d, std::size_t from, std::size_t to);

/// Samples [from, min(to, size)) of `d` as format "idx": a plain IDX3 image
/// file "contribution-images-idx3-ubyte" and a plain IDX1 label file
/// "contribution-labels-idx1-ubyte".
contribution_bundle to_idx_bundle(const dataset& d, std::size_t from, std::size_t to);

/// How a sample relates to those already in a dedup_index.
enum class dup_kind { unique, exact, near };

/// When a dedup_index calls two images near duplicates. The defaults are
/// tuned on Fashion-MNIST (see dedup_index).
struct dedup_options {
  int near_bits = 8;          ///< candidates: average hashes at most this many bits apart (Hamming)
  int pixel_tolerance = 32;   ///< a pixel counts as changed when it differs by more than this (0..255 units)
  double max_changed = 0.03;  ///< confirmed: at most this fraction of the pixels changed (23 of 784)
  int rows = 28, cols = 28;   ///< image shape, both > 0
};

/// Duplicate detection over accepted samples.
///
/// Exact: BLAKE2b-256 of the pixels quantized to uint8 (round(v * 255)).
/// Near: a 64-bit average hash (the image is divided into 8 x 8 equal-area
/// blocks, fractional pixels weighted by overlap; a bit is set when its
/// block's mean is above the mean of all 64). Entries whose hash is within
/// near_bits are confirmed by counting the pixels that differ by more than
/// pixel_tolerance: at most max_changed * rows * cols of them.
///
/// Why not the mean absolute difference (MAD): on Fashion-MNIST a copy with
/// +-8 levels of noise on every pixel has a MAD of 6.0 on average (up to
/// 7.4), while 1% of distinct images already have an indexed look-alike
/// within MAD 6.1 and 5% within 8.0, so no MAD threshold separates them.
/// Counting changed pixels does: noise of up to +-pixel_tolerance changes
/// none, 20 replaced pixels change at most 20, while distinct look-alikes
/// change 33 or more in 99.5% of cases.
///
/// Measured with the defaults (first 20000 Fashion-MNIST training images
/// indexed, the next 5000 checked; contribution.test.cpp): 7 of the 5000
/// (0.14%) are flagged, none exact; these are items the dataset itself
/// nearly repeats. Copies of 500 indexed images with +-8 noise on every
/// pixel, uniform noise in -8..8, or 10 or 20 pixels replaced by random
/// values were all flagged (near_bits 6 missed 4 of the 500 with 20
/// replaced pixels: their hash moved 7 to 9 bits).
///
/// Lookups scan all hashes (one popcount each) and confirm candidates over
/// the stored pixels, stopping at the first match. A band index (buckets
/// per 8-bit slice of the hash) does not pay here: Fashion-MNIST hashes are
/// so alike within a class that a check visited more bucket entries than
/// the index held, and about 8% of all entries are genuine candidates
/// within 6 bits anyway. Measured: about 0.2 ms per check against 20000
/// entries on one core, linear in size(). Memory: rows * cols bytes plus
/// about 100 bytes per entry (hash, digest, hash-set node).
///
/// Not thread-safe for add(); concurrent check() calls are fine.
class dedup_index {
 public:
  explicit dedup_index(dedup_options opt = {});

  /// Precondition: image.size() == rows * cols, values in [0, 1] (others are clamped).
  dup_kind check(std::span<const float> image) const;
  /// Adds an image (duplicates too). Same precondition as check().
  void add(std::span<const float> image);
  /// Number of images added.
  std::size_t size() const { return hashes_.size(); }

 private:
  struct digest_hash {
    std::size_t operator()(const digest256& d) const;
  };
  std::vector<std::uint8_t> quantize(std::span<const float> image) const;
  std::uint64_t average_hash(const std::uint8_t* px) const;
  bool confirms(std::size_t entry, const std::uint8_t* px) const;
  bool near_match(std::uint64_t hash, const std::uint8_t* px) const;

  dedup_options opt_;
  std::size_t max_changed_pixels_;
  std::vector<std::uint32_t> row_weight_, col_weight_;  ///< [block * n + pixel]: overlap in 1/8 pixels
  std::unordered_set<digest256, digest_hash> exact_;
  std::vector<std::uint64_t> hashes_;
  std::vector<std::uint8_t> pixels_;  ///< size() * rows * cols quantized pixels
};

}  // namespace hydra::data
