#pragma once
/// A small, fully specified random generator (xoshiro256** seeded by
/// splitmix64). Unlike std::uniform_*_distribution its outputs are the same on
/// every platform and standard library, which bit-identical runs need.

#include <cstdint>

namespace hydra {

class rng {
 public:
  explicit rng(std::uint64_t seed) {
    for (auto& w : s_) w = splitmix(seed);
  }

  /// Derives an independent stream, e.g. one per epoch or per layer.
  static rng derive(std::uint64_t seed, std::uint64_t stream) {
    return rng(seed ^ (0x9e3779b97f4a7c15ull * (stream + 1)));
  }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 24 random bits.
  float uniform01() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform01(); }

  /// Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32
  /// for the sizes we use, and deterministic).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

}  // namespace hydra
