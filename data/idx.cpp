#include "data/idx.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>

namespace hydra::data {
namespace {

/// No IDX payload we accept is larger than this; MNIST's biggest file holds 47 MB.
constexpr std::uint64_t max_payload_bytes = std::uint64_t(1) << 28;
/// Deflate cannot do better than about 1032:1, so a gzip file of S bytes
/// cannot inflate to more than this many times S (a cheap bomb guard).
constexpr std::uint64_t max_inflate_ratio = 1032;
/// Beyond this many trailing bytes we stop counting and say "at least".
constexpr std::uint64_t max_counted_trailing = std::uint64_t(1) << 20;
constexpr std::size_t chunk_bytes = std::size_t(1) << 18;

std::string num(std::uint64_t v) { return std::to_string(v); }

std::string hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

/// Sequential reader over a plain or gzip file (gzip detected by magic
/// bytes). Truncation is not a failure: read() returns fewer bytes and the
/// caller words the message; corrupt data and OS errors set failure().
/// Not movable, because zlib's state points back at its z_stream.
class reader {
 public:
  explicit reader(std::string path) : path_(std::move(path)) {}
  ~reader() {
    if (inflating_) inflateEnd(&z_);
    if (file_) std::fclose(file_);
  }
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  status open();
  /// Reads up to n bytes; fewer only at the end of the data or on failure.
  std::size_t read(std::uint8_t* dst, std::size_t n) { return gzip_ ? read_gzip(dst, n) : read_plain(dst, n); }
  const std::optional<error>& failure() const { return failure_; }
  /// True when a gzip stream ended before its trailer.
  bool truncated() const { return truncated_; }
  bool gzip() const { return gzip_; }
  std::uint64_t file_bytes() const { return file_bytes_; }
  error problem(const std::string& what) const { return make_error(errc::invalid_input, path_ + ": " + what); }

