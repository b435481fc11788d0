#pragma once
// What the end-to-end tests need to play a cluster's operator, its nodes and
// hostile machines against real `hydra node` processes on loopback:
// - test_cluster: an operator key and cluster.pub in BASE/op (as `hydra
//   operator init` writes them), certificates for state folders and for
//   in-memory keys (valid, expired, with chosen roles);
// - node_process: a real node (admitted first unless told otherwise);
// - secure_conn: a client that opens the cluster's encrypted channel as a
//   given key and then sends whatever frames (or junk) a test wants.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/credentials.hpp"
#include "actors/ctl_client.hpp"
#include "actors/transport.hpp"
#include "common/env.hpp"
#include "trust/cert.hpp"
#include "trust/channel.hpp"
#include "wire/frame.hpp"

namespace hydra::e2e {

namespace fs = std::filesystem;

struct test_cluster {
  std::string dir;  ///< BASE/op
  wire::identity op;
  trust::cluster cl;

  explicit test_cluster(const std::string& base) : dir(base + "/op") {
    fs::create_directories(dir);
    op = *wire::load_or_create_key_file(dir + "/operator.key");
    cl = trust::make_cluster("e2e", op.pk);
    (void)trust::write_file_atomic(dir + "/cluster.pub", *trust::encode_cluster(cl, op), 0644);
  }

  std::vector<std::uint8_t> cert_for(const wire::public_key& pk, std::uint32_t roles, std::int64_t valid_for = 86400) {
    const auto now = default_env().unix_seconds();
    const std::int64_t from = valid_for < 0 ? now + valid_for - 86400 : now - 60;
    return *trust::issue_cert(op, cl, pk, roles, from, now + valid_for);
  }

  /// Admits a node's state folder (identity.key created if missing).
  void admit_dir(const std::string& state, std::uint32_t roles = trust::all_node_roles) {
    fs::create_directories(state);
    auto id = wire::load_or_create_identity(state);
    (void)trust::write_file_atomic(state + "/membership.cert", cert_for(id->pk, roles), 0644);
    fs::copy_file(dir + "/cluster.pub", state + "/cluster.pub", fs::copy_options::overwrite_existing);
  }

  /// The operator, as `hydra ctl --as BASE/op` is.
  actors::credentials operator_creds() const { return *actors::load_client_credentials(dir); }

  /// A fresh key with a certificate (roles 0 = none at all: an outsider).
  actors::credentials member(std::uint32_t roles, std::int64_t valid_for = 86400) {
    actors::credentials c;
    c.id = wire::generate_identity();
    if (roles) c.cert = cert_for(c.id.pk, roles, valid_for);
    c.cluster = cl;
    c.where = "test";
    return c;
  }
};

struct node_process {
  pid_t pid = -1;
  std::string dir, address;

  node_process(const std::string& d, const std::string& join, std::vector<std::string> extra = {}) : dir(d) {
    fs::create_directories(dir);
    fs::remove(dir + "/address");
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      const int log = ::open((dir + "/node.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, STDERR_FILENO);
      std::vector<std::string> args = {HYDRA_BINARY, "node", "--listen", "127.0.0.1:0", "--state", dir};
      if (!join.empty()) args.insert(args.end(), {"--join", join});
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(HYDRA_BINARY, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 1500 && address.empty() && running(); ++i) {
      std::ifstream f(dir + "/address");
      if (f) std::getline(f, address);
      if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~node_process() { kill_now(); }
  void kill_now() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  bool running() const { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }
  std::string log() const {
    std::ifstream f(dir + "/node.log");
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }
  /// Resident memory in bytes (VmRSS).
  std::size_t rss() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
    return 0;
  }
};

inline bool log_has(const node_process& n, const std::string& text, int tries = 150) {
  for (int i = 0; i < tries; ++i) {
    if (n.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

inline int connect_to(const std::string& address) {
  auto a = actors::parse_address(address);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a->second);
  inet_pton(AF_INET, a->first.c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/// Sends raw bytes (no channel) and returns true when the node hangs up.
inline bool hangs_up_on_raw(const std::string& address, const std::vector<std::uint8_t>& bytes) {
  int fd = connect_to(address);
  if (fd < 0) return false;
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  char buf[256];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
  }
  ::close(fd);
  return n == 0;
}

/// The cluster's channel, opened by a test as `as` (blocking, 5 s deadline).
struct secure_conn {
  int fd = -1;
  std::optional<trust::secure_session> session;
  trust::peer_grant node;  ///< who answered
  std::string error;       ///< why the channel did not open
  std::vector<std::uint8_t> pending;
  wire::frame_splitter splitter;
  const actors::credentials* as;

  secure_conn(const std::string& address, const actors::credentials& who) : as(&who) {
    fd = connect_to(address);
    if (fd < 0) {
      error = "cannot connect";
      return;
    }
    auto r = trust::handshake_fd(fd, true, who.channel(), std::chrono::steady_clock::now() + std::chrono::seconds(5),
                                 pending);
    if (!r) {
      error = r.err().message;
      return;
    }
    session.emplace(std::move(r->first));
    node = r->second;
  }
  ~secure_conn() {
    if (fd >= 0) ::close(fd);
  }
  bool ok() const { return session.has_value(); }

  /// Encrypts `bytes` (a frame, or junk) into records and sends them.
  bool send_plain(std::span<const std::uint8_t> bytes) {
    std::vector<std::uint8_t> rec;
    session->seal(bytes, rec);
    std::size_t off = 0;
    while (off < rec.size()) {
      const ssize_t n = ::send(fd, rec.data() + off, rec.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  /// Seals `mb` as `as` for the node (recipient set) and sends it.
  std::vector<std::uint8_t> send_message(capnp::MallocMessageBuilder& mb, bool to_node = true) {
    wire::envelope_fields f;
    if (to_node) f.recipient = node.id;
    auto frame = wire::seal(as->id, mb, f);
    send_plain(frame);
    return frame;
  }
  /// The next frame for which `pred` holds (within 5 s), if any.
  template <class Pred>
  std::optional<wire::opened_frame> receive(Pred pred) {
    std::uint8_t buf[1 << 16];
    std::vector<std::uint8_t> plain;
    auto drain = [&](const std::uint8_t* p, std::size_t n) -> std::optional<wire::opened_frame> {
      plain.clear();
      if (!session->open({p, n}, plain)) return std::nullopt;
      (void)splitter.feed(plain);
      while (auto f = splitter.pop()) {
        auto o = wire::open(std::move(*f));
        if (o && pred(o->message())) return std::move(*o);
      }
      return std::nullopt;
    };
    if (!pending.empty()) {
      auto got = drain(pending.data(), pending.size());
      pending.clear();
      if (got) return got;
    }
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      if (auto got = drain(buf, static_cast<std::size_t>(n))) return got;
    }
  }
  /// True when the node closes the connection (within the 5 s receive timeout).
  bool hung_up() {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
};

inline nlohmann::json ctl_json(const actors::credentials& as, const std::string& address, const std::string& cmd,
                               const std::vector<std::string>& args = {}) {
  auto r = actors::ctl_request(as, address, cmd, args);
  if (!r) return nlohmann::json({{"error", r.err().message}});
  return nlohmann::json::parse(*r, nullptr, false);
}

inline int alive_in_view(const actors::credentials& as, const std::string& address) {
  auto j = ctl_json(as, address, "peers");
  if (!j.contains("peers")) return -1;
  int n = 0;
  for (auto& p : j["peers"]) n += p["state"] == "alive";
  return n;
}

template <class Pred>
bool eventually(Pred p, double seconds = 10) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return p();
}

}  // namespace hydra::e2e
