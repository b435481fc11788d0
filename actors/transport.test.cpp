#include "actors/transport.hpp"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "trust/cert.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {
namespace {

struct recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> nonces;
  std::vector<std::string> closed, logs;

  transport_events events() {
    transport_events ev;
    ev.on_frame = [this](conn_id, std::shared_ptr<wire::opened_frame> f, std::shared_ptr<const trust::peer_grant>) {
      std::lock_guard l(mu);
      if (f->message().isPing()) nonces.push_back(f->message().getPing().getNonce());
      cv.notify_all();
    };
    ev.on_closed = [this](conn_id, const std::string& r) {
      std::lock_guard l(mu);
      closed.push_back(r);
      cv.notify_all();
    };
    ev.on_log = [this](const std::string& s) {
      std::lock_guard l(mu);
      logs.push_back(s);
    };
    return ev;
  }

  template <class Pred>
  bool wait(Pred p) {
    std::unique_lock l(mu);
    return cv.wait_for(l, std::chrono::seconds(5), p);
  }
};

/// A plain TCP connection to 127.0.0.1:port (-1 on failure).
int raw_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::vector<std::uint8_t> ping(const wire::identity& id, std::uint64_t nonce) {
  capnp::MallocMessageBuilder mb;
  mb.initRoot<Message>().initPing().setNonce(nonce);
  return wire::seal(id, mb);
}

TEST(Transport, ParsesAddresses) {
  auto a = parse_address("127.0.0.1:4000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 4000);
  auto b = parse_address("[::1]:9");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "::1");
  EXPECT_FALSE(parse_address("localhost"));
  EXPECT_FALSE(parse_address("h:99999"));
  EXPECT_FALSE(parse_address("h:12x"));
}

TEST(Transport, DeliversFramesInOrderOverLoopback) {
  recorder server_side, client_side;
  transport server(server_side.events()), client(client_side.events());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server.start();
  client.start();
  const auto id = wire::generate_identity();
  const conn_id c = client.connect("127.0.0.1:" + std::to_string(*port));
  for (std::uint64_t i = 0; i < 100; ++i) client.send(c, ping(id, i));
  ASSERT_TRUE(server_side.wait([&] { return server_side.nonces.size() == 100; }));
  for (std::uint64_t i = 0; i < 100; ++i) EXPECT_EQ(server_side.nonces[i], i);
  EXPECT_GT(server.bytes_received(), 0u);
}

TEST(Transport, RefusedConnectReportsClosed) {
  recorder r;
  transport t(r.events());
  t.start();
  t.connect("127.0.0.1:1");  // nothing listens on port 1
  ASSERT_TRUE(r.wait([&] { return !r.closed.empty(); }));
  EXPECT_NE(r.closed[0].find("127.0.0.1:1"), std::string::npos);
}

TEST(Transport, GarbageClosesOnlyThatConnection) {
  recorder r;
  transport server(r.events());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server.start();
  // A raw socket sends a segment table claiming a 2 GiB frame.
  const int fd = raw_connect(*port);
  ASSERT_GE(fd, 0);
  const std::uint32_t header[2] = {0, 0x10000000};
  ASSERT_EQ(::send(fd, header, sizeof header, 0), 8);
  ASSERT_TRUE(r.wait([&] { return !r.logs.empty(); }));
  EXPECT_NE(r.logs[0].find("rejected"), std::string::npos) << r.logs[0];
  char buf[16];
  EXPECT_EQ(::recv(fd, buf, sizeof buf, 0), 0);  // the server hung up
  ::close(fd);
  // A well-behaved client still gets through.
  transport client;
  client.start();
  const conn_id c = client.connect("127.0.0.1:" + std::to_string(*port));
  client.send(c, ping(wire::generate_identity(), 7));
  ASSERT_TRUE(r.wait([&] { return r.nonces.size() == 1; }));
}

// ---- the encrypted channel -----------------------------------------------------

/// A cluster with one operator; `member` makes admitted identities.
struct test_cluster {
  wire::identity op = wire::generate_identity();
  trust::cluster cl = trust::make_cluster("t", op.pk);
  trust::revocations revoked;

  struct member {
    wire::identity id = wire::generate_identity();
    std::vector<std::uint8_t> cert;
  };
  member admit(std::uint32_t roles, std::int64_t not_after_from_now = 86400) {
    member m;
    const auto now = default_env().unix_seconds();
    const std::int64_t from = std::min<std::int64_t>(now - 60, now + not_after_from_now - 86400);
    auto c = trust::issue_cert(op, cl, m.id.pk, roles, from, now + not_after_from_now);
    if (c) m.cert = *c;
    return m;
  }
  trust::channel_config channel(const member& m) {
    trust::channel_config cfg;
    cfg.self = &m.id;
    cfg.cert = m.cert;
    cfg.cluster = cl.id;
    cfg.verify = [this](const wire::public_key& pk, std::span<const std::uint8_t> cert) {
      return trust::check_peer(cl, revoked, pk, cert, default_env().unix_seconds());
    };
    return cfg;
  }
};

struct grant_recorder : recorder {
  std::vector<std::shared_ptr<const trust::peer_grant>> grants;
  transport_events events() {
    auto ev = recorder::events();
    auto inner = ev.on_frame;
    ev.on_frame = [this, inner](conn_id c, std::shared_ptr<wire::opened_frame> f,
                                std::shared_ptr<const trust::peer_grant> g) {
      {
        std::lock_guard l(mu);
        grants.push_back(g);
      }
      inner(c, std::move(f), std::move(g));
    };
    return ev;
  }
  bool logged(const std::string& text) {
    return wait([&] {
      for (auto& l : logs)
        if (l.find(text) != std::string::npos) return true;
      return false;
    });
  }
};

