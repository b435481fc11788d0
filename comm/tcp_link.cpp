#include "comm/tcp_link.hpp"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "wire/frame.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::comm {
namespace {

constexpr std::size_t max_chunk_frame = 1u << 30;

int ms_until(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

status wait_fd(int fd, short events, clock::time_point deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, ms_until(deadline));
    if (n > 0) return {};
    if (n == 0) return make_error(errc::deadline, std::string(what) + ": deadline passed");
    if (errno != EINTR) return make_error(errc::io, std::string(what) + ": " + std::strerror(errno));
  }
}

status write_all(int fd, const std::byte* p, std::size_t n, clock::time_point deadline) {
  while (n > 0) {
    if (auto st = wait_fd(fd, POLLOUT, deadline, "send"); !st) return st;
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(errc::unavailable, std::string("send: ") + std::strerror(errno));
    }
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return {};
}

/// Reads exactly n bytes: recv first, poll only when the socket is empty.
status read_exact(int fd, void* dst, std::size_t n, clock::time_point deadline) {
  auto* p = static_cast<std::uint8_t*>(dst);
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k > 0) {
      p += k;
      n -= static_cast<std::size_t>(k);
      continue;
    }
    if (k == 0) return make_error(errc::unavailable, "peer closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return make_error(errc::unavailable, std::strerror(errno));
    if (auto st = wait_fd(fd, POLLIN, deadline, "recv"); !st) return st;
  }
  return {};
}

void tune(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/// "IPv4:port" (peers advertise it, so nothing here may throw): a clear
/// error for a missing colon, a host that is not an IPv4 literal, or a port
/// that is not 1..65535.
result<sockaddr_in> parse_address(const std::string& a) {
  const auto colon = a.rfind(':');
  if (colon == std::string::npos) return make_error(errc::invalid_input, "address '" + a + "' is not HOST:PORT");
  const std::string host = a.substr(0, colon), port = a.substr(colon + 1);
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || v == 0 || v > 65535)
    return make_error(errc::invalid_input, "address '" + a + "': port '" + port + "' is not 1..65535");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(v));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
    return make_error(errc::invalid_input, "address '" + a + "': host '" + host + "' is not an IPv4 address");
  return sa;
}

std::string peer_name(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return "?";
  char host[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(sa.sin_port));
}

/// A send buffer that is not zero-filled when it grows (a vector would
/// memset megabytes that the cipher overwrites anyway).
struct out_buf {
  std::unique_ptr<std::byte[]> data;
  std::size_t cap = 0, size = 0, at = 0;  // at: first byte not yet written

  void reset(std::size_t n) {
    if (cap < n) {
      data.reset(new std::byte[n]);
      cap = n;
    }
    size = n;
    at = 0;
  }
};

/// The receive side of a secure connection: record bytes that came with
/// the handshake first, then the socket; plaintext of a record that is
/// larger than the read waits in `plain`.
struct secure_in {
  trust::secure_session* session = nullptr;
  std::vector<std::uint8_t> pending;  // ciphertext read ahead (handshake leftover)
  std::size_t pending_at = 0;
  std::vector<std::uint8_t> body;     // one record's ciphertext + tag
  std::vector<std::uint8_t> plain;    // decrypted bytes not yet read
  std::size_t plain_at = 0;

  status read_raw(int fd, std::uint8_t* dst, std::size_t n, clock::time_point deadline) {
    const std::size_t k = std::min(n, pending.size() - pending_at);
    if (k > 0) {
      std::memcpy(dst, pending.data() + pending_at, k);
      pending_at += k;
      if (pending_at == pending.size()) pending = {}, pending_at = 0;
    }
    return read_exact(fd, dst + k, n - k, deadline);
  }