 private:
  std::size_t read_plain(std::uint8_t* dst, std::size_t n);
  std::size_t read_gzip(std::uint8_t* dst, std::size_t n);
  bool fill(std::size_t at_least);
  bool next_member();
  void fail(errc c, const std::string& what) {
    if (!failure_) failure_ = make_error(c, path_ + ": " + what);
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t file_bytes_ = 0;
  bool gzip_ = false;
  bool inflating_ = false;
  bool stream_done_ = false;
  bool truncated_ = false;
  std::optional<error> failure_;
  // next_in/avail_in double as the read-ahead buffer for plain files too.
  z_stream z_{};
  std::vector<std::uint8_t> in_;
};

status reader::open() {
  file_ = std::fopen(path_.c_str(), "rb");
  if (!file_) {
    const int e = errno;
    return make_error(e == ENOENT ? errc::not_found : errc::io, path_ + ": cannot open: " + std::strerror(e));
  }
  struct stat st {};
  if (fstat(fileno(file_), &st) != 0) return make_error(errc::io, path_ + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error(errc::io, path_ + ": not a regular file");
  file_bytes_ = static_cast<std::uint64_t>(st.st_size);
  in_.resize(chunk_bytes);
  z_.next_in = in_.data();
  fill(2);
  if (failure_) return *failure_;
  gzip_ = z_.avail_in >= 2 && z_.next_in[0] == 0x1f && z_.next_in[1] == 0x8b;
  if (gzip_) {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) return make_error(errc::io, path_ + ": cannot initialise zlib");
    inflating_ = true;
  }
  return {};
}

/// Makes at least `at_least` unread bytes available if the file has them.
bool reader::fill(std::size_t at_least) {
  if (z_.avail_in >= at_least) return true;
  if (z_.avail_in > 0 && z_.next_in != in_.data()) std::memmove(in_.data(), z_.next_in, z_.avail_in);
  z_.next_in = in_.data();
  while (z_.avail_in < at_least) {
    const std::size_t got = std::fread(in_.data() + z_.avail_in, 1, in_.size() - z_.avail_in, file_);
    if (got == 0) {
      if (std::ferror(file_)) fail(errc::io, std::string("read error: ") + std::strerror(errno));
      return false;
    }
    z_.avail_in += static_cast<uInt>(got);
  }
  return true;
}

std::size_t reader::read_plain(std::uint8_t* dst, std::size_t n) {
  if (n == 0) return 0;  // an empty dataset's buffer may be null: memcpy(null, ..., 0) is undefined
  std::size_t got = std::min<std::size_t>(n, z_.avail_in);
  std::memcpy(dst, z_.next_in, got);
  z_.next_in += got;
  z_.avail_in -= static_cast<uInt>(got);
  if (got < n) {
    got += std::fread(dst + got, 1, n - got, file_);
    if (got < n && std::ferror(file_)) fail(errc::io, std::string("read error: ") + std::strerror(errno));
  }
  return got;
}

std::size_t reader::read_gzip(std::uint8_t* dst, std::size_t n) {
  std::size_t got = 0;
  while (got < n && !stream_done_ && !failure_) {
    if (z_.avail_in == 0 && !fill(1)) {
      truncated_ = !failure_;
      stream_done_ = true;
      break;
    }
    const std::size_t want = std::min<std::size_t>(n - got, std::size_t(1) << 30);
    z_.next_out = dst + got;
    z_.avail_out = static_cast<uInt>(want);
    const int rc = inflate(&z_, Z_NO_FLUSH);
    got += want - z_.avail_out;
    if (rc == Z_STREAM_END) {
      stream_done_ = !next_member();
    } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      fail(errc::invalid_input, std::string("corrupt gzip data: ") + (z_.msg ? z_.msg : "invalid stream"));
    } else if (rc != Z_OK) {
      fail(errc::io, "zlib inflate failed with code " + std::to_string(rc));
    }
  }
  return got;
}

/// After a member's end: true when another gzip member follows (concatenated
/// members are valid gzip); anything else left in the file is garbage.
bool reader::next_member() {
  if (!fill(1)) return false;
  if (!fill(2) || z_.next_in[0] != 0x1f || z_.next_in[1] != 0x8b) {
    fail(errc::invalid_input, "trailing garbage after the gzip stream");
    return false;
  }
  inflateReset(&z_);
  return true;
}

/// One parsed IDX file: `count` items of rows x cols bytes (1 x 1 for labels).
struct idx_file {
  std::uint32_t count = 0, rows = 1, cols = 1;
  std::vector<std::uint8_t> bytes;
};

std::string gzip_note(const reader& r) { return r.truncated() ? " (the gzip stream ends early)" : ""; }

status check_magic(const reader& r, const std::uint8_t* h, int dims) {
  const std::string magic = "magic number " + hex32(be32(h));
  if (h[0] != 0 || h[1] != 0) return r.problem("wrong " + magic + ": not an IDX file");
  if (h[2] != 0x08) return r.problem(magic + ": unsupported element type (expected 0x08, unsigned byte)");
  if (h[3] != dims)
    return r.problem(magic + ": wrong dimension count " + num(h[3]) + ", expected " + num(dims) +
                     (dims == 3 ? " (an IDX3 image file)" : " (an IDX1 label file)"));
  return {};
}

/// Checks the declared size against hard limits and the file before anything is allocated.
status check_size(const reader& r, const idx_file& f, std::size_t header_bytes, const char* items) {
  const std::uint64_t sample = std::uint64_t(f.rows) * f.cols;
  const std::string shape = num(f.count) + " x " + num(f.rows) + " x " + num(f.cols);
  if (sample == 0) return r.problem("absurd dimensions: header declares " + shape + " (rows and cols must be positive)");
  if (sample > max_payload_bytes || sample * f.count > max_payload_bytes)
    return r.problem("absurd dimensions: header declares " + shape + ", more than the " + num(max_payload_bytes) +
                     "-byte limit");
  const std::uint64_t payload = sample * f.count;
  if (r.gzip()) {
    if (payload > r.file_bytes() * max_inflate_ratio)
      return r.problem("absurd dimensions: header declares " + shape + " = " + num(payload) + " bytes, more than a " +
                       num(r.file_bytes()) + "-byte gzip file can hold");
    return {};
  }
  const std::uint64_t have = r.file_bytes() > header_bytes ? r.file_bytes() - header_bytes : 0;
  if (have < payload)
    return r.problem("truncated: header declares " + num(f.count) + " " + items + ", file holds " + num(have / sample));
  if (have > payload)
    return r.problem("trailing garbage: " + num(have - payload) + " bytes after the declared " + num(f.count) + " " +
                     items);
  return {};
}

/// Whatever follows the declared data must be nothing, and a gzip stream must end cleanly (CRC checked).
status check_end(reader& r, const idx_file& f, const char* items) {
  std::uint8_t scratch[4096];
  std::uint64_t extra = 0;
  while (extra <= max_counted_trailing) {
    const std::size_t k = r.read(scratch, sizeof scratch);
    if (k == 0) break;
    extra += k;
  }
  if (r.failure()) return *r.failure();
  if (extra > 0)
    return r.problem("trailing garbage: " + std::string(extra > max_counted_trailing ? "at least " : "") + num(extra) +
                     " bytes after the declared " + num(f.count) + " " + items);
  if (r.truncated()) return r.problem("truncated gzip stream: it ends before its trailer");
  return {};
}

result<idx_file> read_idx(const std::string& path, int dims, const char* items) {
  reader r(path);
  if (auto st = r.open(); !st) return st.err();
  const std::size_t header_bytes = 4 + 4 * std::size_t(dims);
  std::uint8_t h[16] = {};
  std::size_t got = r.read(h, 4);
  if (got == 4) {
    if (auto st = check_magic(r, h, dims); !st) return st.err();
    got += r.read(h + 4, header_bytes - 4);
  }
  if (r.failure()) return *r.failure();
  if (got < header_bytes)
    return r.problem("truncated: header needs " + num(header_bytes) + " bytes, file holds " + num(got) + gzip_note(r));
  idx_file f;
  f.count = be32(h + 4);
  if (dims == 3) f.rows = be32(h + 8), f.cols = be32(h + 12);
  if (auto st = check_size(r, f, header_bytes, items); !st) return st.err();
  const std::size_t sample = std::size_t(f.rows) * f.cols;
  f.bytes.resize(sample * f.count);
  got = r.read(f.bytes.data(), f.bytes.size());
  if (r.failure()) return *r.failure();
  if (got < f.bytes.size())
    return r.problem("truncated: header declares " + num(f.count) + " " + items + ", file holds " + num(got / sample) +
                     gzip_note(r));
  if (auto st = check_end(r, f, items); !st) return st.err();
  return f;
}

status check_labels(const std::string& path, const std::vector<std::uint8_t>& labels, int num_classes) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= num_classes)
      return make_error(errc::invalid_input, path + ": label " + num(labels[i]) + " at index " + num(i) +
                                                 " is >= num_classes " + num(num_classes));
  return {};
}