TEST(SecureTransport, DeliversFramesWithThePeersGrant) {
  test_cluster tc;
  auto a = tc.admit(trust::role_trainer | trust::role_ledger), b = tc.admit(trust::role_collector);
  grant_recorder server_side;
  recorder client_side;
  transport server(server_side.events()), client(client_side.events());
  server.set_channel(tc.channel(a));
  client.set_channel(tc.channel(b));
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server.start();
  client.start();
  const conn_id c = client.connect("127.0.0.1:" + std::to_string(*port));
  for (std::uint64_t i = 0; i < 50; ++i) client.send(c, ping(b.id, i));  // queued before the handshake ends
  ASSERT_TRUE(server_side.wait([&] { return server_side.nonces.size() == 50; }));
  for (std::uint64_t i = 0; i < 50; ++i) EXPECT_EQ(server_side.nonces[i], i);
  ASSERT_TRUE(server_side.grants.back());
  EXPECT_EQ(server_side.grants.back()->pk, b.id.pk);
  EXPECT_EQ(server_side.grants.back()->roles, trust::role_collector);
}

TEST(SecureTransport, OutsidersExpiredAndRevokedKeysAreRefusedWithTheReason) {
  test_cluster tc;
  auto a = tc.admit(trust::all_node_roles);
  grant_recorder server_side;
  transport server(server_side.events());
  server.set_channel(tc.channel(a));
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server.start();
  const std::string addr = "127.0.0.1:" + std::to_string(*port);

  test_cluster::member stranger;  // fresh key, no certificate
  auto expired = tc.admit(trust::all_node_roles, -3 * 86400);
  auto revoked = tc.admit(trust::all_node_roles);
  ASSERT_TRUE(tc.revoked.add({revoked.id.pk, 0, tc.op.pk, 0}));
  test_cluster other;  // a certificate from another cluster's operator
  auto foreign = other.admit(trust::all_node_roles);
  foreign.cert = other.admit(trust::all_node_roles).cert;
  for (auto* m : {&stranger, &expired, &revoked}) {
    recorder r;
    transport client(r.events());
    client.set_channel(tc.channel(*m));
    client.start();
    const conn_id c = client.connect(addr);
    client.send(c, ping(m->id, 1));
    ASSERT_TRUE(r.wait([&] { return !r.closed.empty(); }));
    client.stop();
  }
  EXPECT_TRUE(server_side.logged("no certificate"));
  EXPECT_TRUE(server_side.logged("expired"));
  EXPECT_TRUE(server_side.logged("revoked"));
  EXPECT_TRUE(server_side.nonces.empty());  // not one frame got through
}

TEST(SecureTransport, FrameSignedByAnotherKeyOrReplayedClosesTheConnection) {
  test_cluster tc;
  auto a = tc.admit(trust::all_node_roles), b = tc.admit(trust::all_node_roles);
  grant_recorder server_side;
  recorder client_side;
  transport server(server_side.events()), client(client_side.events());
  server.set_channel(tc.channel(a));
  client.set_channel(tc.channel(b));
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server.start();
  client.start();
  const std::string addr = "127.0.0.1:" + std::to_string(*port);
  conn_id c = client.connect(addr);
  client.send(c, ping(wire::generate_identity(), 5));  // signed by someone else than b
  EXPECT_TRUE(server_side.logged("not by the channel's peer"));

  // A frame addressed to the server is accepted once; its replay is not.
  capnp::MallocMessageBuilder mb;
  mb.initRoot<Message>().initPing().setNonce(77);
  wire::envelope_fields f;
  f.recipient = wire::id_of(a.id.pk);
  const auto frame = wire::seal(b.id, mb, f);
  c = client.connect(addr);
  client.send(c, frame);
  ASSERT_TRUE(server_side.wait([&] { return server_side.nonces.size() == 1; }));
  c = client.connect(addr);
  client.send(c, frame);
  EXPECT_TRUE(server_side.logged("replayed frame"));
  EXPECT_EQ(server_side.nonces.size(), 1u);
  // Addressed to another node: refused.
  f.recipient = wire::id_of(b.id.pk);
  c = client.connect(addr);
  client.send(c, wire::seal(b.id, mb, f));
  EXPECT_TRUE(server_side.logged("frame for another node"));
}

TEST(SecureTransport, SilentAndSurplusConnectionsAreBounded) {
  test_cluster tc;
  auto a = tc.admit(trust::all_node_roles);
  grant_recorder server_side;
  transport server(server_side.events());
  server.set_channel(tc.channel(a));
  transport_limits lim;
  lim.handshake_seconds = 0.5;
  lim.max_handshaking = 8;
  server.set_limits(lim);
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server.start();
  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) {
    const int fd = raw_connect(*port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  EXPECT_TRUE(server_side.logged("refusing connection"));
  EXPECT_TRUE(server_side.wait([&] { return server.connections() <= 8; }));
  EXPECT_TRUE(server_side.logged("no handshake within"));
  EXPECT_TRUE(server_side.wait([&] { return server.connections() == 0; }));
  for (int fd : fds) ::close(fd);
  // Junk where the handshake should be closes at once.
  const int fd = raw_connect(*port);
  ASSERT_GE(fd, 0);
  std::vector<std::uint8_t> junk(1 << 16, 0xA5);
  ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  EXPECT_TRUE(server_side.logged("rejected handshake"));
  ::close(fd);
}

}  // namespace
}  // namespace hydra::actors
