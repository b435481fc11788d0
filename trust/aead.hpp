#pragma once
/// AES-256-GCM through OpenSSL 3 EVP, the record cipher of trust/channel.hpp.
/// OpenSSL rather than libsodium because it is 2.4x faster here (4.3 vs
/// 1.78 GB/s on one core with AES-NI/VAES, /work/shared/STACK.md) and the
/// data plane pushes gigabytes through it. Internal to the trust module.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>

namespace hydra::trust {

using aead_key = std::array<std::uint8_t, 32>;
using aead_nonce = std::array<std::uint8_t, 12>;
inline constexpr std::size_t aead_tag_bytes = 16;

/// One direction of AES-256-GCM with a fixed key (until rekey()). A message
/// is begin() → update()* → seal_end()/open_end(); update() may be called
/// on any split of the message, which lets a caller encrypt gathered
/// buffers without joining them. Movable, not copyable; not thread-safe.
class gcm {
 public:
  gcm(const aead_key& key, bool encrypt);
  gcm(gcm&&) noexcept;
  gcm& operator=(gcm&&) noexcept;
  ~gcm();

  /// Replaces the key (the next begin() uses it).
  void rekey(const aead_key& key);
  /// Starts a message under `nonce` with additional data `aad`.
  void begin(const aead_nonce& nonce, std::span<const std::uint8_t> aad);
  /// En/decrypts n bytes from `in` to `out` (may be equal, not otherwise overlapping).
  void update(const std::uint8_t* in, std::size_t n, std::uint8_t* out);
  /// Encrypting: writes the 16-byte tag.
  void seal_end(std::uint8_t* tag);
  /// Decrypting: true iff `tag` authenticates the message. On false the
  /// plaintext written by update() must be discarded.
  [[nodiscard]] bool open_end(const std::uint8_t* tag);

 private:
  struct ctx_free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, ctx_free> ctx_;
  bool encrypt_;
};

/// BLAKE2b-256 keyed by `key` over the concatenation of `parts`.
aead_key keyed_hash(const aead_key& key, std::initializer_list<std::span<const std::uint8_t>> parts);

}  // namespace hydra::trust
