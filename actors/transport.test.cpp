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
    ev.on_frame = [this](conn_id, std::shared_ptr<wire::opened_frame> f) {
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
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(*port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
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

}  // namespace
}  // namespace hydra::actors
