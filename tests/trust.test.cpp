// The trust boundary against real `hydra node` processes on loopback: what a
// hostile machine on the LAN tries, and what it gets (nothing). Each case
// was a hole before the boundary existed (see the issue "Trust boundary").

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/resource.h>

#include <atomic>

#include "actors/peer_record.hpp"
#include "e2e_harness.hpp"
#include "ledger/entry.hpp"
#include "wire/hydra.capnp.h"

namespace hydra {
namespace {

using namespace e2e;

std::string base_dir(const char* name) {
  return fs::temp_directory_path() / (std::string("hydra-trust-") + name + "-" + std::to_string(getpid()));
}

/// The operator revokes `pk` through a node's ledger, as `hydra operator
/// revoke --connect` does.
bool revoke_through_ledger(test_cluster& tc, const std::string& address, const wire::public_key& pk) {
  auto r = actors::publish_revocation(tc.operator_creds(), address, pk);
  if (!r) std::cerr << "revocation: " << r.err().message << "\n";
  return static_cast<bool>(r);
}

bool in_view(const actors::credentials& as, const std::string& address, const wire::public_key& pk) {
  auto j = ctl_json(as, address, "peers");
  for (auto& p : j.value("peers", nlohmann::json::array()))
    if (p.value("public_key", "") == to_hex(pk) && p["state"] == "alive") return true;
  return false;
}

TEST(Trust, OutsidersExpiredAndRevokedKeysGetNothing) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = base_dir("outsiders");
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  tc.admit_dir(base + "/b");
  tc.admit_dir(base + "/c");
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  node_process b(base + "/b", a.address);
  node_process c(base + "/c", a.address);
  const auto op = tc.operator_creds();
  ASSERT_TRUE(eventually([&] { return alive_in_view(op, a.address) == 3 && alive_in_view(op, b.address) == 3; }, 20))
      << a.log();
  // Each node records its own admission; wait until all three are everywhere.
  ASSERT_TRUE(eventually([&] { return ctl_json(op, a.address, "ledger", {"summary"}).value("entries", 0) == 3; }, 15));
  const int entries_before = ctl_json(op, a.address, "ledger", {"summary"})["entries"].get<int>();

  // An un-admitted key (no certificate) and an expired certificate: the
  // channel does not open, so nothing they send is read.
  const auto stranger = tc.member(0);
  const auto expired = tc.member(trust::all_node_roles | trust::role_contributor, -2 * 86400);
  for (const auto* who : {&stranger, &expired}) {
    // The initiator's side of the handshake ends before the node has
    // checked its certificate: the node then hangs up without a word.
    secure_conn conn(a.address, *who);
    if (conn.ok()) {
      capnp::MallocMessageBuilder mb;
      mb.initRoot<Message>().initPing().setNonce(5);
      conn.send_message(mb, false);
      EXPECT_FALSE(conn.receive([](Message::Reader m) { return m.isPong(); })) << "an outsider got an answer";
    }
    auto r = actors::ctl_request(*who, a.address, "ledger", {"append", "reward", "me", "1000"});
    EXPECT_FALSE(r);
  }
  EXPECT_TRUE(log_has(a, "no certificate")) << a.log();
  EXPECT_TRUE(log_has(a, "expired")) << a.log();

  // A revoked node: the operator revokes c through the ledger; every node
  // drops it and refuses it from then on.
  const wire::public_key c_key = wire::load_or_create_identity(base + "/c")->pk;
  ASSERT_TRUE(in_view(op, a.address, c_key));
  ASSERT_TRUE(revoke_through_ledger(tc, a.address, c_key));
  EXPECT_TRUE(eventually([&] { return !in_view(op, a.address, c_key) && !in_view(op, b.address, c_key); }, 15))
      << a.log();
  EXPECT_TRUE(log_has(b, "revoked")) << b.log();
  // c's own key can no longer open a channel to a or b.
  actors::credentials c_creds = *actors::load_node_credentials(base + "/c");
  {
    secure_conn again(b.address, c_creds);
    EXPECT_TRUE(!again.ok() || again.hung_up());
  }
  EXPECT_TRUE(log_has(b, "certificate revoked")) << b.log();

