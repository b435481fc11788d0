#pragma once
/// TCP transport for Hydra frames: one I/O thread runs a poll() loop over a
/// listening socket and every connection, splits the byte streams into
/// frames, verifies each frame's envelope (version, signature), and hands the
/// verified frames to a callback. A connection that sends anything malformed,
/// oversized or badly signed is closed and the reason logged; nothing else is
/// affected. Other threads talk to it through a command queue, so every
/// method is thread-safe.
///
/// Written on POSIX sockets rather than CAF brokers: the frame checks must
/// happen before any allocation a peer controls (CAF's receive policies
/// allocate what they are told), and a dedicated loop keeps verification off
/// the actors' threads. About 300 lines.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "wire/frame.hpp"
#include "wire/identity.hpp"

namespace hydra::actors {

using conn_id = std::uint64_t;

struct transport_events {
  /// A verified frame arrived on `conn`. Called on the I/O thread: hand it
  /// off, do not block.
  std::function<void(conn_id, std::shared_ptr<wire::opened_frame>)> on_frame;
  /// `conn` is gone (closed by either side, refused, or rejected for `reason`).
  std::function<void(conn_id, const std::string& reason)> on_closed;
  /// A line for the log (rejections, errors).
  std::function<void(const std::string&)> on_log;
};

/// "host:port" split into its parts; IPv6 as "[::1]:port".
result<std::pair<std::string, std::uint16_t>> parse_address(const std::string& address);

class transport {
 public:
  explicit transport(transport_events events = {}, std::size_t max_frame = wire::default_max_frame);
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  /// Binds and listens on host:port (port 0 = any free port); returns the
  /// bound port. Call before start().
  result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  /// Sets the event callbacks; call before start().
  void set_events(transport_events events) { events_ = std::move(events); }
  /// Starts the I/O thread.
  void start();
  /// Stops the I/O thread and closes every socket. Idempotent.
  void stop();

  /// Opens a connection to "host:port" in the background; failures arrive
  /// as on_closed. Frames sent before it is up are queued.
  conn_id connect(const std::string& address);
  /// Queues a frame for `conn` (dropped if the connection is gone).
  void send(conn_id conn, std::vector<std::uint8_t> frame);
  /// Closes `conn` after flushing what is queued.
  void close(conn_id conn);
  /// The remote "ip:port" of a connection, or "" when unknown.
  std::string remote_address(conn_id conn) const;

  /// Bytes written to and read from sockets so far.
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  std::uint64_t bytes_received() const { return bytes_received_; }

 private:
  struct connection;
  struct command;
  void run();
  void apply_commands();
  void accept_all();
  bool read_from(connection& c);
  bool write_to(connection& c);
  void drop(conn_id id, const std::string& reason);
  void wake();

  transport_events events_;
  std::size_t max_frame_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> running_{false};
  std::atomic<conn_id> next_id_{1};
  std::thread thread_;
  mutable std::mutex mu_;  // guards commands_ and remote_
  std::vector<command> commands_;
  std::vector<std::pair<conn_id, std::string>> remote_;
  std::vector<std::unique_ptr<connection>> conns_;  // I/O thread only
  std::atomic<std::uint64_t> bytes_sent_{0}, bytes_received_{0};
};

}  // namespace hydra::actors
