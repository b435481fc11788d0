#pragma once
/// Hex decoding for ledger subjects and payload fields (either case).

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "ledger/entry.hpp"

namespace hydra::ledger::internal {

inline int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The bytes of an even-length hex string; nullopt on any other character.
inline std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::vector<std::uint8_t> out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

/// A public key written as exactly 64 hex digits.
inline std::optional<public_key> parse_key_hex(std::string_view s) {
  if (s.size() != 2 * public_key{}.size()) return std::nullopt;
  const auto bytes = parse_hex(s);
  if (!bytes) return std::nullopt;
  public_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = (*bytes)[i];
  return k;
}

}  // namespace hydra::ledger::internal