  // The cluster is unaffected: a and b still see each other, and nothing
  // the outsiders sent reached the ledger (only the revocation was added).
  EXPECT_TRUE(eventually([&] { return alive_in_view(op, a.address) == 2 && alive_in_view(op, b.address) == 2; }, 15));
  EXPECT_EQ(ctl_json(op, a.address, "ledger", {"summary"})["entries"].get<int>(), entries_before + 1);
  fs::remove_all(base);
}

TEST(Trust, OnlyOperatorsAndAdminsSteerANode) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = base_dir("ctl");
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  const auto trainer = tc.member(trust::role_trainer), admin = tc.member(trust::role_admin);

  // A member without the admin role may read, not steer.
  auto set = actors::ctl_request(trainer, a.address, "set", {"cpu-limit", "10"});
  ASSERT_FALSE(set);
  EXPECT_NE(set.err().message.find("needs an operator key or an admin certificate"), std::string::npos)
      << set.err().message;
  EXPECT_FALSE(actors::ctl_request(trainer, a.address, "ledger", {"append", "reward", "me", "1000"}));
  EXPECT_TRUE(actors::ctl_request(trainer, a.address, "peers"));
  EXPECT_TRUE(log_has(a, "not an operator or admin")) << a.log();

  // The operator and an admin certificate may.
  auto by_op = actors::ctl_request(tc.operator_creds(), a.address, "set", {"cpu-limit", "50"});
  EXPECT_TRUE(by_op) << by_op.err().message;
  auto by_admin = actors::ctl_request(admin, a.address, "set", {"cpu-limit", "60"});
  EXPECT_TRUE(by_admin) << by_admin.err().message;
  auto view = ctl_json(trainer, a.address, "peers");
  EXPECT_EQ(view["peers"][0]["capabilities"]["cpu_limit"].get<double>(), 60.0);
  fs::remove_all(base);
}

/// A gossip frame holding `entries` (already filled by `fill`).
template <class Fill>
void send_gossip(secure_conn& conn, unsigned n, Fill&& fill) {
  capnp::MallocMessageBuilder mb;
  auto list = mb.initRoot<Message>().initGossip().initEntries(n);
  for (unsigned i = 0; i < n; ++i) fill(i, list[i]);
  conn.send_message(mb, false);
}

