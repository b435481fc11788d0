#include "actors/transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>

#include "common/env.hpp"

namespace hydra::actors {

struct transport::command {
  enum kind { connect, send, close, close_key } what;
  conn_id id;
  std::string address;
  std::vector<std::uint8_t> frame;
};

struct transport::connection {
  conn_id id;
  int fd = -1;
  bool connecting = false;
  bool initiator = false;
  bool closing = false;  // close once the queue is flushed
  std::string remote;
  wire::frame_splitter splitter;
  std::deque<std::vector<std::uint8_t>> out;  // bytes for the socket (records once the channel is up)
  std::size_t out_offset = 0, out_bytes = 0;
  // The channel: handshaking until `session` is set; frames sent meanwhile wait in `waiting`.
  std::optional<trust::handshake> hs;
  std::optional<trust::secure_session> session;
  std::shared_ptr<const trust::peer_grant> grant;
  std::deque<std::vector<std::uint8_t>> waiting;
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  std::vector<std::uint8_t> plain;  // decrypted bytes, scratch
  double tokens = 0;                // frame-rate budget
  std::chrono::steady_clock::time_point refill = std::chrono::steady_clock::now();
  explicit connection(std::size_t max_frame) : splitter(max_frame) {}
};

namespace {

std::string describe(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  std::uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
  port = ntohs(a->sin6_port);
  char out[INET6_ADDRSTRLEN + 16];  // snprintf: GCC 12 warns falsely (-Wrestrict) on the string-concatenation form
  std::snprintf(out, sizeof out, "[%s]:%u", host, static_cast<unsigned>(port));
  return out;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

result<addrinfo*> resolve(const std::string& host, std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) return make_error(errc::invalid_input, "cannot resolve '" + host + "': " + gai_strerror(rc));
  return res;
}

}  // namespace

result<std::pair<std::string, std::uint16_t>> parse_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return make_error(errc::invalid_input, "address '" + address + "' is not HOST:PORT");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = address.substr(colon + 1);
  if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos)
    return make_error(errc::invalid_input, "address '" + address + "': port must be a number 0-65535");
  const unsigned long port = std::strtoul(port_text.c_str(), nullptr, 10);
  if (port > 65535) return make_error(errc::invalid_input, "address '" + address + "': port must be 0-65535");
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

transport::transport(transport_events events, std::size_t max_frame)
    : events_(std::move(events)), max_frame_(max_frame) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

transport::~transport() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

result<std::uint16_t> transport::listen(const std::string& host, std::uint16_t port) {
  auto res = resolve(host, port, true);
  if (!res) return res.err();
  std::string last = "no address";
  for (addrinfo* ai = *res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      freeaddrinfo(*res);
      set_nonblocking(fd);
      listen_fd_ = fd;
      const auto bound = ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                                 : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port;
      return static_cast<std::uint16_t>(ntohs(bound));
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(*res);
  return make_error(errc::unavailable, "cannot listen on " + host + ":" + std::to_string(port) + ": " + last);
}

void transport::set_channel(trust::channel_config channel) { channel_ = std::move(channel); }

void transport::close_key(const wire::public_key& pk) {
  {
    std::lock_guard lock(mu_);
    close_keys_.push_back(pk);
    commands_.push_back({command::close_key, 0, {}, {}});
  }
  wake();
}

bool transport::start_handshake(connection& c, bool initiator) {
  if (!channel_) return true;
  c.initiator = initiator;
  auto hs = initiator ? trust::handshake::initiator(*channel_) : trust::handshake::responder(*channel_);
  if (!hs) {
    drop(c.id, "rejected: channel: " + hs.err().message);
    return false;
  }
  c.hs.emplace(std::move(*hs));
  if (auto first = c.hs->take_output(); !first.empty()) {
    c.out_bytes += first.size();
    c.out.push_back(std::move(first));
  }
  return true;
}

/// A frame for the socket: sealed into records once the channel is up,
/// held back while it is not.
void transport::queue_out(connection& c, std::vector<std::uint8_t> frame) {
  if (channel_ && !c.session) {
    c.waiting.push_back(std::move(frame));
    return;
  }
  if (c.out_bytes + frame.size() > limits_.max_queued_bytes) {
    drop(c.id, "send queue to " + c.remote + " over " + std::to_string(limits_.max_queued_bytes >> 20) +
                   " MiB (peer not reading)");
    return;
  }
  if (c.session) {
    std::vector<std::uint8_t> records;
    records.reserve(c.session->sealed_size(frame.size()));
    c.session->seal(frame, records);
    frame.swap(records);
  }
  c.out_bytes += frame.size();
  c.out.push_back(std::move(frame));
}

void transport::expire_handshakes() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<conn_id> late;
  for (auto& c : conns_)
    if (channel_ && !c->session &&
        std::chrono::duration<double>(now - c->opened).count() > limits_.handshake_seconds)
      late.push_back(c->id);
  for (auto id : late) drop(id, "rejected: no handshake within " + std::to_string(int(limits_.handshake_seconds)) + " s");
}

