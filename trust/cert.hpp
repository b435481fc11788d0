#pragma once
/// The cluster identity (`cluster.pub`: the operator keys), membership
/// certificates an operator signs for a node or contributor key, the
/// revocation list, and `check_peer`: the admission decision every handshake
/// makes (trust/channel.hpp calls it through its verify callback).
/// Encoding and checks are pure; only the file helpers at the end do I/O.
///
/// Cluster file encoding (integers little-endian):
///   "HYK" 0x01  tag | 32 cluster id | u16 len + name | u8 n |
///   n x 32 operator public keys | 32 signer key (one of the operators) |
///   64 Ed25519 signature of everything before it
/// Certificate encoding:
///   "HYC" 0x01  tag | 32 cluster id | 32 subject key | u32 roles |
///   i64 not_before | i64 not_after (unix seconds) | u64 serial |
///   u16 len + site | 32 issuer key | 64 signature of everything before it

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.hpp"
#include "common/result.hpp"
#include "trust/grant.hpp"
#include "wire/identity.hpp"

namespace hydra::trust {

using cluster_id = std::array<std::uint8_t, 32>;

inline constexpr std::size_t max_operators = 32;
inline constexpr std::size_t max_cluster_name = 64;  ///< bytes, printable ASCII
inline constexpr std::size_t max_site = 64;          ///< bytes, [A-Za-z0-9._-]
/// How far a peer's clock may run behind ours before a fresh certificate
/// counts as "not yet valid".
inline constexpr std::int64_t clock_skew_s = 300;
/// `days_left` of a grant that never expires (an operator key).
inline constexpr std::int64_t no_expiry = std::numeric_limits<std::int64_t>::max();

// ---- the cluster identity --------------------------------------------------

struct cluster {
  cluster_id id{};
  std::string name;
  std::vector<wire::public_key> operators;  ///< 1 .. max_operators, distinct
  bool operator==(const cluster&) const = default;
};

/// A new cluster with a random id and `first_operator` as its only operator.
cluster make_cluster(std::string name, const wire::public_key& first_operator);

/// True iff `pk` is one of c's operator keys.
bool is_operator(const cluster& c, const wire::public_key& pk);

/// The signed cluster file. errc::invalid_input when `signer` is not one of
/// c's operators, or the name or operator list breaks the limits above.
result<std::vector<std::uint8_t>> encode_cluster(const cluster& c, const wire::identity& signer);

/// Inverse of encode_cluster: checks tag, sizes, 1 .. 32 distinct operators,
/// signer among them, the signature, and that no bytes trail.
/// errc::invalid_input "cluster file: REASON" on any problem.
result<cluster> decode_cluster(std::span<const std::uint8_t> bytes);

// ---- membership certificates ------------------------------------------------

struct membership_cert {
  cluster_id cluster{};
  wire::public_key subject{};  ///< the key the certificate admits
  std::uint32_t roles = 0;     ///< trust::role_* bits
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::uint64_t serial = 0;   ///< random, for revocation of one certificate
  std::string site;           ///< "" or [A-Za-z0-9._-]{1,64}
  wire::public_key issuer{};  ///< the operator key that signed it
  wire::signature sig{};
  bool operator==(const membership_cert&) const = default;
};

/// Signs a certificate for `subject` with a random serial. errc::invalid_input
/// when `op` is not an operator of `c`, roles are 0 or hold unknown bits, the
/// site is malformed, or not_after < not_before.
result<std::vector<std::uint8_t>> issue_cert(const wire::identity& op, const cluster& c,
                                             const wire::public_key& subject, std::uint32_t roles,
                                             std::int64_t not_before, std::int64_t not_after,
                                             std::string_view site = {});

/// Structure and signature (by the embedded issuer) only; says nothing about
/// the cluster, the time or revocation. errc::invalid_input "certificate: REASON".
result<membership_cert> decode_cert(std::span<const std::uint8_t> bytes);

// ---- revocations --------------------------------------------------------------

struct revocation {
  wire::public_key subject{};  ///< the revoked key (all its certificates) when serial == 0
  std::uint64_t serial = 0;    ///< != 0: only the certificate with this serial
  wire::public_key by{};       ///< the operator that revoked it (zeros: a local file)
  std::int64_t at = 0;         ///< unix seconds, 0 = unknown
  bool operator==(const revocation&) const = default;
};

/// Revoked keys and serials. Bounded: past `capacity` entries add() refuses
/// (errc::unavailable) rather than forget an older revocation. Thread-safe.
class revocations {
 public:
  explicit revocations(std::size_t capacity = 65536) : capacity_(capacity) {}

