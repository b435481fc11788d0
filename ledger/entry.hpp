#pragma once
/// Ledger entries: signed, per-author hash-chained records of contributions,
/// scores and credits, with a canonical byte encoding. Pure: no I/O.
///
/// Canonical encoding (all integers little-endian):
///   "HLE" 0x01          4-byte tag (domain separation from wire frames)
///   u8  kind
///   32  author public key
///   u64 seq
///   32  prev            hash of the author's previous entry; zeros for seq 0
///   u32 len + bytes     subject
///   i64 amount          two's complement
///   u32 len + bytes     payload
///   64  sig             only in the full encoding (`encode`)
/// `entry_hash` is BLAKE2b-256 of the encoding without sig; the signature is
/// Ed25519 over the same bytes.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash.hpp"
#include "common/result.hpp"
#include "wire/identity.hpp"

namespace hydra::ledger {

using wire::public_key;
using wire::signature;

enum class kind : std::uint8_t { contribution, score, compute_credit, reward, penalty, admission, revocation };

/// "contribution", "score", "compute_credit", "reward", "penalty".
const char* to_string(kind k);
std::optional<kind> parse_kind(std::string_view s);

/// Largest subject and payload accepted by the encoder and decoder.
inline constexpr std::size_t max_subject_size = 1024;
inline constexpr std::size_t max_payload_size = 64 * 1024;

struct entry {
  kind k = kind::contribution;
  public_key author{};
  std::uint64_t seq = 0;
  digest256 prev{};     ///< hash of the author's previous entry, zeros for seq 0
  std::string subject;  ///< e.g. a contribution id or a node id in hex
  std::int64_t amount = 0;  ///< credits, milli-units
  std::string payload;  ///< small JSON text
  signature sig{};

  bool operator==(const entry&) const = default;
};

/// The bytes that are hashed and signed (no sig).
std::vector<std::uint8_t> encode_unsigned(const entry& e);
/// The full record: encode_unsigned(e) followed by the 64-byte signature.
std::vector<std::uint8_t> encode(const entry& e);
/// Inverse of `encode`; errc::invalid_input naming the problem on bad bytes.
result<entry> decode(std::span<const std::uint8_t> bytes);

/// BLAKE2b-256 of encode_unsigned(e).
digest256 entry_hash(const entry& e);

/// `e` with author = self.pk and sig filled in.
entry sign(entry e, const wire::identity& self);

/// errc::invalid_input "forged: ..." unless sig is author's Ed25519 signature
/// of encode_unsigned(e).
status verify_signature(const entry& e);

/// First 8 bytes of the author key in hex, for messages.
std::string author_short(const entry& e);

}  // namespace hydra::ledger