  /// Reads one record and decrypts it into `dst`, which has `room` writable
  /// bytes, or into `plain` when its plaintext does not fit (dst may be
  /// null); returns the plaintext size. When the whole record body fits, it
  /// is read into dst and decrypted in place: the bytes cross memory once.
  result<std::size_t> next_record(int fd, std::uint8_t* dst, std::size_t room, clock::time_point deadline) {
    std::uint8_t hdr[4];
    if (auto st = read_raw(fd, hdr, 4, deadline); !st) return st.err();
    auto n = session->record_size(hdr);
    if (!n) return n.err();
    const std::size_t m = *n - 16;
    std::uint8_t* src = dst;
    if (!dst || *n > room) {
      body.resize(*n);
      src = body.data();
    }
    if (!dst || m > room) {
      plain.resize(m);
      plain_at = 0;
      dst = plain.data();
    }
    if (auto st = read_raw(fd, src, *n, deadline); !st) return st.err();
    if (auto st = session->open_record(hdr, std::span(src, *n), dst); !st) return st.err();
    return m;
  }

  /// Reads n plaintext bytes into dst, which may be written `slack` bytes
  /// past n (room for a record's tag, so the last record decrypts in place).
  status read(int fd, void* dst_v, std::size_t n, std::size_t slack, clock::time_point deadline) {
    auto* dst = static_cast<std::uint8_t*>(dst_v);
    while (n > 0) {
      if (plain_at < plain.size()) {
        const std::size_t k = std::min(n, plain.size() - plain_at);
        std::memcpy(dst, plain.data() + plain_at, k);
        plain_at += k, dst += k, n -= k;
        continue;
      }
      auto m = next_record(fd, dst, n + slack, deadline);  // straight into dst when it fits
      if (!m) return m.err();
      if (*m <= n + slack && *m > n) {  // in dst but past the end: keep the excess for the next read
        plain.assign(dst + n, dst + *m);
        plain_at = 0;
        *m = n;
      }
      if (*m <= n) dst += *m, n -= *m;
    }
    return {};
  }
};

}  // namespace

struct tcp_link::peer {
  int fd = -1;
  std::optional<trust::secure_session> session;  // empty: plaintext mode
  secure_in in;
  // Writer thread: sends queued buffers in order.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<out_buf> queue;
  // Sent buffers come back here: large fresh allocations are mmap'd and
  // page-faulted every time, which cost more than the copy itself.
  std::vector<out_buf> spare;
  bool stop = false;
  bool writing = false;  // the writer thread is sending a queued buffer
  std::string error;     // set when the writer failed
  std::thread writer;

  ~peer() {
    {
      std::lock_guard l(mu);
      stop = true;
    }
    cv.notify_all();
    if (writer.joinable()) writer.join();
    if (fd >= 0) ::close(fd);
  }

  void secure(trust::secure_session s, std::vector<std::uint8_t> leftover) {
    session.emplace(std::move(s));
    in.session = &*session;
    in.pending = std::move(leftover);
  }

  out_buf take_spare() {
    std::lock_guard l(mu);
    if (spare.empty()) return {};
    out_buf b = std::move(spare.back());
    spare.pop_back();
    return b;
  }

  /// Writes queued buffers (bytes a direct send could not hand to the
  /// kernel) in order, blocking; never deadlocks a ring because the caller's
  /// thread keeps receiving meanwhile.
  void run_writer() {
    for (;;) {
      out_buf b;
      {
        std::unique_lock l(mu);
        cv.wait(l, [&] { return stop || !queue.empty(); });
        if (queue.empty()) return;
        b = std::move(queue.front());
        queue.pop_front();
        writing = true;
      }
      const status st = write_all(fd, b.data.get() + b.at, b.size - b.at, clock::now() + std::chrono::seconds(600));
      std::lock_guard l(mu);
      writing = false;
      if (!st) {
        error = st.err().message;
        queue.clear();
        return;
      }
      if (spare.size() < 8) spare.push_back(std::move(b));
      cv.notify_all();
    }
  }
};

tcp_link::tcp_link(int rank, std::size_t n) : rank_(rank) {
  for (std::size_t i = 0; i < n; ++i) peers_.push_back(std::make_unique<peer>());
}

