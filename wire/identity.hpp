#pragma once
/// A node's identity: an Ed25519 key pair (libsodium) and the node id derived
/// from it, plus the signing primitives the wire format uses.

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "common/node_id.hpp"
#include "common/result.hpp"

namespace hydra::wire {

/// The protocol version this build speaks (Envelope.version).
inline constexpr std::uint16_t protocol_version = 2;

using public_key = std::array<std::uint8_t, 32>;
/// libsodium's Ed25519 secret key: the 32-byte seed followed by the public key.
using secret_key = std::array<std::uint8_t, 64>;
using signature = std::array<std::uint8_t, 64>;

/// A key pair and its node id (`id == id_of(pk)`). Plain value; copying it
/// copies the secret key, so pass it by reference.
struct identity {
  public_key pk{};
  secret_key sk{};
  node_id id{};
};

/// A fresh random key pair. Thread-safe.
identity generate_identity();

/// The node id of a public key: BLAKE2b-256(pk).
node_id id_of(const public_key& pk);

/// Rebuilds an identity from a stored secret key; errc::invalid_input when
/// the public half embedded in `sk` does not match its seed.
result<identity> identity_from_secret(const secret_key& sk);

/// Loads DIR/identity.key or creates it (creating DIR with mode 0700 if
/// needed). The file holds the 64-byte libsodium secret key; it is written
/// with mode 0600 through a temporary file, fsync and an atomic rename that
/// never replaces an existing key (two processes racing agree on one key),
/// and reused on every restart.
/// Errors: errc::invalid_input naming the file when it has the wrong size,
/// inconsistent content, is not a regular file, or is readable or writable
/// by group or others; errc::io when the OS refuses.
result<identity> load_or_create_identity(const std::string& dir);

/// The same for one key file at `path` (its folder must exist), e.g. a
/// contributor's `--as KEYFILE`.
result<identity> load_or_create_key_file(const std::string& path);

/// Ed25519 detached signature of `message`. Thread-safe.
signature sign(const identity& self, std::span<const std::uint8_t> message);

/// True iff `sig` is pk's signature of `message`. Thread-safe.
bool verify(const public_key& pk, std::span<const std::uint8_t> message, const signature& sig);

}  // namespace hydra::wire
