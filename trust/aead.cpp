#include "trust/aead.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cstdlib>

namespace hydra::trust {
namespace {

// An EVP failure with valid arguments means OpenSSL itself is broken (no
// AES-GCM provider, out of memory): our bug or the platform's, never a
// peer's doing, so it aborts rather than returning a value.
void check(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

void gcm::ctx_free::operator()(void* p) const { EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(p)); }

gcm::gcm(const aead_key& key, bool encrypt) : ctx_(EVP_CIPHER_CTX_new()), encrypt_(encrypt) {
  if (!ctx_) std::abort();
  auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_.get());
  check(EVP_CipherInit_ex(c, EVP_aes_256_gcm(), nullptr, key.data(), nullptr, encrypt ? 1 : 0));
}

gcm::gcm(gcm&&) noexcept = default;
gcm& gcm::operator=(gcm&&) noexcept = default;
gcm::~gcm() = default;

void gcm::rekey(const aead_key& key) {
  check(EVP_CipherInit_ex(static_cast<EVP_CIPHER_CTX*>(ctx_.get()), nullptr, nullptr, key.data(), nullptr,
                          encrypt_ ? 1 : 0));
}

void gcm::begin(const aead_nonce& nonce, std::span<const std::uint8_t> aad) {
  auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_.get());
  check(EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, nonce.data(), encrypt_ ? 1 : 0));
  int len = 0;
  if (!aad.empty()) check(EVP_CipherUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())));
}

void gcm::update(const std::uint8_t* in, std::size_t n, std::uint8_t* out) {
  auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_.get());
  while (n > 0) {  // EVP takes int lengths
    const int k = static_cast<int>(std::min<std::size_t>(n, 1u << 30));
    int len = 0;
    check(EVP_CipherUpdate(c, out, &len, in, k));
    in += k;
    out += k;
    n -= static_cast<std::size_t>(k);
  }
}

void gcm::seal_end(std::uint8_t* tag) {
  auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_.get());
  int len = 0;
  std::uint8_t none[16];
  check(EVP_EncryptFinal_ex(c, none, &len));
  check(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(aead_tag_bytes), tag));
}

bool gcm::open_end(const std::uint8_t* tag) {
  auto* c = static_cast<EVP_CIPHER_CTX*>(ctx_.get());
  check(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(aead_tag_bytes), const_cast<std::uint8_t*>(tag)));
  int len = 0;
  std::uint8_t none[16];
  return EVP_DecryptFinal_ex(c, none, &len) == 1;
}

aead_key keyed_hash(const aead_key& key, std::initializer_list<std::span<const std::uint8_t>> parts) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), key.size(), 32);
  for (auto p : parts) crypto_generichash_update(&st, p.data(), p.size());
  aead_key out;
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

}  // namespace hydra::trust