tcp_link::~tcp_link() = default;

result<std::pair<int, std::uint16_t>> tcp_link::listen_on(const std::string& host, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    ::close(fd);
    return make_error(errc::invalid_input, "listen: '" + host + "' is not an IPv4 address");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 64) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return make_error(errc::unavailable, "listen on " + host + ":" + std::to_string(port) + ": " + why);
  }
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return std::pair{fd, static_cast<std::uint16_t>(ntohs(sa.sin_port))};
}

// ---- opening ---------------------------------------------------------------

/// The steps of open(): dial lower ranks, admit higher ones.
struct tcp_link::opener {
  tcp_link& l;
  const std::vector<std::string>& addresses;
  const trust::channel_config& base;
  const std::vector<wire::public_key>* members;  // null: any key (transitional overload)
  std::uint64_t group;
  clock::time_point deadline;
  const tcp_link_options& opt;

  int n() const { return static_cast<int>(addresses.size()); }

  std::vector<std::uint8_t> hello() const {
    capnp::MallocMessageBuilder mb;
    auto h = mb.initRoot<Message>().initLinkHello();
    h.setGroup(group);
    h.setRank(static_cast<std::uint32_t>(l.rank_));
    h.setSize(static_cast<std::uint32_t>(n()));
    return wire::seal(*base.self, mb);
  }

