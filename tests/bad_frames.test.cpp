// A real `hydra node` process is fed malformed, oversized, unsigned, wrongly
// signed and wrong-version frames over real sockets. Each connection must be
// closed with the reason in the node's log, and the node must stay up and
// keep serving its peer and the admin client.

#include <arpa/inet.h>
#include <fcntl.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <iostream>
#include <thread>

#include "actors/ctl_client.hpp"
#include "actors/transport.hpp"
#include "ledger/entry.hpp"
#include "wire/frame.hpp"
#include "wire/hydra.capnp.h"
#include "wire/identity.hpp"

namespace hydra {
namespace {

namespace fs = std::filesystem;

struct node_process {
  pid_t pid = -1;
  std::string dir, address;

  node_process(const std::string& d, const std::string& join) : dir(d) {
    fs::create_directories(dir);
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      const int log = ::open((dir + "/node.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, STDERR_FILENO);
      std::vector<std::string> args = {HYDRA_BINARY, "node", "--listen", "127.0.0.1:0", "--state", dir};
      if (!join.empty()) args.insert(args.end(), {"--join", join});
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(HYDRA_BINARY, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && address.empty(); ++i) {
      std::ifstream f(dir + "/address");
      if (f) std::getline(f, address);
      if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~node_process() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  bool running() const { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }
  std::string log() const {
    std::ifstream f(dir + "/node.log");
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }
};

int connect_to(const std::string& address) {
  auto a = actors::parse_address(address);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
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

/// Sends `bytes` and returns true when the node hangs up on us.
bool node_hangs_up(const std::string& address, const std::vector<std::uint8_t>& bytes) {
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

std::vector<std::uint8_t> ping_payload() {
  capnp::MallocMessageBuilder mb;
  mb.initRoot<Message>().initPing().setNonce(42);
  auto words = capnp::messageToFlatArray(mb);
  auto b = words.asBytes();
  return {b.begin(), b.end()};
}

std::vector<std::uint8_t> envelope(std::uint16_t version, const wire::public_key& pk,
                                   std::span<const std::uint8_t> sig, const std::vector<std::uint8_t>& payload) {
  capnp::MallocMessageBuilder mb;
  auto e = mb.initRoot<Envelope>();
  e.setVersion(version);
  e.setPublicKey(kj::arrayPtr(pk.data(), pk.size()));
  e.setSignature(kj::arrayPtr(sig.data(), sig.size()));
  e.setPayload(kj::arrayPtr(payload.data(), payload.size()));
  auto words = capnp::messageToFlatArray(mb);
  auto b = words.asBytes();
  return {b.begin(), b.end()};
}

bool log_has(const node_process& n, const std::string& text) {
  for (int i = 0; i < 100; ++i) {
    if (n.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int alive_in_view(const std::string& address) {
  auto r = actors::ctl_request(address, "peers");
  if (!r) return -1;
  int n = 0;
  const auto view = nlohmann::json::parse(*r);  // not a temporary: the loop outlives it
  for (auto& p : view["peers"]) n += p["state"] == "alive";
  return n;
}

TEST(BadFrames, EachIsRejectedWithAReasonAndTheNodeKeepsServing) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = fs::temp_directory_path() / ("hydra-badframes-" + std::to_string(getpid()));
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  node_process b(base + "/b", a.address);
  ASSERT_FALSE(b.address.empty()) << b.log();

  const auto me = wire::generate_identity(), other = wire::generate_identity();
  const auto payload = ping_payload();

  // Malformed: a plausible segment table, then bytes that are no envelope.
  std::vector<std::uint8_t> garbage = {0, 0, 0, 0, 4, 0, 0, 0};
  for (int i = 0; i < 32; ++i) garbage.push_back(static_cast<std::uint8_t>(0xA5 ^ i));
  EXPECT_TRUE(node_hangs_up(a.address, garbage));
  EXPECT_TRUE(log_has(a, "envelope does not parse")) << a.log();

  // Oversized: a segment table that claims 1 GiB.
  std::vector<std::uint8_t> huge = {0, 0, 0, 0, 0, 0, 0, 0x08};
  EXPECT_TRUE(node_hangs_up(a.address, huge));
  EXPECT_TRUE(log_has(a, "exceeds limit")) << a.log();

  // Unsigned: no signature at all.
  EXPECT_TRUE(node_hangs_up(a.address, envelope(wire::protocol_version, me.pk, {}, payload)));
  EXPECT_TRUE(log_has(a, "signature of 0 bytes")) << a.log();

  // Wrongly signed: signed by another key than the one it names.
  const auto input = wire::signing_input(wire::protocol_version, me.pk, payload);
  std::array<std::uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, input.data(), input.size(), other.sk.data());
  EXPECT_TRUE(node_hangs_up(a.address, envelope(wire::protocol_version, me.pk, sig, payload)));
  EXPECT_TRUE(log_has(a, "bad signature")) << a.log();

  // Wrong protocol version, correctly signed.
  EXPECT_TRUE(node_hangs_up(a.address, wire::seal_bytes(me, payload, 7)));
  EXPECT_TRUE(log_has(a, "protocol version 7, expected 1")) << a.log();

  // Still up, still answering, still a member with its peer.
  EXPECT_TRUE(a.running());
  bool both = false;
  for (int i = 0; i < 100 && !both; ++i) {
    both = alive_in_view(a.address) == 2 && alive_in_view(b.address) == 2;
    if (!both) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(both) << "a sees " << alive_in_view(a.address) << ", b sees " << alive_in_view(b.address) << "\n"
                    << a.log();
  // A well-formed ping from a stranger gets its pong.
  int fd = connect_to(a.address);
  ASSERT_GE(fd, 0);
  capnp::MallocMessageBuilder mb;
  mb.initRoot<Message>().initPing().setNonce(99);
  auto frame = wire::seal(me, mb);
  ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
  wire::frame_splitter splitter;
  std::uint8_t buf[4096];
  bool pong = false;
  while (!pong) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    ASSERT_TRUE(splitter.feed(buf, static_cast<std::size_t>(n)));
    while (auto f = splitter.pop()) {
      auto o = wire::open(*f);
      ASSERT_TRUE(o);
      if (o->message().isPong()) pong = o->message().getPong().getNonce() == 99;
    }
  }
  ::close(fd);
  EXPECT_TRUE(pong);
  fs::remove_all(base);
}

}  // namespace
}  // namespace hydra

namespace hydra {
namespace {

/// Sends one LedgerEntries frame (from a stranger) holding `entries`.
void push_entries(const std::string& address, const std::vector<ledger::entry>& entries) {
  const auto me = wire::generate_identity();
  capnp::MallocMessageBuilder mb;
  auto le = mb.initRoot<Message>().initLedgerEntries();
  le.setRequestId(7);
  auto list = le.initEntries(static_cast<unsigned>(entries.size()));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto bytes = ledger::encode(entries[i]);
    list.set(static_cast<unsigned>(i), kj::arrayPtr(bytes.data(), bytes.size()));
  }
  const auto frame = wire::seal(me, mb);
  int fd = connect_to(address);
  ASSERT_GE(fd, 0);
  ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the node store and ack
  ::close(fd);
}

ledger::entry make_entry(const wire::identity& who, std::uint64_t seq, const digest256& prev, std::int64_t amount) {
  ledger::entry e;
  e.k = ledger::kind::reward;
  e.seq = seq;
  e.prev = prev;
  e.subject = "acct";
  e.amount = amount;
  e.payload = "{}";
  return ledger::sign(std::move(e), who);
}

TEST(BadLedgerEntries, ForgedAlteredReplayedAndReorderedAreRejectedWithAReason) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = fs::temp_directory_path() / ("hydra-badledger-" + std::to_string(getpid()));
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  const auto x = wire::generate_identity(), y = wire::generate_identity();

  const auto e0 = make_entry(x, 0, {}, 5);
  push_entries(a.address, {e0, e0});  // a duplicate in the same batch is stored once

  auto forged = make_entry(y, 1, ledger::entry_hash(e0), 1000);
  forged.author = x.pk;  // claims to be x's, signed by y
  auto altered = make_entry(x, 1, ledger::entry_hash(e0), 5);
  altered.amount = 5000;  // changed after signing
  const auto replayed = make_entry(x, 0, {}, 6);                    // an old seq with new bytes
  const auto gap = make_entry(x, 5, ledger::entry_hash(e0), 7);     // reordered / missing 1..4
  const auto bad_prev = make_entry(x, 1, ledger::entry_hash(replayed), 8);  // prev is not e0
  push_entries(a.address, {forged, altered, replayed, gap, bad_prev});

  auto summary = actors::ctl_request(a.address, "ledger", {"summary"});
  ASSERT_TRUE(summary) << summary.err().message;
  const auto j = nlohmann::json::parse(*summary);
  EXPECT_EQ(j["entries"].get<int>(), 1) << *summary;
  EXPECT_EQ(j["rejected"].get<int>(), 5) << *summary;
  EXPECT_TRUE(log_has(a, "forged")) << a.log();
  EXPECT_TRUE(log_has(a, "replayed")) << a.log();
  EXPECT_TRUE(log_has(a, "altered chain")) << a.log();

  // The next real entry of x is taken; balances follow the stored entries only.
  push_entries(a.address, {make_entry(x, 1, ledger::entry_hash(e0), 10)});
  auto balances = actors::ctl_request(a.address, "ledger", {"balances"});
  ASSERT_TRUE(balances);
  EXPECT_EQ(nlohmann::json::parse(*balances)["acct"].get<int>(), 15) << *balances;
  EXPECT_TRUE(a.running());
  fs::remove_all(base);
}

}  // namespace
}  // namespace hydra
