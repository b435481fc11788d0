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
  std::vector<capnp::word> inbuf;  // reused for every incoming chunk
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

status tcp_link::send(int to, std::span<const std::byte> bytes) {
  if (to < 0 || to >= size() || to == rank_) return make_error(errc::invalid_input, "send: bad rank");
  auto& p = *peers_[to];
  // A LinkChunk whose blob references the caller's bytes (no builder copy),
  // framed as segment table + segments.
  capnp::MallocMessageBuilder mb;
  auto root = mb.initRoot<LinkChunk>();
  root.adoptData(mb.getOrphanage().referenceExternalData(
      capnp::Data::Reader(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size())));
  auto segments = mb.getSegmentsForOutput();
  std::vector<std::uint32_t> table((segments.size() + 2) & ~std::size_t{1}, 0);
  table[0] = static_cast<std::uint32_t>(segments.size() - 1);
  for (std::size_t i = 0; i < segments.size(); ++i) table[i + 1] = static_cast<std::uint32_t>(segments[i].size());
  std::vector<std::span<const std::uint8_t>> pieces;
  pieces.emplace_back(reinterpret_cast<const std::uint8_t*>(table.data()), table.size() * 4);
  for (auto seg : segments)
    pieces.emplace_back(reinterpret_cast<const std::uint8_t*>(seg.begin()), seg.size() * 8);

  std::lock_guard l(p.mu);
  if (!p.error.empty()) return make_error(errc::unavailable, "send to rank " + std::to_string(to) + ": " + p.error);
  std::size_t piece = 0, off = 0;
  if (p.queue.empty() && !p.writing) {
    // Straight to the kernel while it takes bytes without blocking: in the
    // common case nothing is copied.
    while (piece < pieces.size()) {
      const ssize_t k = ::send(p.fd, pieces[piece].data() + off, pieces[piece].size() - off, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        p.error = std::strerror(errno);
        return make_error(errc::unavailable, "send to rank " + std::to_string(to) + ": " + p.error);
      }
      off += static_cast<std::size_t>(k);
      if (off == pieces[piece].size()) {
        ++piece;
        off = 0;
      }
    }
  }
  if (piece < pieces.size()) {
    // The rest goes to the writer thread, copied once.
    std::vector<std::byte> tail;
    if (!p.spare.empty()) {
      tail = std::move(p.spare.back());
      p.spare.pop_back();
    }
    tail.clear();
    for (; piece < pieces.size(); ++piece, off = 0) {
      auto b = reinterpret_cast<const std::byte*>(pieces[piece].data());
      tail.insert(tail.end(), b + off, b + pieces[piece].size());
    }
    p.queue.push_back(std::move(tail));
    p.cv.notify_one();
  }
  bytes_sent_ += bytes.size();
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
  // The segment table, checked before anything is allocated for the body.
  std::uint32_t head[2];
  if (auto st = read_exact(p.fd, head, sizeof head, deadline); !st) return make_error(st.err().code, who + st.err().message);
  const std::uint32_t segs = head[0] + 1;
  if (segs > wire::max_segments) return make_error(errc::invalid_input, who + "too many segments");
  std::vector<std::uint32_t> sizes{head[1]};
  if (segs > 1) {
    std::vector<std::uint32_t> rest(((segs + 2) & ~1u) - 2);
    if (auto st = read_exact(p.fd, rest.data(), rest.size() * 4, deadline); !st)
      return make_error(st.err().code, who + st.err().message);
    sizes.insert(sizes.end(), rest.begin(), rest.begin() + (segs - 1));
  }
  std::size_t words = 0;
  for (auto w : sizes) words += w;
  if (words * 8 > max_chunk_frame) return make_error(errc::invalid_input, who + "chunk exceeds the frame limit");
  // Segment 0 (the small root) into our buffer; the later segments — the
  // blob, as the sender lays it out — straight into `out`.
  const std::size_t rest = words - sizes[0];
  if (p.inbuf.size() < sizes[0]) p.inbuf.resize(sizes[0]);
  out.resize(rest * 8);
  if (auto st = read_exact(p.fd, p.inbuf.data(), sizes[0] * 8, deadline); !st)
    return make_error(st.err().code, who + st.err().message);
  if (auto st = read_exact(p.fd, out.data(), rest * 8, deadline); !st)
    return make_error(st.err().code, who + st.err().message);
  try {
    std::vector<kj::ArrayPtr<const capnp::word>> segments;
    segments.emplace_back(p.inbuf.data(), sizes[0]);
    std::size_t off = 0;
    for (std::size_t i = 1; i < sizes.size(); ++i) {
      segments.emplace_back(reinterpret_cast<const capnp::word*>(out.data()) + off, sizes[i]);
      off += sizes[i];
    }
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = 4 * words + 1024;
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments.data(), segments.size()), opts);
    auto d = reader.getRoot<LinkChunk>().getData();
    const auto* begin = reinterpret_cast<const std::byte*>(d.begin());
    if (d.size() == 0) {
      out.clear();
    } else if (begin >= out.data() && begin + d.size() <= out.data() + out.size()) {
      if (begin != out.data()) std::memmove(out.data(), begin, d.size());
      out.resize(d.size());
    } else {
      std::vector<std::byte> copy(begin, begin + d.size());  // blob inside segment 0
      out.swap(copy);
    }
    return {};
  } catch (const kj::Exception& e) {
    return make_error(errc::invalid_input,
                      "recv from rank " + std::to_string(from) + ": bad chunk: " + e.getDescription().cStr());
  }
}

}  // namespace hydra::comm
