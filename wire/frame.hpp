#pragma once
/// Signed frames: every frame on a Hydra connection is one `Envelope`
/// (wire/hydra.capnp) in Cap'n Proto's standard stream serialization. Its
/// payload is a serialized `Message`, signed with the sender's Ed25519 key
/// over (version as 2 little-endian bytes || public key || recipient (32) ||
/// nonce (8) || expires (8) || payload). See docs/protocol.md.

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/node_id.hpp"
#include "common/result.hpp"
#include "wire/hydra.capnp.h"
#include "wire/identity.hpp"

namespace hydra::wire {

/// Largest frame (segment table included) a peer may send by default.
inline constexpr std::size_t default_max_frame = 64u << 20;
/// Most segments a frame's (or a payload's) segment table may declare.
inline constexpr std::size_t max_segments = 64;

/// A frame lives this long by default (Envelope.expires = now + ttl).
inline constexpr std::int64_t default_frame_ttl = 120;
/// Receivers refuse frames that claim to live longer than this.
inline constexpr std::int64_t max_frame_ttl = 3600;

/// The signed envelope fields besides version and key.
struct envelope_fields {
  node_id recipient{};       ///< all zeros: any receiver
  std::uint64_t nonce = 0;   ///< seal(): 0 = a random one
  std::int64_t expires = 0;  ///< unix seconds; seal(): 0 = now + default_frame_ttl
};

/// Serializes `payload` (whose root must be a `Message`) into one signed
/// Envelope frame: stream-serialization bytes, ready for a socket. Costs two
/// copies of the payload plus the signature (which hashes it twice).
std::vector<std::uint8_t> seal(const identity& self, capnp::MessageBuilder& payload,
                               const envelope_fields& fields = {});

/// Seals already-serialized payload bytes. `version` exists so tests can make
/// frames of other versions; production code keeps the default.
std::vector<std::uint8_t> seal_bytes(const identity& self,
                                     std::span<const std::uint8_t> payload_bytes,
                                     std::uint16_t version = protocol_version,
                                     const envelope_fields& fields = {});

/// The exact bytes an Envelope's signature covers: version (2 bytes,
/// little-endian) || public key (32) || recipient (32, zeros = any) ||
/// nonce (8, LE) || expires (8, LE, two's complement) || payload.
std::vector<std::uint8_t> signing_input(std::uint16_t version, const public_key& pk,
                                        std::span<const std::uint8_t> payload,
                                        const envelope_fields& fields = {});

/// Splits a TCP byte stream into frames. Each segment table is validated
/// before any of the body is buffered (at most `max_segments` segments, total
/// size at most `max_frame`), so a peer cannot make us allocate more than
/// `max_frame` per connection. After an error the splitter stays failed
/// (feed() keeps returning it) and the caller drops the connection; frames
/// completed before the error can still be popped. Not thread-safe.
class frame_splitter {
 public:
  explicit frame_splitter(std::size_t max_frame = default_max_frame);

  /// Appends n bytes from the stream. errc::invalid_input with a reason
  /// ("frame of 2147483648 bytes exceeds limit of 67108864", "segment table
  /// declares 600 segments (limit 64)") when the stream cannot be valid.
  status feed(const std::uint8_t* data, std::size_t n);
  status feed(std::span<const std::uint8_t> bytes) { return feed(bytes.data(), bytes.size()); }

  /// The next complete frame's bytes (segment table included), oldest first.
  std::optional<std::vector<std::uint8_t>> pop();

  /// Bytes held: complete frames not yet popped plus the partial frame.
  std::size_t buffered() const { return ready_bytes_ + partial_.size(); }

 private:
  status advance();

  std::size_t max_frame_;
  std::vector<std::uint8_t> partial_;  ///< the frame being assembled
  std::size_t need_ = 8;               ///< partial_ is complete at this size
  bool sized_ = false;                 ///< need_ is the whole frame's size
  std::deque<std::vector<std::uint8_t>> ready_;
  std::size_t ready_bytes_ = 0;
  std::optional<error> failed_;
};

/// A verified frame. Owns its bytes: message() and payload_bytes() stay
/// valid while it lives (moving it keeps them valid). Movable, not copyable;
/// reading it from several threads at once is safe.
///
/// The payload was fully traversed (every pointer bounds-checked) when the
/// frame was opened, so reading message() does not throw on malformed data.
/// Cap'n Proto still charges each read of a pointer field against a
/// traversal budget of 8x the payload's size: read a large Data field a few
/// times at most (keep the Reader) or it throws kj::Exception.
class opened_frame {
 public:
  opened_frame(opened_frame&&) noexcept;
  opened_frame& operator=(opened_frame&&) noexcept;
  ~opened_frame();

  /// The sender's node id, BLAKE2b-256 of sender_key().
  const node_id& sender() const;
  const public_key& sender_key() const;
  std::uint16_t version() const;
  /// The signed recipient (zeros = any), nonce and expiry.
  const envelope_fields& fields() const;
  Message::Reader message() const;
  /// The serialized Message exactly as signed (e.g. to relay or store it).
  std::span<const std::uint8_t> payload_bytes() const;
  /// Size of the whole frame on the wire.
  std::size_t frame_bytes() const;


 private:
  struct impl;
  friend struct frame_opener;
  explicit opened_frame(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// Parses and verifies one frame: the segment table must declare exactly
/// frame.size() bytes (at most max_frame), version == protocol_version
/// ("protocol version 7, expected 1"), a 32-byte key and a 64-byte signature,
/// a valid signature ("bad signature"), and a payload that parses as a
/// Message ("payload does not parse: ..."). Every failure is
/// errc::invalid_input with a reason; never throws. Copies the frame once,
/// and the signed bytes once more for Ed25519.
result<opened_frame> open(std::span<const std::uint8_t> frame,
                          std::size_t max_frame = default_max_frame);

/// Same, taking the bytes over (e.g. from frame_splitter::pop()): no copy
/// when they are 8-byte aligned, which heap vectors are.
result<opened_frame> open(std::vector<std::uint8_t>&& frame,
                          std::size_t max_frame = default_max_frame);

/// Refuses frames that are not for `self`, expired, claim a lifetime over
/// max_frame_ttl, or repeat a (sender, nonce) seen before within their
/// lifetime; remembers the ones it admits. Bounded: at most `per_sender`
/// remembered nonces per sender and `total` in all (a sender over its quota
/// is refused until its frames expire). Not thread-safe.
class replay_guard {
 public:
  /// `skew`: how far a sender's clock may be behind ours (a frame counts as
  /// expired only `skew` seconds after its `expires`).
  explicit replay_guard(std::size_t per_sender = 65536, std::size_t total = 1u << 20, std::int64_t skew = 0)
      : per_sender_(per_sender), total_(total), skew_(skew) {}
  /// errc::invalid_input: "frame for another node", "frame expired 5 s ago",
  /// "frame claims to live 86400 s", "replayed frame (nonce seen)",
  /// "too many recent frames from this sender". `remember` = false checks
  /// recipient and expiry only (frames whose replay is harmless).
  status admit(const opened_frame& f, const node_id& self, std::int64_t now_unix, bool remember = true);
  std::size_t remembered() const { return expiry_.size(); }

 private:
  void expire(std::int64_t now_unix);
  std::size_t per_sender_, total_;
  std::int64_t skew_;
  std::map<std::pair<node_id, std::uint64_t>, std::int64_t> seen_;
  std::multimap<std::int64_t, std::pair<node_id, std::uint64_t>> expiry_;
  std::map<node_id, std::size_t> count_;
};

}  // namespace hydra::wire