void transport::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void transport::stop() {
  if (!running_.exchange(false)) return;
  wake();
  if (thread_.joinable()) thread_.join();
  for (auto& c : conns_)
    if (c->fd >= 0) ::close(c->fd);
  conns_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void transport::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

conn_id transport::connect(const std::string& address) {
  const conn_id id = next_id_++;
  {
    std::lock_guard lock(mu_);
    commands_.push_back({command::connect, id, address, {}});
  }
  wake();
  return id;
}

void transport::send(conn_id conn, std::vector<std::uint8_t> frame) {
  {
    std::lock_guard lock(mu_);
    commands_.push_back({command::send, conn, {}, std::move(frame)});
  }
  wake();
}

void transport::close(conn_id conn) {
  {
    std::lock_guard lock(mu_);
    commands_.push_back({command::close, conn, {}, {}});
  }
  wake();
}

std::string transport::remote_address(conn_id conn) const {
  std::lock_guard lock(mu_);
  for (auto& [id, addr] : remote_)
    if (id == conn) return addr;
  return {};
}

void transport::apply_commands() {
  std::vector<command> cmds;
  {
    std::lock_guard lock(mu_);
    cmds.swap(commands_);
  }
  for (auto& cmd : cmds) {
    auto it = std::find_if(conns_.begin(), conns_.end(), [&](auto& c) { return c->id == cmd.id; });
    switch (cmd.what) {
      case command::connect: {
        auto parsed = parse_address(cmd.address);
        if (!parsed) {
          if (events_.on_closed) events_.on_closed(cmd.id, parsed.err().message);
          break;
        }
        auto res = resolve(parsed->first, parsed->second, false);
        if (!res) {
          if (events_.on_closed) events_.on_closed(cmd.id, res.err().message);
          break;
        }
        addrinfo* ai = *res;
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int rc = fd < 0 ? -1 : ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (fd < 0 || (rc != 0 && errno != EINPROGRESS)) {
          const std::string why = std::strerror(errno);
          if (fd >= 0) ::close(fd);
          if (events_.on_closed) events_.on_closed(cmd.id, "connect to " + cmd.address + ": " + why);
          break;
        }
        set_nodelay(fd);
        auto c = std::make_unique<connection>(max_frame_);
        c->id = cmd.id;
        c->fd = fd;
        c->connecting = rc != 0;
        c->remote = cmd.address;
        {
          std::lock_guard lock(mu_);
          remote_.emplace_back(cmd.id, cmd.address);
        }
        conns_.push_back(std::move(c));
        ++open_conns_;
        start_handshake(*conns_.back(), true);
        break;
      }
      case command::send:
        if (it != conns_.end() && !(*it)->closing) queue_out(**it, std::move(cmd.frame));
        break;
      case command::close:
        if (it != conns_.end()) (*it)->closing = true;
        break;
      case command::close_key: {
        std::vector<wire::public_key> keys;
        {
          std::lock_guard lock(mu_);
          keys.swap(close_keys_);
        }
        std::vector<conn_id> victims;
        for (auto& c : conns_)
          if (c->grant && std::find(keys.begin(), keys.end(), c->grant->pk) != keys.end()) victims.push_back(c->id);
        for (auto id : victims) drop(id, "rejected: peer revoked");
        break;
      }
    }
  }
}

void transport::accept_all() {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: stop accepting for a moment instead of spinning.
        pause_accept_until_ = seconds_now() + 0.1;
        if (events_.on_log) events_.on_log("out of file descriptors: not accepting for 100 ms");
      }
      return;
    }
    std::size_t handshaking = 0;
    for (auto& c : conns_) handshaking += channel_ && !c->session;
    if (conns_.size() >= limits_.max_connections || handshaking >= limits_.max_handshaking) {
      ::close(fd);
      if (events_.on_log && refused_logged_ + 10 < seconds_now()) {
        refused_logged_ = seconds_now();
        events_.on_log("refusing connection from " + describe(ss) + ": " + std::to_string(conns_.size()) +
                       " connections, " + std::to_string(handshaking) + " handshaking (limits " +
                       std::to_string(limits_.max_connections) + ", " + std::to_string(limits_.max_handshaking) + ")");
      }
      continue;
    }
    set_nodelay(fd);
    auto c = std::make_unique<connection>(max_frame_);
    c->id = next_id_++;
    c->fd = fd;
    c->remote = describe(ss);
    {
      std::lock_guard lock(mu_);
      remote_.emplace_back(c->id, c->remote);
    }
    conns_.push_back(std::move(c));
    ++open_conns_;
    if (!start_handshake(*conns_.back(), false)) continue;
  }
}

