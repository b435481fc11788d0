#pragma once
/// The `p2p` link: ranks of one collective group talk over TCP, one
/// connection per pair (full mesh). Each connection opens with the
/// trust/channel.hpp handshake (the higher rank dials the lower one and
/// expects the lower one's key); then a `LinkHello` (signed, inside the
/// channel) states group, rank and size, and the acceptor admits it only if
/// the proven key is the member key of the rank it claims. After that every
/// message is a `LinkChunk` Cap'n Proto frame in a canonical single-segment
/// layout, sealed into AES-256-GCM records straight from the caller's
/// buffers into the send buffer (one encrypt-copy) and decrypted on
/// receipt. Sends go through one writer thread per peer so that a ring,
/// where everyone sends and receives at once, can never deadlock on full
/// socket buffers. Every wait has a deadline. See docs/channel.md.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/link.hpp"
#include "trust/channel.hpp"
#include "wire/identity.hpp"

namespace hydra::comm {

struct tcp_link_options {
  /// Benchmark comparison only (bench/secure_allreduce): after the
  /// handshake and the hello, chunks travel unencrypted and unauthenticated
  /// (sendmsg straight from the caller's buffers). Both ends must agree.
  bool plaintext = false;
  /// The most one accepted connection may take to finish its handshake and
  /// hello, so a silent stranger cannot hold the group up until the deadline.
  std::chrono::milliseconds handshake_timeout{3000};
  /// Where refused connections are reported ("refused a connection from
  /// 10.0.0.7:41234: ..."); default: stderr.
  std::function<void(const std::string&)> log;
};

class tcp_link final : public link {
 public:
  /// Joins group `group` as `rank`: `addresses[i]` is where rank i listens
  /// ("IPv4:port"), `members[i]` the key rank i must prove, `listen_fd` this
  /// rank's already listening socket. `base` gives this side's identity,
  /// certificate, cluster and admission callback (its `expect` is set per
  /// peer). Connects to lower ranks (errors end the open), accepts higher
  /// ones (a refused one is logged and closed, and the wait goes on until
  /// `deadline`). errc::invalid_input for a bad address or member list.
  static result<std::unique_ptr<tcp_link>> open(int rank, const std::vector<std::string>& addresses, int listen_fd,
                                                trust::channel_config base, std::vector<wire::public_key> members,
                                                std::uint64_t group, clock::time_point deadline,
                                                tcp_link_options opt = {});
  /// Transitional, for callers that do not know the members' keys yet
  /// (apps/node_cmd.cpp): the same encrypted channel, but any key that
  /// completes the handshake is admitted, as the signed hello alone did.
  static result<std::unique_ptr<tcp_link>> open(int rank, const std::vector<std::string>& addresses, int listen_fd,
                                                const wire::identity& self, std::uint64_t group,
                                                clock::time_point deadline);
  ~tcp_link() override;

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(peers_.size()); }
  status send(int to, std::span<const std::byte> bytes) override;
  status send_parts(int to, std::span<const std::span<const std::byte>> parts) override;
  status recv(int from, std::vector<std::byte>& out, clock::time_point deadline) override;
  std::uint64_t bytes_sent() const override { return bytes_sent_; }
  std::uint64_t bytes_received() const override { return bytes_received_; }

  /// Binds a listening socket on host:port (0 = any); returns fd and port.
  static result<std::pair<int, std::uint16_t>> listen_on(const std::string& host, std::uint16_t port);

 private:
  struct peer;
  struct opener;
  tcp_link(int rank, std::size_t n);
  status send_sealed(peer& p, int to, std::span<const std::span<const std::byte>> parts, std::size_t n);
  status send_plain(peer& p, int to, std::span<const std::span<const std::byte>> parts, std::size_t n);
  int rank_;
  std::vector<std::unique_ptr<peer>> peers_;
  std::atomic<std::uint64_t> bytes_sent_{0}, bytes_received_{0};
};

}  // namespace hydra::comm