  result<int> connect_to(int j, const sockaddr_in& sa) {
    for (;;) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) {
        tune(fd);
        return fd;
      }
      ::close(fd);
      if (clock::now() > deadline)
        return make_error(errc::deadline, "cannot connect to rank " + std::to_string(j) + " at " + addresses[j]);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // it may not listen yet
    }
  }

  /// Dials rank j, runs the handshake expecting members[j], sends the hello.
  status dial(int j, const sockaddr_in& sa) {
    auto fd = connect_to(j, sa);
    if (!fd) return fd.err();
    peer& p = *l.peers_[j];
    p.fd = *fd;  // closed by ~peer on any error
    auto cfg = base;
    if (members) cfg.expect = (*members)[j];
    std::vector<std::uint8_t> leftover;
    auto s = trust::handshake_fd(p.fd, true, std::move(cfg), deadline, leftover);
    if (!s) return make_error(s.err().code, "rank " + std::to_string(j) + " at " + addresses[j] + ": " + s.err().message);
    p.secure(std::move(s->first), std::move(leftover));
    std::vector<std::uint8_t> sealed;
    p.session->seal(hello(), sealed);
    return write_all(p.fd, reinterpret_cast<const std::byte*>(sealed.data()), sealed.size(), deadline);
  }

  /// Handshake and hello of one accepted connection: the rank it proved, or
  /// why it is refused.
  result<int> admit(peer& p) {
    const auto until = std::min(deadline, clock::now() + opt.handshake_timeout);
    std::vector<std::uint8_t> leftover;
    auto s = trust::handshake_fd(p.fd, false, base, until, leftover);
    if (!s) return s.err();
    const wire::public_key pk = s->second.pk;
    p.secure(std::move(s->first), std::move(leftover));
    wire::frame_splitter sp(64 << 10);
    std::optional<std::vector<std::uint8_t>> frame;
    while (!(frame = sp.pop())) {
      auto m = p.in.next_record(p.fd, nullptr, 0, until);
      if (!m) return m.err();
      auto st = sp.feed(p.in.plain.data(), *m);
      p.in.plain.clear();
      if (!st) return st.err();
    }
    auto f = wire::open(std::move(*frame));
    if (!f) return f.err();
    if (!f->message().isLinkHello() || sp.buffered() != 0) return make_error(errc::invalid_input, "no LinkHello");
    auto h = f->message().getLinkHello();
    const auto from = static_cast<std::int64_t>(h.getRank());
    if (f->sender_key() != pk) return make_error(errc::invalid_input, "hello signed by another key");
    if (h.getGroup() != group)
      return make_error(errc::invalid_input, "hello for group " + std::to_string(h.getGroup()) + ", not " +
                                                 std::to_string(group));
    if (static_cast<int>(h.getSize()) != n() || from <= l.rank_ || from >= n())
      return make_error(errc::invalid_input, "hello claims rank " + std::to_string(from) + " of " +
                                                 std::to_string(h.getSize()));
    if (members && (*members)[from] != pk)
      return make_error(errc::invalid_input, "rank " + std::to_string(from) + " must hold key " +
                                                 trust::key_short((*members)[from]) + ", peer holds " +
                                                 trust::key_short(pk));
    if (l.peers_[from]->fd >= 0) return make_error(errc::invalid_input, "rank " + std::to_string(from) + " is already connected");
    return static_cast<int>(from);
  }

  void refused(const std::string& who, const std::string& why) const {
    const std::string line = "tcp_link rank " + std::to_string(l.rank_) + ": refused a connection from " + who + ": " + why;
    if (opt.log) opt.log(line);
    else std::fprintf(stderr, "%s\n", line.c_str());
  }

  status accept_higher(int listen_fd) {
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    for (int accepted = 0; accepted < n() - 1 - l.rank_;) {
      if (auto st = wait_fd(listen_fd, POLLIN, deadline, "accept"); !st) return st;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      tune(fd);
      auto p = std::make_unique<peer>();
      p->fd = fd;
      auto from = admit(*p);
      if (!from) {
        refused(peer_name(fd), from.err().message);
        continue;  // ~peer closes it; keep waiting for the real one
      }
      l.peers_[*from] = std::move(p);
      ++accepted;
    }
    return {};
  }

  status run(int listen_fd) {
    if (n() < 1 || l.rank_ < 0 || l.rank_ >= n()) return make_error(errc::invalid_input, "tcp_link: bad rank");
    if (members && static_cast<int>(members->size()) != n())
      return make_error(errc::invalid_input, "tcp_link: " + std::to_string(members->size()) + " member keys for " +
                                                 std::to_string(n()) + " addresses");
    if (!base.self) return make_error(errc::invalid_input, "tcp_link: no identity");
    std::vector<sockaddr_in> sas;
    for (const auto& a : addresses) {
      auto sa = parse_address(a);
      if (!sa) return sa.err();
      sas.push_back(*sa);
    }
    for (int j = 0; j < l.rank_; ++j)
      if (auto st = dial(j, sas[j]); !st) return st;
    if (auto st = accept_higher(listen_fd); !st) return st;
    for (int j = 0; j < n(); ++j)
      if (j != l.rank_) {
        auto* p = l.peers_[j].get();
        if (opt.plaintext) p->session.reset(), p->in.session = nullptr;  // bytes read ahead stay in p->in.pending
        p->writer = std::thread([p] { p->run_writer(); });
      }
    return {};
  }
};

result<std::unique_ptr<tcp_link>> tcp_link::open(int rank, const std::vector<std::string>& addresses, int listen_fd,
                                                 trust::channel_config base, std::vector<wire::public_key> members,
                                                 std::uint64_t group, clock::time_point deadline,
                                                 tcp_link_options opt) {
  std::unique_ptr<tcp_link> l(new tcp_link(rank, addresses.size()));
  opener o{*l, addresses, base, &members, group, deadline, opt};
  if (auto st = o.run(listen_fd); !st) return st.err();
  return l;
}

result<std::unique_ptr<tcp_link>> tcp_link::open(int rank, const std::vector<std::string>& addresses, int listen_fd,
                                                 const wire::identity& self, std::uint64_t group,
                                                 clock::time_point deadline) {
  std::unique_ptr<tcp_link> l(new tcp_link(rank, addresses.size()));
  trust::channel_config base;
  base.self = &self;
  base.verify = [](const wire::public_key& pk, std::span<const std::uint8_t>) -> result<trust::peer_grant> {
    trust::peer_grant g;
    g.pk = pk;
    return g;
  };
  const tcp_link_options opt;
  opener o{*l, addresses, base, nullptr, group, deadline, opt};
  if (auto st = o.run(listen_fd); !st) return st.err();
  return l;
}