/// Handshake bytes; once the peer is admitted, the rest is records.
bool transport::on_handshake_bytes(connection& c, const std::uint8_t* data, std::size_t n) {
  const conn_id id = c.id;
  if (auto st = c.hs->feed({data, n}); !st) {
    drop(id, "rejected handshake from " + c.remote + ": " + st.err().message);
    return false;
  }
  if (auto reply = c.hs->take_output(); !reply.empty()) {
    c.out_bytes += reply.size();
    c.out.push_back(std::move(reply));
  }
  if (!c.hs->done()) return true;
  c.grant = std::make_shared<const trust::peer_grant>(c.hs->peer());
  c.session.emplace(c.hs->take_session());
  auto leftover = c.hs->take_leftover();
  c.hs.reset();
  auto waiting = std::move(c.waiting);
  c.waiting.clear();
  for (auto& f : waiting) {
    queue_out(c, std::move(f));
    if (std::find_if(conns_.begin(), conns_.end(), [&](auto& p) { return p->id == id; }) == conns_.end()) return false;
  }
  return leftover.empty() || on_plain(c, leftover.data(), leftover.size());
}

/// Stream bytes after the handshake (or all bytes without a channel):
/// decrypt, split into frames, verify, hand over.
bool transport::on_plain(connection& c, const std::uint8_t* data, std::size_t n) {
  const conn_id id = c.id;
  if (c.session) {
    c.plain.clear();
    if (auto st = c.session->open({data, n}, c.plain); !st) {
      drop(id, "rejected record from " + c.remote + ": " + st.err().message);
      return false;
    }
    data = c.plain.data();
    n = c.plain.size();
  }
  if (auto st = c.splitter.feed(data, n); !st) {
    drop(id, "rejected frame from " + c.remote + ": " + st.err().message);
    return false;
  }
  while (auto frame = c.splitter.pop()) {
    auto opened = wire::open(std::move(*frame), max_frame_);
    if (!opened) {
      drop(id, "rejected frame from " + c.remote + ": " + opened.err().message);
      return false;
    }
    if (c.grant) {
      if (opened->sender_key() != c.grant->pk) {
        drop(id, "rejected frame from " + c.remote + ": signed by " + id_short(opened->sender()) +
                     ", not by the channel's peer " + id_short(c.grant->id));
        return false;
      }
      // Frames that name a recipient carry effects beyond this connection:
      // each is accepted once. The rest are checked for expiry only.
      bool named = false;
      for (auto b : opened->fields().recipient) named |= b != 0;
      if (auto st = replay_.admit(*opened, wire::id_of(channel_->self->pk), default_env().unix_seconds(), named); !st) {
        drop(id, "rejected frame from " + c.remote + ": " + st.err().message);
        return false;
      }
      // Frame-rate budget: a peer that floods is cut off.
      const auto now = std::chrono::steady_clock::now();
      c.tokens = std::min(limits_.max_frames_per_second,
                          c.tokens + std::chrono::duration<double>(now - c.refill).count() * limits_.max_frames_per_second);
      c.refill = now;
      if ((c.tokens -= 1) < -limits_.max_frames_per_second) {
        drop(id, "rejected: " + c.remote + " sends more than " + std::to_string(int(limits_.max_frames_per_second)) +
                     " frames/s");
        return false;
      }
    }
    if (events_.on_frame) events_.on_frame(id, std::make_shared<wire::opened_frame>(std::move(*opened)), c.grant);
  }
  return true;
}

