#pragma once
/// Deterministic randomness for fuzzing: a libsodium randombytes
/// implementation that is not random at all, and key pairs from fixed seeds.
/// With it a target replays exactly what make_seeds recorded.

#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "wire/identity.hpp"

namespace hydra::fuzz {

/// splitmix64 behind libsodium's randombytes API, reset with reset_random().
namespace fixed_random_detail {
inline std::uint64_t state = 0;
inline std::uint64_t next() {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline const char* name() { return "hydra-fuzz-fixed"; }
inline std::uint32_t random() { return static_cast<std::uint32_t>(next()); }
inline void stir() {}
inline void buf(void* out, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(out);
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = next();
    std::memcpy(p + i, &v, n - i < 8 ? n - i : 8);
  }
}
inline randombytes_implementation impl = {name, random, stir, nullptr, buf, nullptr};
}  // namespace fixed_random_detail

/// Call before anything touches libsodium.
inline void install_fixed_random() {
  if (randombytes_set_implementation(&fixed_random_detail::impl) != 0 || sodium_init() < 0) std::abort();
}
inline void reset_random(std::uint64_t seed) { fixed_random_detail::state = seed; }

inline wire::identity fixed_identity(std::uint8_t n) {
  std::uint8_t seed[32] = {};
  seed[0] = n;
  wire::identity id;
  crypto_sign_seed_keypair(id.pk.data(), id.sk.data(), seed);
  id.id = wire::id_of(id.pk);
  return id;
}

}  // namespace hydra::fuzz
