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

namespace hydra::actors {

struct transport::command {
  enum kind { connect, send, close } what;
  conn_id id;
  std::string address;
  std::vector<std::uint8_t> frame;
};

struct transport::connection {
  conn_id id;
  int fd = -1;
  bool connecting = false;
  bool closing = false;  // close once the queue is flushed
  std::string remote;
  wire::frame_splitter splitter;
  std::deque<std::vector<std::uint8_t>> out;
  std::size_t out_offset = 0;
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
  const unsigned long port = std::stoul(port_text);
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
        break;
      }
      case command::send:
        if (it != conns_.end() && !(*it)->closing) (*it)->out.push_back(std::move(cmd.frame));
        break;
      case command::close:
        if (it != conns_.end()) (*it)->closing = true;
        break;
    }
  }
}

void transport::accept_all() {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
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
  }
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
    if (auto st = c.splitter.feed(buf, static_cast<std::size_t>(n)); !st) {
      drop(c.id, "rejected frame from " + c.remote + ": " + st.err().message);
      return false;
    }
    while (auto frame = c.splitter.pop()) {
      auto opened = wire::open(std::move(*frame), max_frame_);
      if (!opened) {
        drop(c.id, "rejected frame from " + c.remote + ": " + opened.err().message);
        return false;
      }
      if (events_.on_frame) events_.on_frame(c.id, std::make_shared<wire::opened_frame>(std::move(*opened)));
    }
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
      c.out.pop_front();
      c.out_offset = 0;
    }
  }
  if (c.closing) {
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
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    const std::size_t first_conn = fds.size();
    for (auto& c : conns_) {
      short ev = POLLIN;
      if (c->connecting || !c->out.empty() || c->closing) ev |= POLLOUT;
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
    if (listen_fd_ >= 0 && (fds[1].revents & POLLIN)) accept_all();
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
      if ((re & POLLOUT) || !c.out.empty() || c.closing) write_to(c);
    }
  }
}

}  // namespace hydra::actors
