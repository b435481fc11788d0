#pragma once
/// Canonical little-endian encodings, shared by every hand-laid signed
/// format (ledger entries, certificates, the cluster file): append helpers
/// and a bounds-checked reader that turns `ok` false on the first overrun
/// instead of reading past the input. Plus a full write(2) loop.

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace hydra {

/// Appends the low `n` bytes of `v`, least significant first.
inline void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

template <class Bytes>
void put_bytes(std::vector<std::uint8_t>& out, const Bytes& b) {
  out.insert(out.end(), b.begin(), b.end());
}

/// A string prefixed by its length in `len_bytes` bytes (2 or 4).
template <class Text>
void put_text(std::vector<std::uint8_t>& out, const Text& s, int len_bytes) {
  put_le(out, s.size(), len_bytes);
  put_bytes(out, s);
}

struct byte_reader {
  std::span<const std::uint8_t> in;
  std::size_t pos = 0;
  bool ok = true;

  bool take(void* dst, std::size_t n) {
    if (!ok || in.size() - pos < n) return ok = false;
    std::memcpy(dst, in.data() + pos, n);
    pos += n;
    return true;
  }
  /// An unsigned little-endian integer of `n` bytes (0 after an overrun).
  std::uint64_t uint(int n) {
    std::uint8_t b[8] = {};
    if (!take(b, static_cast<std::size_t>(n))) return 0;
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  /// A string with a `len_bytes`-byte length of at most `max` bytes; false
  /// when longer or cut off.
  bool text(std::string& s, int len_bytes, std::size_t max) {
    const auto n = static_cast<std::size_t>(uint(len_bytes));
    if (!ok || n > max || in.size() - pos < n) return ok = false;
    s.assign(reinterpret_cast<const char*>(in.data() + pos), n);
    pos += n;
    return true;
  }
  bool done() const { return ok && pos == in.size(); }
};

/// Writes all n bytes to fd (retrying short writes and EINTR).
inline bool write_all_fd(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace hydra
