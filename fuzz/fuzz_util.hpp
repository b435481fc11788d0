#pragma once
/// Helpers shared by the fuzz targets: splitting one input into several
/// parts, and presenting bytes as a file without touching the disk.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hydra::fuzz {

/// Separates the parts of an input that feeds a parser several files.
/// make_seeds writes it between the parts; libFuzzer learns it from the seeds.
inline constexpr std::string_view part_separator = "\n@@@@\n";

/// The parts of `data` between separators (one part when there is none).
inline std::vector<std::string_view> split_parts(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string_view> out;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (;;) {
    const auto at = rest.find(part_separator);
    if (at == std::string_view::npos) break;
    out.push_back(rest.substr(0, at));
    rest.remove_prefix(at + part_separator.size());
  }
  out.push_back(rest);
  return out;
}

/// The inverse of split_parts, for the seed generator.
inline std::string join_parts(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += part_separator;
    out += parts[i];
  }
  return out;
}

/// A memfd reachable by path ("/proc/self/fd/N") for parsers that only
/// open files: each set() replaces its contents. Created once per process.
class memory_file {
 public:
  explicit memory_file(const char* name) : fd_(::memfd_create(name, 0)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;

  void set(std::string_view bytes) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const auto n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

/// Chunk sizes for feeding a stream parser in pieces: a small LCG seeded
/// from the input, so a crash reproduces from the input alone.
class chunker {
 public:
  explicit chunker(std::uint8_t seed) : state_(seed * 2654435761u + 1) {}
  /// 1 .. 64 bytes, or everything that is left when seed was 0.
  std::size_t next(std::size_t left) {
    if (state_ == 1) return left;
    state_ = state_ * 1103515245u + 12345u;
    const std::size_t n = 1 + (state_ >> 16) % 64;
    return n < left ? n : left;
  }

 private:
  std::uint32_t state_;
};

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace hydra::fuzz
