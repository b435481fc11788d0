#pragma once
/// Reading the segment table that starts every message in Cap'n Proto's
/// stream serialization: u32 (segment count - 1), u32 size of each segment in
/// words, zero padding to a word boundary, then the segments. Shared by the
/// splitter (checks a table before buffering a body) and open().

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.hpp"

namespace hydra::wire::internal {

inline std::uint32_t load_le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

inline error too_big(const char* what, std::uint64_t bytes, std::size_t limit) {
  return make_error(errc::invalid_input, std::string(what) + " of " + std::to_string(bytes) +
                                             " bytes exceeds limit of " + std::to_string(limit));
}

/// From a message's first 8 bytes: the size in bytes of its whole segment
/// table. Fails when it declares more than `max_segs` segments or when the
/// first segment alone is larger than `limit`.
inline result<std::size_t> table_bytes(const std::uint8_t* first8, std::size_t limit,
                                       std::size_t max_segs, const char* what) {
  const std::uint64_t count = std::uint64_t{load_le32(first8)} + 1;
  if (count > max_segs)
    return make_error(errc::invalid_input, "segment table declares " + std::to_string(count) +
                                               " segments (limit " + std::to_string(max_segs) +
                                               ")");
  const std::uint64_t table = (4 + 4 * count + 7) / 8 * 8;
  const std::uint64_t lower_bound = table + 8 * std::uint64_t{load_le32(first8 + 4)};
  if (lower_bound > limit) return too_big(what, lower_bound, limit);
  return static_cast<std::size_t>(table);
}

/// From a whole segment table (as sized by table_bytes()): the message's
/// total size in bytes, table included. Fails past `limit`.
inline result<std::size_t> message_bytes(std::span<const std::uint8_t> table, std::size_t limit,
                                         const char* what) {
  const std::uint64_t count = std::uint64_t{load_le32(table.data())} + 1;
  std::uint64_t words = 0;
  for (std::uint64_t i = 0; i < count; ++i) words += load_le32(table.data() + 4 + 4 * i);
  const std::uint64_t total = table.size() + 8 * words;
  if (total > limit) return too_big(what, total, limit);
  return static_cast<std::size_t>(total);
}

/// Checks that `bytes` is exactly one message of at most `limit` bytes.
inline status check_whole_message(std::span<const std::uint8_t> bytes, std::size_t limit,
                                  std::size_t max_segs, const char* what) {
  const std::string name(what);
  if (bytes.size() < 8)
    return make_error(errc::invalid_input,
                      name + " of " + std::to_string(bytes.size()) + " bytes is too short");
  auto table = table_bytes(bytes.data(), limit, max_segs, what);
  if (!table) return table.err();
  if (bytes.size() < *table)
    return make_error(errc::invalid_input, name + " of " + std::to_string(bytes.size()) +
                                               " bytes is shorter than its segment table");
  auto total = message_bytes(bytes.first(*table), limit, what);
  if (!total) return total.err();
  if (*total != bytes.size())
    return make_error(errc::invalid_input, name + " is " + std::to_string(bytes.size()) +
                                               " bytes but its segment table declares " +
                                               std::to_string(*total));
  return {};
}

}  // namespace hydra::wire::internal