  /// Records `r` (by serial when r.serial != 0, else by subject key).
  /// Re-adding a known revocation is a no-op.
  status add(const revocation& r);
  /// The revocation that covers a certificate of `subject` with `serial`.
  std::optional<revocation> find(const wire::public_key& subject, std::uint64_t serial) const;
  bool is_revoked(const wire::public_key& subject, std::uint64_t serial) const {
    return find(subject, serial).has_value();
  }
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::size_t capacity_;
  std::map<wire::public_key, revocation> by_key_;
  std::map<std::uint64_t, revocation> by_serial_;
};

/// The ledger subject of a revocation entry: lowercase hex of the key.
std::string revocation_subject(const wire::public_key& pk);
/// Inverse: exactly 64 hex digits (either case). errc::invalid_input otherwise.
result<wire::public_key> parse_revocation_subject(std::string_view s);

/// The ledger payload (small JSON) of a revocation entry:
/// {"serial":"<16 hex>"} or {} (every certificate of the subject), plus "at".
std::string revocation_payload(const revocation& r);
/// Rebuilds a revocation from a ledger entry's subject, payload and author.
/// errc::invalid_input when the author is not an operator of `c` (anyone can
/// append to the ledger, only operators can revoke) or the fields are malformed.
result<revocation> parse_revocation(const cluster& c, const wire::public_key& author, std::string_view subject,
                                    std::string_view payload);

// ---- admission ------------------------------------------------------------------

/// The handshake's decision on a peer that proved `presented_pk` and sent
/// `cert_bytes`. An operator key of `c` is admitted with every role (its
/// certificate may be empty). Anyone else needs a certificate of this cluster,
/// issued to presented_pk by one of c's operators, valid at `now_unix`
/// (not_before - clock_skew_s .. not_after), not revoked, with known roles.
/// Each refusal is errc::invalid_input with its own reason, e.g. "certificate
/// expired 3 days ago (2027-01-12)". Thread-safe.
result<peer_grant> check_peer(const cluster& c, const revocations& revoked, const wire::public_key& presented_pk,
                              std::span<const std::uint8_t> cert_bytes, std::int64_t now_unix);

/// Whole days until the grant expires (negative once expired; no_expiry for
/// an operator key).
std::int64_t days_left(const peer_grant& g, std::int64_t now_unix);
std::int64_t days_left(std::int64_t not_after, std::int64_t now_unix);

/// "trainer,collector" -> bits; names: trainer collector scorer ledger admin
/// contributor, and "all". errc::invalid_input naming an unknown or empty name.
result<std::uint32_t> parse_roles(std::string_view names);
/// Bits -> "trainer,collector"; unknown bits print as 0x.. ; 0 -> "none".
std::string roles_to_string(std::uint32_t roles);

/// A serial as 16 lowercase hex digits, and back (1..16 hex digits, not 0).
std::string serial_hex(std::uint64_t serial);
result<std::uint64_t> parse_serial(std::string_view s);

/// "2027-01-12" (UTC) and "2027-01-12T08:30:00Z".
std::string iso_date(std::int64_t unix_s);
std::string iso_time(std::int64_t unix_s);

// ---- files ----------------------------------------------------------------------

/// Reads a whole file of at most `max` bytes. errc::not_found / errc::io /
/// errc::invalid_input (too large), each naming the path.
result<std::vector<std::uint8_t>> read_small_file(const std::string& path, std::size_t max = 1 << 16);
/// Replaces `path` atomically: temp file in the same folder, fsync, chmod
/// `mode`, rename, fsync of the folder.
status write_file_atomic(const std::string& path, std::span<const std::uint8_t> bytes, unsigned mode);

/// decode_cluster / decode_cert of a file, errors prefixed with the path.
result<cluster> load_cluster(const std::string& path);
result<membership_cert> load_cert(const std::string& path);

/// The local revocation list (OPDIR/revoked): one hex key per line; blank
/// lines and '#' comments are skipped. A missing file holds none. Returns how
/// many keys were read; errc::invalid_input naming path:line on a bad line.
result<std::size_t> load_revocations_file(const std::string& path, revocations& out);
/// Appends `pk` to that file (created 0644) unless it is already listed, and
/// fsyncs it. True when the key was added.
result<bool> append_revocations_file(const std::string& path, const wire::public_key& pk);

}  // namespace hydra::trust
