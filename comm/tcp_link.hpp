#pragma once
/// The `p2p` link: ranks of one collective group talk over TCP, one
/// connection per pair (full mesh). Each connection opens with a signed
/// `LinkHello` (wire::seal: the peer proves its key and states its group and
/// rank); after that every message is a `LinkChunk` Cap'n Proto frame in a
/// canonical single-segment layout, written with one sendmsg straight from
/// the caller's buffers and read straight into the receiver's (no copies in
/// user space when the socket keeps up). Sends go through one writer thread per peer so that a ring,
/// where everyone sends and receives at once, can never deadlock on full
/// socket buffers. Every wait has a deadline.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "comm/link.hpp"
#include "wire/identity.hpp"

namespace hydra::comm {

class tcp_link final : public link {
 public:
  /// Joins group `group` as `rank`: `addresses[i]` is where rank i listens
  /// ("host:port"); `listen_fd` is this rank's already listening socket.
  /// Connects to lower ranks, accepts higher ones, checks every hello.
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

  /// Binds a listening socket on host:port (0 = any); returns fd and port.
  static result<std::pair<int, std::uint16_t>> listen_on(const std::string& host, std::uint16_t port);

 private:
  struct peer;
  tcp_link(int rank, std::size_t n);
  int rank_;
  std::vector<std::unique_ptr<peer>> peers_;
  std::atomic<std::uint64_t> bytes_sent_{0};
};

}  // namespace hydra::comm
