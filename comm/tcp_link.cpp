#include "comm/tcp_link.hpp"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
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

status write_all(int fd, const std::uint8_t* p, std::size_t n, clock::time_point deadline) {
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

void tune(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

result<std::pair<std::string, std::uint16_t>> split_address(const std::string& a) {
  const auto colon = a.rfind(':');
  if (colon == std::string::npos) return make_error(errc::invalid_input, "address '" + a + "' is not HOST:PORT");
  std::string host = a.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return std::pair{host, static_cast<std::uint16_t>(std::stoul(a.substr(colon + 1)))};
}

}  // namespace

struct tcp_link::peer {
  int fd = -1;
  // Writer thread: sends queued chunks in order.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<std::byte>> queue;
  // Sent buffers come back here: large fresh allocations are mmap'd and
  // page-faulted every time, which cost more than the copy itself.
  std::vector<std::vector<std::byte>> spare;
  bool stop = false;
  std::string error;  // set when the writer failed
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

  bool writing = false;  // the writer thread is sending a queued tail

  /// Writes queued tails (bytes a direct send could not hand to the kernel)
  /// in order, blocking; never deadlocks a ring because the caller's thread
  /// keeps receiving meanwhile.
  void run_writer() {
    for (;;) {
      std::vector<std::byte> data;
      {
        std::unique_lock l(mu);
        cv.wait(l, [&] { return stop || !queue.empty(); });
        if (queue.empty()) return;
        data = std::move(queue.front());
        queue.pop_front();
        writing = true;
      }
      const status st = write_all(fd, reinterpret_cast<const std::uint8_t*>(data.data()), data.size(),
                                  clock::now() + std::chrono::seconds(600));
      std::lock_guard l(mu);
      writing = false;
      if (!st) {
        error = st.err().message;
        queue.clear();
        return;
      }
      if (spare.size() < 8) spare.push_back(std::move(data));
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

namespace {

std::vector<std::uint8_t> hello_frame(const wire::identity& self, std::uint64_t group, int rank, int size) {
  capnp::MallocMessageBuilder mb;
  auto h = mb.initRoot<Message>().initLinkHello();
  h.setGroup(group);
  h.setRank(static_cast<std::uint32_t>(rank));
  h.setSize(static_cast<std::uint32_t>(size));
  return wire::seal(self, mb);
}

/// Reads one frame from `fd` through `sp` (which may already hold bytes).
result<std::vector<std::uint8_t>> read_frame(int fd, wire::frame_splitter& sp, clock::time_point deadline) {
  std::uint8_t buf[1 << 16];
  for (;;) {
    if (auto f = sp.pop()) return std::move(*f);
    if (auto st = wait_fd(fd, POLLIN, deadline, "recv"); !st) return st.err();
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return make_error(errc::unavailable, "peer closed the connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(errc::unavailable, std::string("recv: ") + std::strerror(errno));
    }
    if (auto st = sp.feed(buf, static_cast<std::size_t>(n)); !st) return st.err();
  }
}

}  // namespace

result<std::unique_ptr<tcp_link>> tcp_link::open(int rank, const std::vector<std::string>& addresses, int listen_fd,
                                                 const wire::identity& self, std::uint64_t group,
                                                 clock::time_point deadline) {
  const int n = static_cast<int>(addresses.size());
  std::unique_ptr<tcp_link> l(new tcp_link(rank, addresses.size()));
  const auto hello = hello_frame(self, group, rank, n);
  // Connect to every lower rank and introduce ourselves.
  for (int j = 0; j < rank; ++j) {
    auto a = split_address(addresses[j]);
    if (!a) return a.err();
    for (;;) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(a->second);
      inet_pton(AF_INET, a->first.c_str(), &sa.sin_addr);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
        tune(fd);
        l->peers_[j]->fd = fd;
        break;
      }
      ::close(fd);
      if (clock::now() > deadline)
        return make_error(errc::deadline, "cannot connect to rank " + std::to_string(j) + " at " + addresses[j]);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // it may not listen yet
    }
    if (auto st = write_all(l->peers_[j]->fd, hello.data(), hello.size(), deadline); !st) return st.err();
  }
  // Accept every higher rank; each names itself in a signed hello.
  fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
  for (int accepted = 0; accepted < n - 1 - rank;) {
    if (auto st = wait_fd(listen_fd, POLLIN, deadline, "accept"); !st) return st.err();
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    tune(fd);
    wire::frame_splitter sp(64 << 10);
    auto f = read_frame(fd, sp, deadline);
    auto opened = f ? wire::open(std::move(*f)) : result<wire::opened_frame>(f.err());
    if (!opened || !opened->message().isLinkHello()) {
      ::close(fd);  // not one of ours: ignore it and keep waiting
      continue;
    }
    auto h = opened->message().getLinkHello();
    const int from = static_cast<int>(h.getRank());
    if (h.getGroup() != group || static_cast<int>(h.getSize()) != n || from <= rank || from >= n ||
        l->peers_[from]->fd >= 0) {
      ::close(fd);
      continue;
    }
    l->peers_[from]->fd = fd;
    ++accepted;
  }
  for (int j = 0; j < n; ++j)
    if (j != rank) {
      auto* p = l->peers_[j].get();
      p->writer = std::thread([p] { p->run_writer(); });
    }
  return l;
}

namespace {

// A data-plane frame is one LinkChunk in Cap'n Proto's stream framing, laid
// out canonically so it can be written from the caller's buffers and read
// straight into the receiver's: segment table (1 segment of W words), the
// root struct pointer, the struct's one pointer (a byte list right after
// it), the bytes, zero padding to a word. `capnp decode` reads it as any
// LinkChunk.
constexpr std::uint64_t chunk_root = std::uint64_t{1} << 48;  // struct at +0: 0 data words, 1 pointer

std::uint64_t chunk_list(std::uint64_t n) { return 1 | (std::uint64_t{2} << 32) | (n << 35); }  // bytes at +0

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
  const std::uint64_t words = 2 + (n + 7) / 8;
  const std::uint32_t table[2] = {0, static_cast<std::uint32_t>(words)};
  const std::uint64_t ptrs[2] = {chunk_root, chunk_list(n)};
  static const std::byte zeros[8] = {};
  std::vector<iovec> iov;
  iov.push_back({const_cast<std::uint32_t*>(table), sizeof table});
  iov.push_back({const_cast<std::uint64_t*>(ptrs), sizeof ptrs});
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
    std::vector<std::byte> tail;
    if (!p.spare.empty()) {
      tail = std::move(p.spare.back());
      p.spare.pop_back();
    }
    tail.clear();
    for (std::size_t i = first; i < iov.size(); ++i) {
      auto b = static_cast<const std::byte*>(iov[i].iov_base);
      tail.insert(tail.end(), b, b + iov[i].iov_len);
    }
    p.queue.push_back(std::move(tail));
    p.cv.notify_one();
  }
  bytes_sent_ += n;
  return {};
}

namespace {

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

}  // namespace

status tcp_link::recv(int from, std::vector<std::byte>& out, clock::time_point deadline) {
  if (from < 0 || from >= size() || from == rank_) return make_error(errc::invalid_input, "recv: bad rank");
  auto& p = *peers_[from];
  const std::string who = "recv from rank " + std::to_string(from) + ": ";
  auto fail = [&](const error& e) { return make_error(e.code, who + e.message); };
  // Segment table and the two pointers, checked before anything is
  // allocated for the body: only the canonical layout `send` writes is taken.
  std::uint32_t table[2];
  std::uint64_t ptrs[2];
  if (auto st = read_exact(p.fd, table, sizeof table, deadline); !st) return fail(st.err());
  if (table[0] != 0) return make_error(errc::invalid_input, who + "chunk is not a single segment");
  if (auto st = read_exact(p.fd, ptrs, sizeof ptrs, deadline); !st) return fail(st.err());
  const std::uint64_t n = ptrs[1] >> 35;
  if (ptrs[0] != chunk_root || ptrs[1] != chunk_list(n) || table[1] != 2 + (n + 7) / 8)
    return make_error(errc::invalid_input, who + "chunk is not in canonical layout");
  if (n + 64 > max_chunk_frame) return make_error(errc::invalid_input, who + "chunk exceeds the frame limit");
  out.resize(n);
  if (auto st = read_exact(p.fd, out.data(), n, deadline); !st) return fail(st.err());
  std::uint8_t pad[8];
  if (n % 8)
    if (auto st = read_exact(p.fd, pad, 8 - n % 8, deadline); !st) return fail(st.err());
  return {};
}

}  // namespace hydra::comm
