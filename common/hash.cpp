#include "common/hash.hpp"

#include <sodium.h>

#include <stdexcept>

namespace hydra {
namespace {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

digest256 blake2b_256(std::span<const std::byte> bytes) {
  ensure_sodium();
  digest256 out{};
  crypto_generichash(out.data(), out.size(),
                     reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr, 0);
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

std::string hash_floats(std::span<const float> values) {
  auto d = blake2b_256(std::as_bytes(values));
  return to_hex(d);
}

}  // namespace hydra
