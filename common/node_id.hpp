#pragma once
/// Node ids: 256-bit, BLAKE2b-256 of the node's Ed25519 public key. Kademlia
/// measures distance between ids as their XOR.

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <string>

#include "common/hash.hpp"

namespace hydra {

using node_id = std::array<std::uint8_t, 32>;

/// XOR distance; compare distances with operator< (big-endian byte order).
inline node_id xor_distance(const node_id& a, const node_id& b) {
  node_id d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = a[i] ^ b[i];
  return d;
}

/// Index of the highest differing bit: 255 for ids differing in the top bit,
/// 0 for ids differing only in the lowest; -1 for equal ids. This is the
/// k-bucket an id falls into, seen from `a`.
inline int bucket_index(const node_id& a, const node_id& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::uint8_t x = a[i] ^ b[i];
    if (x) return static_cast<int>((a.size() - 1 - i) * 8 + (7 - std::countl_zero(x)));
  }
  return -1;
}

/// Full lower-case hex (64 characters).
inline std::string id_hex(const node_id& id) { return to_hex(id); }
/// The first 8 bytes in hex, for logs and tables.
inline std::string id_short(const node_id& id) { return to_hex(std::span(id.data(), 8)); }

}  // namespace hydra