result<dataset> load_idx_unchecked(const std::string& images_path, const std::string& labels_path) {
  auto images = read_idx(images_path, 3, "images");
  if (!images) return images.err();
  auto labels = read_idx(labels_path, 1, "labels");
  if (!labels) return labels.err();
  if (labels->count != images->count)
    return make_error(errc::invalid_input, labels_path + ": count mismatch: holds " + num(labels->count) +
                                               " labels but " + images_path + " holds " + num(images->count) +
                                               " images");
  dataset d;
  d.rows = static_cast<int>(images->rows);
  d.cols = static_cast<int>(images->cols);
  if (auto st = check_labels(labels_path, labels->bytes, d.num_classes); !st) return st.err();
  d.labels = std::move(labels->bytes);
  const std::vector<std::uint8_t>& px = images->bytes;
  d.images.resize(px.size());
  float* out = d.images.data();
  for (std::size_t i = 0; i < px.size(); ++i) out[i] = float(px[i]) / 255.0f;
  return d;
}

/// Finds one of the four files under either spelling, plain preferred to gzip.
result<std::string> locate(const std::filesystem::path& dir, const std::string& set, const std::string& kind,
                           int dims) {
  const std::string dashed = set + "-" + kind + "-idx" + num(dims) + "-ubyte";
  const std::string dotted = set + "-" + kind + ".idx" + num(dims) + "-ubyte";
  for (const std::string& name : {dashed, dashed + ".gz", dotted, dotted + ".gz"}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / name, ec)) return (dir / name).string();
  }
  return make_error(errc::not_found, dir.string() + ": missing " + dashed + "[.gz] (also tried " + dotted + "[.gz])");
}

result<split> load_dir_unchecked(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return make_error(errc::not_found, dir + ": no such directory");
  std::string paths[4];
  const char* sets[2] = {"train", "t10k"};
  for (int i = 0; i < 4; ++i) {
    auto p = locate(dir, sets[i / 2], i % 2 ? "labels" : "images", i % 2 ? 1 : 3);
    if (!p) return p.err();
    paths[i] = std::move(*p);
  }
  auto train = load_idx_unchecked(paths[0], paths[1]);
  if (!train) return train.err();
  auto test = load_idx_unchecked(paths[2], paths[3]);
  if (!test) return test.err();
  return split{std::move(*train), std::move(*test)};
}

}  // namespace

// The public entry points only add the guarantee that no exception escapes.
result<dataset> load_idx(const std::string& images_path, const std::string& labels_path) {
  try {
    return load_idx_unchecked(images_path, labels_path);
  } catch (const std::bad_alloc&) {
    return make_error(errc::io, images_path + ": out of memory while loading");
  } catch (const std::exception& e) {
    return make_error(errc::internal, images_path + ": " + e.what());
  }
}

result<split> load_dir(const std::string& dir) {
  try {
    return load_dir_unchecked(dir);
  } catch (const std::bad_alloc&) {
    return make_error(errc::io, dir + ": out of memory while loading");
  } catch (const std::exception& e) {
    return make_error(errc::internal, dir + ": " + e.what());
  }
}

result<std::size_t> count_train_samples(const std::string& dir) {
  try {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return make_error(errc::not_found, dir + ": no such directory");
    auto path = locate(dir, "train", "labels", 1);
    if (!path) return path.err();
    reader r(*path);
    if (auto st = r.open(); !st) return st.err();
    std::uint8_t h[8] = {};
    std::size_t got = r.read(h, 4);
    if (got == 4) {
      if (auto st = check_magic(r, h, 1); !st) return st.err();
      got += r.read(h + 4, 4);
    }
    if (r.failure()) return *r.failure();
    if (got < 8) return r.problem("truncated: header needs 8 bytes, file holds " + num(got));
    return static_cast<std::size_t>(be32(h + 4));
  } catch (const std::exception& e) {
    return make_error(errc::internal, dir + ": " + e.what());
  }
}

std::string default_data_dir() { return "/usr/share/datasets/fashion-mnist"; }

}  // namespace hydra::data