TEST(Trust, GossipCannotPoisonMoveOrInventPeers) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = base_dir("gossip");
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  tc.admit_dir(base + "/b");
  node_process a(base + "/a", "");
  node_process b(base + "/b", a.address);
  const auto op = tc.operator_creds();
  ASSERT_TRUE(eventually([&] { return alive_in_view(op, a.address) == 2; }, 20)) << a.log();
  const auto b_id = wire::load_or_create_identity(base + "/b");
  const auto a_id = wire::load_or_create_identity(base + "/a");
  const auto hostile = tc.member(trust::role_trainer);
  secure_conn conn(a.address, hostile);
  ASSERT_TRUE(conn.ok()) << conn.error;

  // b "dead for good": an unsigned record, one with b's id signed by us,
  // and one with b's key and a forged signature, all at incarnation 2^64-1
  // and with b's address moved.
  const std::uint64_t max = ~std::uint64_t{0};
  send_gossip(conn, 3, [&](unsigned i, PeerEntry::Builder e) {
    actors::peer_record_data r;
    r.pk = b_id->pk;
    r.incarnation = max;
    r.heartbeat = max;
    r.address = "127.0.0.1:9";
    if (i == 1) r.pk = hostile.id.pk;
    if (i == 1) actors::sign_record(r, hostile.id);
    actors::write_record(r, e);
    if (i == 0) e.setSignature(capnp::Data::Reader());
    if (i == 1) e.getInfo().setId(kj::arrayPtr(b_id->id.data(), b_id->id.size()));
  });
  // 100 invented peers: each record validly signed by its own fresh key,
  // but not one of them is admitted.
  send_gossip(conn, 100, [&](unsigned i, PeerEntry::Builder e) {
    auto fake = wire::generate_identity();
    actors::peer_record_data r;
    r.incarnation = 1;
    r.heartbeat = 1;
    r.address = "127.0.0.1:" + std::to_string(20000 + i);
    actors::sign_record(r, fake);
    actors::write_record(r, e);
  });
  EXPECT_TRUE(log_has(a, "unsigned peer record")) << a.log();
  EXPECT_TRUE(log_has(a, "id is not its key's")) << a.log();
  EXPECT_TRUE(log_has(a, "signature does not verify")) << a.log();
  EXPECT_TRUE(log_has(a, "no certificate")) << a.log();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // longer than a death timeout
  auto view = ctl_json(op, a.address, "peers");
  ASSERT_EQ(view["peers"].size(), 2u) << view;  // nobody invented got in
  for (auto& p : view["peers"]) {
    EXPECT_EQ(p["state"], "alive") << p;
    EXPECT_LT(p["incarnation"].get<std::uint64_t>(), 100u) << p;
    if (!p["self"].get<bool>()) {
      EXPECT_EQ(p["address"], b.address) << p;
    }
  }

  // A record of a itself, signed with a's own key, from a later
  // incarnation (a copy of its state folder, say): a moves past it.
  send_gossip(conn, 1, [&](unsigned, PeerEntry::Builder e) {
    actors::peer_record_data r;
    r.incarnation = 50;
    r.heartbeat = 1;
    r.address = a.address;
    r.cert = *trust::read_small_file(base + "/a/membership.cert");
    actors::sign_record(r, *a_id);
    actors::write_record(r, e);
  });
  EXPECT_TRUE(log_has(a, "refuting")) << a.log();
  EXPECT_TRUE(eventually([&] { return ctl_json(op, a.address, "peers")["peers"][0]["incarnation"] == 51; }));
  fs::remove_all(base);
}

TEST(Trust, UnusableAddressAdvertIsLoggedAndIgnored) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = base_dir("advert");
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  const auto op = tc.operator_creds();
  const auto hostile = tc.member(trust::role_trainer);
  for (const char* data : {"127.0.0.1:99999", "127.0.0.1:7x", "no-such-host:7000", "127.0.0.1:0"}) {
    secure_conn conn(a.address, hostile);
    ASSERT_TRUE(conn.ok()) << conn.error;
    capnp::MallocMessageBuilder mb;
    actors::peer_record_data r;
    r.incarnation = 1;
    r.heartbeat = 1;
    r.address = "127.0.0.1:40000";
    r.data_address = data;
    r.cert = hostile.cert;
    actors::sign_record(r, hostile.id);
    actors::write_record(r, mb.initRoot<Message>().initHello().initSelf());
    conn.send_message(mb, false);
    EXPECT_TRUE(log_has(a, std::string("data '") + data + "'")) << a.log();
  }
  EXPECT_TRUE(a.running());
  EXPECT_EQ(ctl_json(op, a.address, "peers")["peers"].size(), 1u);
  fs::remove_all(base);
}

TEST(Trust, ReplayedContributionFrameIsRefusedWithNoNewLedgerEntry) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = base_dir("replay");
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  const auto op = tc.operator_creds();
  const auto contributor = tc.member(trust::role_contributor);
  ASSERT_TRUE(eventually([&] { return ctl_json(op, a.address, "ledger", {"summary"}).value("entries", 0) >= 1; }));

  // A malformed contribution: it earns its author a penalty, once.
  capnp::MallocMessageBuilder mb;
  auto c = mb.initRoot<Message>().initContribute();
  c.setRequestId(1);
  c.setFormat("csv");
  c.setWait(true);
  auto files = c.initFiles(1);
  const std::string bad = "3,1,2,3\n";  // 3 pixels, not 784
  files[0].setName("bad.csv");
  files[0].setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(bad.data()), bad.size()));
  std::vector<std::uint8_t> frame;
  {
    secure_conn conn(a.address, contributor);
    ASSERT_TRUE(conn.ok()) << conn.error;
    frame = conn.send_message(mb);
    auto reply = conn.receive([](Message::Reader m) { return m.isContributeReply(); });
    ASSERT_TRUE(reply);
    EXPECT_FALSE(reply->message().getContributeReply().getOk());
  }
  ASSERT_TRUE(eventually([&] { return ctl_json(op, a.address, "ledger", {"balances"}).size() > 0; }));
  const auto after_first = ctl_json(op, a.address, "ledger", {"summary"})["entries"].get<int>();
  const auto balance = ctl_json(op, a.address, "ledger", {"balances"});

  // The same signed bytes again, on a new channel: refused as a replay.
  for (int i = 0; i < 3; ++i) {
    secure_conn again(a.address, contributor);
    ASSERT_TRUE(again.ok()) << again.error;
    again.send_plain(frame);
    EXPECT_TRUE(again.hung_up());
  }
  EXPECT_TRUE(log_has(a, "replayed frame")) << a.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(ctl_json(op, a.address, "ledger", {"summary"})["entries"].get<int>(), after_first);
  EXPECT_EQ(ctl_json(op, a.address, "ledger", {"balances"}), balance);
  fs::remove_all(base);
}

