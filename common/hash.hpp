#pragma once
/// BLAKE2b digests (libsodium) of byte ranges, as raw bytes or hex text.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hydra {

using digest256 = std::array<std::uint8_t, 32>;

/// BLAKE2b-256 of `bytes`. Thread-safe.
digest256 blake2b_256(std::span<const std::byte> bytes);

/// Lower-case hex of any byte range.
std::string to_hex(std::span<const std::uint8_t> bytes);

/// Hex BLAKE2b-256 of a float buffer's exact bytes: two buffers hash equal
/// iff they are bit-identical. Used as `weights_hash`.
std::string hash_floats(std::span<const float> values);

}  // namespace hydra
