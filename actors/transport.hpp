#pragma once
/// TCP transport for Hydra frames: one I/O thread runs a poll() loop over a
/// listening socket and every connection. With a channel configured (always,
/// in `hydra node`), each connection first runs the mutual handshake of
/// trust/channel.hpp — the peer proves its key and shows a certificate the
/// cluster admits — and then carries only encrypted records. The transport
/// decrypts, splits the stream into frames, verifies each envelope (version,
/// signature, signed by the channel's peer, recipient, expiry, replay) and
/// hands the verified frames with the peer's grant to a callback. A
/// connection that fails the handshake or sends anything malformed,
/// oversized, badly signed, replayed or too fast is closed and the reason
/// logged; nothing else is affected. Other threads talk to it through a
/// command queue, so every method is thread-safe.
///
/// Bounded by design: at most `limits::max_connections` connections and
/// `limits::max_handshaking` unauthenticated ones (each must finish its
/// handshake within `limits::handshake_seconds`), at most
/// `limits::max_queued_bytes` waiting to be sent per connection, at most
/// `limits::max_frames_per_second` frames read per connection.
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
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "trust/channel.hpp"
#include "wire/frame.hpp"
#include "wire/identity.hpp"

namespace hydra::actors {

using conn_id = std::uint64_t;

struct transport_events {
  /// A verified frame arrived on `conn` from the peer `grant` describes
  /// (null without a channel). Called on the I/O thread: hand it off, do
  /// not block.
  std::function<void(conn_id, std::shared_ptr<wire::opened_frame>, std::shared_ptr<const trust::peer_grant>)> on_frame;
  /// `conn` is gone (closed by either side, refused, or rejected for `reason`).
  std::function<void(conn_id, const std::string& reason)> on_closed;
  /// A line for the log (rejections, errors).
  std::function<void(const std::string&)> on_log;
};

/// "host:port" split into its parts; IPv6 as "[::1]:port".
result<std::pair<std::string, std::uint16_t>> parse_address(const std::string& address);

struct transport_limits {
  std::size_t max_connections = 2048;
  std::size_t max_handshaking = 256;
  double handshake_seconds = 5.0;
  std::size_t max_queued_bytes = 96u << 20;
  double max_frames_per_second = 20000;
};

class transport {
 public:
  explicit transport(transport_events events = {}, std::size_t max_frame = wire::default_max_frame);

  /// Every connection opens with this channel (trust/channel.hpp); frames
  /// must be signed by the key the channel authenticated and, when they
  /// name a recipient, name `channel.self`. Call before start(). Without it
  /// the transport speaks plaintext frames (in-process tests only).
  void set_channel(trust::channel_config channel);
  void set_limits(transport_limits l) { limits_ = l; }
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
  /// Closes every connection authenticated as `pk` (a revoked peer).
  void close_key(const wire::public_key& pk);
  /// Connections open now (handshaking ones included).
  std::size_t connections() const { return open_conns_; }

  /// Bytes written to and read from sockets so far.
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  std::uint64_t bytes_received() const { return bytes_received_; }

 private:
  struct connection;
  struct command;
  void run();
  bool on_plain(connection& c, const std::uint8_t* data, std::size_t n);
  bool on_handshake_bytes(connection& c, const std::uint8_t* data, std::size_t n);
  void queue_out(connection& c, std::vector<std::uint8_t> frame);
  bool start_handshake(connection& c, bool initiator);
  void expire_handshakes();
  void apply_commands();
  void accept_all();
  bool read_from(connection& c);
  bool write_to(connection& c);
  void drop(conn_id id, const std::string& reason);
  void wake();

  transport_events events_;
  std::size_t max_frame_;
  std::optional<trust::channel_config> channel_;
  transport_limits limits_;
  wire::replay_guard replay_{65536, 1u << 20, 300};  // 300 s: trust::clock_skew_s
  std::atomic<std::size_t> open_conns_{0};
  double pause_accept_until_ = 0, refused_logged_ = -1e9;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> running_{false};
  std::atomic<conn_id> next_id_{1};
  std::thread thread_;
  mutable std::mutex mu_;  // guards commands_ and remote_
  std::vector<command> commands_;
  std::vector<std::pair<conn_id, std::string>> remote_;
  std::vector<wire::public_key> close_keys_;
  std::vector<std::unique_ptr<connection>> conns_;  // I/O thread only
  std::atomic<std::uint64_t> bytes_sent_{0}, bytes_received_{0};
};

}  // namespace hydra::actors