bool transport::read_from(connection& c) {
  std::uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) {
      drop(c.id, "closed by peer");
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      drop(c.id, std::string("read: ") + std::strerror(errno));
      return false;
    }
    bytes_received_ += n;
    const bool alive = c.hs ? on_handshake_bytes(c, buf, static_cast<std::size_t>(n))
                            : on_plain(c, buf, static_cast<std::size_t>(n));
    if (!alive) return false;
    if (static_cast<std::size_t>(n) < sizeof buf) return true;
  }
}

bool transport::write_to(connection& c) {
  while (!c.out.empty()) {
    auto& f = c.out.front();
    const ssize_t n = ::send(c.fd, f.data() + c.out_offset, f.size() - c.out_offset, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      drop(c.id, std::string("write to ") + c.remote + ": " + std::strerror(errno));
      return false;
    }
    bytes_sent_ += n;
    c.out_offset += static_cast<std::size_t>(n);
    if (c.out_offset == f.size()) {
      c.out_bytes -= f.size();
      c.out.pop_front();
      c.out_offset = 0;
    }
  }
  if (c.closing && c.waiting.empty()) {
    drop(c.id, "closed");
    return false;
  }
  return true;
}

void transport::drop(conn_id id, const std::string& reason) {
  auto it = std::find_if(conns_.begin(), conns_.end(), [&](auto& c) { return c->id == id; });
  if (it == conns_.end()) return;
  const bool rejected = reason.rfind("rejected", 0) == 0;
  if (rejected && events_.on_log) events_.on_log("closing connection: " + reason);
  ::close((*it)->fd);
  conns_.erase(it);
  --open_conns_;
  {
    std::lock_guard lock(mu_);
    std::erase_if(remote_, [&](auto& p) { return p.first == id; });
  }
  if (events_.on_closed) events_.on_closed(id, reason);
}

void transport::run() {
  std::vector<pollfd> fds;
  std::vector<conn_id> ids;
  while (running_) {
    apply_commands();
    fds.clear();
    ids.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    const bool accepting = listen_fd_ >= 0 && seconds_now() >= pause_accept_until_;
    if (accepting) fds.push_back({listen_fd_, POLLIN, 0});
    const std::size_t first_conn = fds.size();
    for (auto& c : conns_) {
      short ev = POLLIN;
      if (c->connecting || !c->out.empty() || (c->closing && c->waiting.empty())) ev |= POLLOUT;
      fds.push_back({c->fd, ev, 0});
      ids.push_back(c->id);
    }
    // Every wait has a deadline: commands also wake us, this is a backstop.
    const int rc = ::poll(fds.data(), fds.size(), 200);
    if (rc < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      std::uint64_t v;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
    }
    if (accepting && (fds[1].revents & POLLIN)) accept_all();
    expire_handshakes();
    for (std::size_t i = first_conn; i < fds.size(); ++i) {
      const conn_id id = ids[i - first_conn];
      auto it = std::find_if(conns_.begin(), conns_.end(), [&](auto& c) { return c->id == id; });
      if (it == conns_.end()) continue;
      connection& c = **it;
      const short re = fds[i].revents;
      if (c.connecting && (re & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          drop(id, "connect to " + c.remote + ": " + std::strerror(err));
          continue;
        }
        c.connecting = false;
      }
      if (c.connecting) continue;
      if ((re & (POLLIN | POLLHUP | POLLERR)) && !read_from(c)) continue;
      if ((re & POLLOUT) || !c.out.empty() || (c.closing && c.waiting.empty())) write_to(c);
    }
  }
}

}  // namespace hydra::actors