TEST(Trust, ThousandIdleConnectionsAndAGibibyteOfJunkCostLittleAndTrainingGoesOn) {
  ASSERT_GE(sodium_init(), 0);
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4096);
  setrlimit(RLIMIT_NOFILE, &lim);
  ASSERT_GE(lim.rlim_cur, 1100u) << "needs 1100 descriptors";

  const std::string base = base_dir("load");
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  tc.admit_dir(base + "/b");
  const std::vector<std::string> train = {"--train", "--world", "2", "--epochs", "400", "--limit", "1000",
                                          "--threads", "1", "--batch", "64"};
  node_process a(base + "/a", "", train);
  ASSERT_FALSE(a.address.empty()) << a.log();
  node_process b(base + "/b", a.address, train);
  auto step = [&] {
    std::ifstream f(base + "/a/progress");
    std::uint64_t s = 0;
    f >> s;
    return s;
  };
  ASSERT_TRUE(eventually([&] { return step() > 10; }, 60)) << a.log();
  const std::size_t rss_before = a.rss();
  const std::uint64_t step_before = step();

  std::atomic<std::size_t> peak{rss_before};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      peak = std::max<std::size_t>(peak, a.rss());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  // 1,000 connections that never speak: the node refuses what is over its
  // handshake budget at once and closes the rest when their handshake is late.
  std::vector<int> idle;
  for (int i = 0; i < 1000; ++i) {
    int fd = connect_to(a.address);
    if (fd >= 0) idle.push_back(fd);
  }
  EXPECT_TRUE(log_has(a, "refusing connection", 300)) << a.log().substr(0, 4000);
  EXPECT_TRUE(log_has(a, "no handshake within", 500)) << a.log().substr(0, 4000);
  for (int fd : idle) ::close(fd);
  const std::uint64_t step_mid = step();
  // 1 GiB of junk, on as many connections as it takes (each is cut off at
  // its first bytes), for at most 60 s.
  std::vector<std::uint8_t> junk(1 << 20);
  randombytes_buf(junk.data(), junk.size());
  std::size_t sent = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (sent < (std::size_t{1} << 30) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    int fd = connect_to(a.address);
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    for (;;) {
      const ssize_t n = ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  sampling = false;
  sampler.join();
  const std::uint64_t step_after = step();
  std::cout << "junk sent: " << (sent >> 20) << " MiB; node RSS " << (rss_before >> 20) << " MiB before, peak "
            << (peak.load() >> 20) << " MiB; steps " << step_before << " -> " << step_mid << " -> " << step_after
            << "\n";
  EXPECT_GE(sent, std::size_t{1} << 30);
  EXPECT_TRUE(a.running());
  EXPECT_LT(peak.load() - rss_before, std::size_t{64} << 20);
  EXPECT_GT(step_mid, step_before);  // it kept training through both
  EXPECT_GT(step_after, step_mid);
  EXPECT_TRUE(log_has(a, "rejected handshake")) << a.log().substr(0, 4000);
  fs::remove_all(base);
}

}  // namespace
}  // namespace hydra