// ---- chunks ----------------------------------------------------------------

namespace {

// A data-plane frame is one LinkChunk in Cap'n Proto's stream framing, laid
// out canonically so it can be written from the caller's buffers and read
// straight into the receiver's: segment table (1 segment of W words), the
// root struct pointer, the struct's one pointer (a byte list right after
// it), the bytes, zero padding to a word. `capnp decode` reads the
// channel's plaintext as LinkChunks.
constexpr std::uint64_t chunk_root = std::uint64_t{1} << 48;  // struct at +0: 0 data words, 1 pointer

std::uint64_t chunk_list(std::uint64_t n) { return 1 | (std::uint64_t{2} << 32) | (n << 35); }  // bytes at +0

struct chunk_head {
  std::uint32_t table[2];
  std::uint64_t ptrs[2];
};
static_assert(sizeof(chunk_head) == 24);

chunk_head head_for(std::uint64_t n) {
  return {{0, static_cast<std::uint32_t>(2 + (n + 7) / 8)}, {chunk_root, chunk_list(n)}};
}

const std::byte zeros[8] = {};

}  // namespace

status tcp_link::send(int to, std::span<const std::byte> bytes) {
  const std::span<const std::byte> parts[1] = {bytes};
  return send_parts(to, parts);
}

status tcp_link::send_parts(int to, std::span<const std::span<const std::byte>> parts) {
  if (to < 0 || to >= size() || to == rank_) return make_error(errc::invalid_input, "send: bad rank");
  auto& p = *peers_[to];
  std::uint64_t n = 0;
  for (auto part : parts) n += part.size();
  if (n + 64 > max_chunk_frame) return make_error(errc::invalid_input, "send: message exceeds the frame limit");
  auto st = p.session ? send_sealed(p, to, parts, n) : send_plain(p, to, parts, n);
  if (st) bytes_sent_ += n;
  return st;
}

status tcp_link::send_sealed(peer& p, int to, std::span<const std::span<const std::byte>> parts, std::size_t n) {
  // The head goes in a record of its own, so the receiver authenticates it
  // before sizing anything, and the payload records land whole in its buffer.
  const chunk_head head = head_for(n);
  const std::span<const std::byte> head_part[1] = {std::as_bytes(std::span(&head, 1))};
  std::vector<std::span<const std::byte>> body(parts.begin(), parts.end());
  if (n % 8) body.push_back(std::span(zeros, 8 - n % 8));
  const std::size_t head_size = p.session->sealed_size(sizeof head);
  out_buf b = p.take_spare();
  b.reset(head_size + p.session->sealed_size(n + (8 - n % 8) % 8));
  // Sealed outside the lock: only this (the one sending) thread touches the
  // session's send side, and the buffer is queued in the order it was sealed.
  p.session->seal_parts(head_part, b.data.get());
  p.session->seal_parts(body, b.data.get() + head_size);
  std::lock_guard l(p.mu);
  if (!p.error.empty()) return make_error(errc::unavailable, "send to rank " + std::to_string(to) + ": " + p.error);
  if (p.queue.empty() && !p.writing) {
    while (b.at < b.size) {  // straight to the kernel while it takes bytes
      const ssize_t k = ::send(p.fd, b.data.get() + b.at, b.size - b.at, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        p.error = std::strerror(errno);
        return make_error(errc::unavailable, "send to rank " + std::to_string(to) + ": " + p.error);
      }
      b.at += static_cast<std::size_t>(k);
    }
  }
  if (b.at < b.size) {
    p.queue.push_back(std::move(b));  // the rest goes to the writer thread, not copied
    p.cv.notify_one();
  } else if (p.spare.size() < 8) {
    p.spare.push_back(std::move(b));
  }
  return {};
}

