#pragma once
/// The encrypted, mutually authenticated channel every Hydra connection
/// opens with (docs/channel.md). A pure byte-level state machine — no
/// sockets — plus `handshake_fd`, a blocking helper for fd-based users.
///
/// Handshake (SIGMA-I over libsodium, 1.5 round trips): X25519 ephemerals
/// (crypto_kx) authenticated by Ed25519 signatures of each side's long-term
/// identity over the transcript; identities and certificates travel
/// encrypted under handshake keys. Records: AES-256-GCM, implicit per-direction
/// counter nonces, deterministic rekey. Any failure is final: the caller
/// closes the connection.
///
/// Wire: every handshake message and record is `u32 little-endian length ||
/// body`; lengths are checked before anything is buffered.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "trust/grant.hpp"
#include "wire/identity.hpp"

namespace hydra::trust {

/// Decides whether a peer that proved `pk` (and presented `cert`) is
/// admitted; an error refuses it ("peer refused: " + message). Typically
/// wraps trust::check_peer. Called once per handshake, on the handshake's thread.
using verify_fn = std::function<result<peer_grant>(const wire::public_key& pk, std::span<const std::uint8_t> cert)>;

using cluster_id = std::array<std::uint8_t, 32>;

/// Largest handshake message body (msg1..3); a longer length header fails.
inline constexpr std::size_t max_handshake_message = 4096;
/// Largest own certificate a handshake can carry.
inline constexpr std::size_t max_cert_bytes = 3072;

struct channel_config {
  const wire::identity* self = nullptr;  ///< long-term key; must outlive the handshake
  std::vector<std::uint8_t> cert;        ///< own membership certificate (empty for an operator key)
  cluster_id cluster{};                  ///< both sides must name the same cluster
  verify_fn verify;                      ///< required
  std::optional<wire::public_key> expect;  ///< initiator only: the key it means to reach
  std::size_t max_record = 1 << 20;      ///< plaintext bytes per record, 1 .. 16 MiB
  std::uint64_t rekey_every = 1 << 20;   ///< records per key and direction (>= 1)
};

/// An established channel: seals plaintext into records and opens them.
/// The send side (seal*) and the receive side (open*, record_size) keep
/// separate state: one thread may send while another receives, but each
/// side is used by one thread at a time. Movable, not copyable.
class secure_session {
 public:
  secure_session(secure_session&&) noexcept;
  secure_session& operator=(secure_session&&) noexcept;
  ~secure_session();

  /// Bytes seal() appends for n plaintext bytes (records of <= max_record).
  std::size_t sealed_size(std::size_t n) const;
  /// Appends the records carrying `plain` to `out` (nothing for empty input).
  void seal(std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out);
  /// Encrypts the concatenation of `parts` straight into `dst`, which holds
  /// exactly sealed_size(total) bytes: one pass, no plaintext copy.
  void seal_parts(std::span<const std::span<const std::byte>> parts, std::byte* dst);

  /// Stream in, plaintext out: consumes any split of the record stream and
  /// appends the plaintext of every completed record to `plain_out`, in
  /// order. An altered, replayed, reordered, truncated-then-continued or
  /// injected record, or an oversized length, fails ("record 17:
  /// authentication failed", errc::invalid_input) and every later call
  /// fails the same way: close the connection.
  status open(std::span<const std::uint8_t> cipher, std::vector<std::uint8_t>& plain_out);

  /// Zero-copy receive, for a caller that reads records itself (and has no
  /// bytes pending in open()): the body length (ciphertext + 16-byte tag)
  /// announced by a 4-byte header, or the sticky error.
  result<std::size_t> record_size(std::span<const std::uint8_t, 4> header);
  /// Authenticates and decrypts one record body of record_size(header)
  /// bytes into `plain` (body.size() - 16 bytes; may be body.data()).
  status open_record(std::span<const std::uint8_t, 4> header, std::span<const std::uint8_t> body,
                     std::uint8_t* plain);

  std::uint64_t records_sent() const;
  std::uint64_t records_received() const;
  std::size_t max_record() const;

 private:
  struct impl;
  friend class handshake;
  explicit secure_session(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// One side of the handshake, driven by the caller's I/O: write what
/// take_output() returns, feed() what arrives, until done(). Movable.
class handshake {
 public:
  /// errc::invalid_input for an unusable config (no key, no verify
  /// callback, certificate over max_cert_bytes, max_record or rekey_every
  /// out of range). The initiator's first message is ready in take_output().
  static result<handshake> initiator(channel_config cfg);
  static result<handshake> responder(channel_config cfg);
  handshake(handshake&&) noexcept;
  handshake& operator=(handshake&&) noexcept;
  ~handshake();

  /// Bytes to write to the peer now (empty when none).
  std::vector<std::uint8_t> take_output();
  /// Bytes read from the peer. An error (sticky) means: close the connection.
  status feed(std::span<const std::uint8_t> bytes);
  /// The peer is authenticated and admitted; write take_output() one last
  /// time (the initiator's final message), then use take_session().
  bool done() const;
  /// The admitted peer (valid when done()); pk and id are the proven key's.
  const peer_grant& peer() const;
  /// The channel (once, when done()).
  secure_session take_session();
  /// Record bytes that arrived after the last handshake message: feed them
  /// to the session before anything read later.
  std::vector<std::uint8_t> take_leftover();

 private:
  struct impl;
  explicit handshake(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// Runs a handshake over a connected stream socket (blocking or not) until
/// done, a failure, or `deadline` (errc::deadline). Bytes read past the
/// handshake land in `leftover`. The caller closes `fd` on error.
result<std::pair<secure_session, peer_grant>> handshake_fd(int fd, bool initiator, channel_config cfg,
                                                           std::chrono::steady_clock::time_point deadline,
                                                           std::vector<std::uint8_t>& leftover);

/// Short hex of a key for messages ("3f2a9c01d4e5b6a7").
std::string key_short(const wire::public_key& pk);

}  // namespace hydra::trust
