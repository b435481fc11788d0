#pragma once
/// The collectives' own message header and the traffic helper they share:
/// a deadline on every wait, a check of every header, and the abort message
/// that carries a failure down the ring so that every survivor stops soon
/// after the first one notices, naming the same suspect.
///
/// Every message starts with a 24-byte `header` (host byte order):
///   magic "HYC1" | op u8 | codec u8 | nweights u16 | seq u32 | param u32 | count u64
/// allreduce: seq = message index in the run, param = elements per segment,
///   count = elements; reduce-scatter messages then carry `nweights` doubles
///   (the sample weights the sender knows), then the encoded segment.
/// broadcast: seq = segment index, param = bytes per segment, count = bytes.
/// robust_exchange (the first phase of a trimmed-mean or median all-reduce,
///   from every rank to every other): seq, param, count as allreduce,
///   nweights = 1; the payload is a 16-byte `robust_descriptor` (reduce op,
///   trim, the sender's weight), then the raw fp32 segment (none if the
///   weight is 0). Its all-gather phase sends allreduce messages.
/// abort: seq = origin rank, param = errc, count = suspect rank; no payload.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "comm/link.hpp"
#include "common/env.hpp"

namespace hydra::comm::internal {

inline constexpr std::uint32_t header_magic = 0x31435948;  // "HYC1"

enum class op : std::uint8_t { allreduce = 1, broadcast = 2, abort = 3, robust_exchange = 4 };

struct header {
  std::uint32_t magic = header_magic;
  op kind = op::allreduce;
  std::uint8_t codec = 0;
  std::uint16_t nweights = 0;
  std::uint32_t seq = 0;
  std::uint32_t param = 0;
  std::uint64_t count = 0;
};
static_assert(sizeof(header) == 24);

/// After the header of a robust_exchange message: what the receiver checks
/// against its own options, and the sender's sample weight.
struct robust_descriptor {
  std::uint32_t reduce_op = 0;  ///< comm::reduce_op
  std::uint32_t trim = 0;       ///< resolved trim (trimmed mean), 0 for median
  double weight = 0;
};
static_assert(sizeof(robust_descriptor) == 16);

/// ring_io downstream value: pass a failure on to every other rank (for
/// collectives in which every rank waits on every other).
inline constexpr int all_peers = -2;

/// A message under construction in a buffer that only ever grows, so
/// building one neither allocates nor zero-fills in steady state (a
/// std::vector resized down and up again would clear the bytes each time).
class outbox {
 public:
  /// Builds in `storage`, which outlives the outbox and keeps its capacity.
  explicit outbox(std::vector<std::byte>& storage) : buf_(storage) {}
  /// Starts a new message with header `h`.
  void start(const header& h) {
    size_ = 0;
    std::memcpy(extend(sizeof h), &h, sizeof h);
  }
  /// Appends n bytes, returned for the caller to fill.
  std::byte* extend(std::size_t n) {
    if (buf_.size() < size_ + n) buf_.resize(std::max(size_ + n, 2 * buf_.size()));
    std::byte* p = buf_.data() + size_;
    size_ += n;
    return p;
  }
  std::span<const std::byte> bytes() const { return {buf_.data(), size_}; }
  std::span<const std::byte> payload() const { return bytes().subspan(sizeof(header)); }

 private:
  std::vector<std::byte>& buf_;
  std::size_t size_ = 0;
};

/// Overwrites the sequence number of a message already built.
inline void set_seq(std::vector<std::byte>& buf, std::uint32_t seq) {
  std::memcpy(buf.data() + offsetof(header, seq), &seq, sizeof seq);
}

/// Sends and receives one collective's messages over `l`. Not thread-safe;
/// lives for one call.
class ring_io {
 public:
  /// `what` names the collective in errors; failures are passed on to
  /// `downstream` (-1: nobody; all_peers: every rank but this one and the
  /// failure's origin), the rank that waits on this one.
  ring_io(link& l, env& e, clock::duration timeout, const char* what, int downstream)
      : l_(l), env_(e), timeout_(timeout), what_(what), downstream_(downstream) {}

  status send(int to, std::span<const std::byte> bytes);
  /// A message made of a header part and a payload part, sent without
  /// joining them.
  status send(int to, std::span<const std::byte> head, std::span<const std::byte> body);
  /// Receives the next message from `from` into `buf` and checks it against
  /// `want` (all fields but nweights). An abort from upstream, a link error
  /// or a header that does not match ends the collective: the error is
  /// returned, and passed downstream.
  result<header> recv(int from, std::vector<std::byte>& buf, const header& want);
  /// Ends the collective on this rank for a reason found by the caller.
  error fail(int suspect, errc code, const std::string& why);

  std::uint64_t bytes_sent() const { return bytes_sent_; }
  /// The rank blamed by the failure that ended the collective, or -1.
  int failed_rank() const { return failed_rank_; }

 private:
  error fail_from(int origin, int suspect, errc code, const std::string& why);
  link& l_;
  env& env_;
  clock::duration timeout_;
  const char* what_;
  int downstream_;
  std::uint64_t bytes_sent_ = 0;
  int failed_rank_ = -1;
};

}  // namespace hydra::comm::internal