status tcp_link::send_plain(peer& p, int to, std::span<const std::span<const std::byte>> parts, std::size_t n) {
  const chunk_head head = head_for(n);
  std::vector<iovec> iov;
  iov.push_back({const_cast<chunk_head*>(&head), sizeof head});
  for (auto part : parts)
    if (!part.empty()) iov.push_back({const_cast<std::byte*>(part.data()), part.size()});
  if (n % 8) iov.push_back({const_cast<std::byte*>(zeros), 8 - n % 8});

  std::lock_guard l(p.mu);
  if (!p.error.empty()) return make_error(errc::unavailable, "send to rank " + std::to_string(to) + ": " + p.error);
  std::size_t first = 0;  // first iovec not fully written
  if (p.queue.empty() && !p.writing) {
    // Straight to the kernel while it takes bytes without blocking: in the
    // common case nothing is copied.
    while (first < iov.size()) {
      msghdr mh{};
      mh.msg_iov = iov.data() + first;
      mh.msg_iovlen = std::min<std::size_t>(iov.size() - first, 64);
      ssize_t k = ::sendmsg(p.fd, &mh, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        p.error = std::strerror(errno);
        return make_error(errc::unavailable, "send to rank " + std::to_string(to) + ": " + p.error);
      }
      while (k > 0 && first < iov.size()) {
        const std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(k), iov[first].iov_len);
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
        iov[first].iov_len -= take;
        k -= static_cast<ssize_t>(take);
        if (iov[first].iov_len == 0) ++first;
      }
    }
  }
  if (first < iov.size()) {
    // The rest goes to the writer thread, copied once.
    std::size_t left = 0;
    for (std::size_t i = first; i < iov.size(); ++i) left += iov[i].iov_len;
    out_buf tail;
    if (!p.spare.empty()) {
      tail = std::move(p.spare.back());
      p.spare.pop_back();
    }
    tail.reset(left);
    for (std::size_t i = first, at = 0; i < iov.size(); at += iov[i].iov_len, ++i)
      std::memcpy(tail.data.get() + at, iov[i].iov_base, iov[i].iov_len);
    p.queue.push_back(std::move(tail));
    p.cv.notify_one();
  }
  return {};
}

status tcp_link::recv(int from, std::vector<std::byte>& out, clock::time_point deadline) {
  if (from < 0 || from >= size() || from == rank_) return make_error(errc::invalid_input, "recv: bad rank");
  auto& p = *peers_[from];
  const std::string who = "recv from rank " + std::to_string(from) + ": ";
  auto fail = [&](const error& e) { return make_error(e.code, who + e.message); };
  auto read = [&](void* dst, std::size_t n, std::size_t slack) {
    return p.session ? p.in.read(p.fd, dst, n, slack, deadline)
                     : p.in.read_raw(p.fd, static_cast<std::uint8_t*>(dst), n, deadline);
  };
  // Segment table and the two pointers, checked before anything is
  // allocated for the body: only the canonical layout `send` writes is taken.
  chunk_head head;
  if (auto st = read(&head, sizeof head, 0); !st) return fail(st.err());
  if (head.table[0] != 0) return make_error(errc::invalid_input, who + "chunk is not a single segment");
  const std::uint64_t n = head.ptrs[1] >> 35;
  if (head.ptrs[0] != chunk_root || head.ptrs[1] != chunk_list(n) || head.table[1] != 2 + (n + 7) / 8)
    return make_error(errc::invalid_input, who + "chunk is not in canonical layout");
  if (n + 64 > max_chunk_frame) return make_error(errc::invalid_input, who + "chunk exceeds the frame limit");
  // With the padding and room for a tag: every record lands whole, in place.
  const std::size_t padded = n + (8 - n % 8) % 8;
  out.resize(padded + (p.session ? 16 : 0));
  if (auto st = read(out.data(), padded, out.size() - padded); !st) return fail(st.err());
  out.resize(n);
  bytes_received_ += n;
  return {};
}

}  // namespace hydra::comm
