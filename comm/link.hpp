#pragma once
/// The seam between collectives and transports (gloo's `transport::Pair`,
/// reduced to whole messages): the ring in allreduce.cpp sees only this, and
/// each backend — `inproc` (threads, for tests), `p2p` (TCP), `mpi` —
/// implements it.
///
/// What a collective needs from an implementation:
/// - Reliable, ordered, whole messages per (sender, receiver) pair while both
///   are alive: no loss, duplication, reordering or splitting.
/// - `send` must not wait for the peer to call `recv`: it copies `bytes` (or
///   writes them into socket buffers) and returns. It must accept at least
///   `min_buffered_messages` unreceived messages per destination without
///   blocking; past that it may block, but only for a bounded time (its own
///   deadline), then fail. With that, no collective here can deadlock: every
///   rank sends and receives at once, and a ring whose links buffer two
///   messages can always make progress (see allreduce.cpp).
/// - `send` keeps no reference to `bytes` after it returns.
/// - `recv` honours its deadline even when the peer is silent, and returns
///   messages already received from a peer before reporting it gone.
/// - A collective calls one link from one thread at a time.
///
/// Messages are opaque here; the collectives put their own header in them
/// (see internal/protocol.hpp), so a link adds only its own framing.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.hpp"

namespace hydra::comm {

using clock = std::chrono::steady_clock;

/// Unreceived messages per destination a link must take without blocking.
inline constexpr int min_buffered_messages = 4;

/// Point-to-point byte messages between the `size()` ranks of one group.
/// A group is made for one membership; after any error a collective may have
/// left messages in flight, so the caller builds a new group (fresh links)
/// rather than reusing this one.
class link {
 public:
  virtual ~link() = default;
  /// This end's rank, in [0, size()).
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Queues one whole message to rank `to` (!= rank()). errc::unavailable if
  /// the peer is known gone, errc::invalid_input for a bad rank.
  virtual status send(int to, std::span<const std::byte> bytes) = 0;
  /// Receives the next message from `from` into `out` (resized; its capacity
  /// may be reused). errc::deadline when `deadline` passes first,
  /// errc::unavailable if the peer is known gone.
  virtual status recv(int from, std::vector<std::byte>& out, clock::time_point deadline) = 0;
  /// Payload bytes handed to send() so far (the link's own framing excluded).
  virtual std::uint64_t bytes_sent() const = 0;
  /// Payload bytes recv() returned so far (0 where a link does not count).
  virtual std::uint64_t bytes_received() const { return 0; }

  /// Sends the concatenation of `parts` as one message (same contract as
  /// send). Links that can write from several buffers at once override it so
  /// that a header and a payload go out without being copied together.
  virtual status send_parts(int to, std::span<const std::span<const std::byte>> parts) {
    std::size_t n = 0;
    for (auto p : parts) n += p.size();
    std::vector<std::byte> joined;
    joined.reserve(n);
    for (auto p : parts) joined.insert(joined.end(), p.begin(), p.end());
    return send(to, joined);
  }
};

}  // namespace hydra::comm
