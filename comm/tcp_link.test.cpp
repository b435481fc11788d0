#include "comm/tcp_link.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "comm/allreduce.hpp"

namespace hydra::comm {
namespace {

/// Opens a group of n tcp_links over loopback, one per thread.
std::vector<std::unique_ptr<tcp_link>> open_group(int n, std::uint64_t group) {
  std::vector<int> fds;
  std::vector<std::string> addrs;
  for (int i = 0; i < n; ++i) {
    auto l = tcp_link::listen_on("127.0.0.1", 0);
    EXPECT_TRUE(l);
    fds.push_back(l->first);
    addrs.push_back("127.0.0.1:" + std::to_string(l->second));
  }
  std::vector<std::unique_ptr<tcp_link>> links(n);
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i)
    ts.emplace_back([&, i] {
      auto l = tcp_link::open(i, addrs, fds[i], wire::generate_identity(), group,
                              clock::now() + std::chrono::seconds(10));
      EXPECT_TRUE(l) << (l ? "" : l.err().message);
      if (l) links[i] = std::move(*l);
    });
  for (auto& t : ts) t.join();
  for (int fd : fds) ::close(fd);
  return links;
}

TEST(TcpLink, MessagesArriveInOrderBetweenEveryPair) {
  auto links = open_group(3, 7);
  for (int from = 0; from < 3; ++from)
    for (int to = 0; to < 3; ++to)
      if (from != to)
        for (int k = 0; k < 5; ++k) {
          std::vector<std::byte> msg(1000 * k + 1, std::byte(from * 16 + k));
          ASSERT_TRUE(links[from]->send(to, msg));
        }
  for (int to = 0; to < 3; ++to)
    for (int from = 0; from < 3; ++from)
      if (from != to)
        for (int k = 0; k < 5; ++k) {
          std::vector<std::byte> got;
          ASSERT_TRUE(links[to]->recv(from, got, clock::now() + std::chrono::seconds(5)));
          ASSERT_EQ(got.size(), 1000u * k + 1);
          EXPECT_EQ(got.front(), std::byte(from * 16 + k));
        }
}

TEST(TcpLink, RingAllreduceIsExactAndIdenticalOnEveryRank) {
  const int n = 4;
  const std::size_t count = 300000;
  auto links = open_group(n, 8);
  std::vector<std::vector<float>> data(n, std::vector<float>(count));
  for (int r = 0; r < n; ++r)
    for (std::size_t i = 0; i < count; ++i) data[r][i] = static_cast<float>((r + 1) * (i % 97)) * 0.5f;
  std::vector<std::thread> ts;
  allreduce_options opt;
  opt.segment_bytes = 256 << 10;
  for (int r = 0; r < n; ++r)
    ts.emplace_back([&, r] {
      auto res = ring_allreduce(*links[r], data[r], r + 1.0, opt);
      EXPECT_TRUE(res) << (res ? "" : res.err().message);
    });
  for (auto& t : ts) t.join();
  // Weighted mean of (r+1)*x*0.5 with weights r+1: sum (r+1)^2 / sum (r+1) = 30/10 = 3.
  for (std::size_t i = 0; i < count; i += 997) EXPECT_NEAR(data[0][i], 3.0f * 0.5f * (i % 97), 1e-3f);
  for (int r = 1; r < n; ++r) EXPECT_EQ(data[r], data[0]);
  EXPECT_GT(links[0]->bytes_sent(), 0u);
}

TEST(TcpLink, DeadPeerFailsTheRoundWithinTheDeadline) {
  auto links = open_group(3, 9);
  links[2].reset();  // rank 2 dies: its sockets close
  std::vector<float> data(100000, 1.0f);
  allreduce_options opt;
  opt.timeout = std::chrono::milliseconds(500);
  const auto t0 = clock::now();
  std::vector<std::thread> ts;
  std::vector<bool> failed(2, false);
  std::vector<float> d1 = data;
  ts.emplace_back([&] { failed[0] = !ring_allreduce(*links[0], data, 1.0, opt); });
  ts.emplace_back([&] { failed[1] = !ring_allreduce(*links[1], d1, 1.0, opt); });
  for (auto& t : ts) t.join();
  EXPECT_TRUE(failed[0]);
  EXPECT_TRUE(failed[1]);
  EXPECT_LT(clock::now() - t0, std::chrono::seconds(5));
}

TEST(TcpLink, StrangersAndWrongGroupsAreIgnoredAtOpen) {
  auto l0 = tcp_link::listen_on("127.0.0.1", 0), l1 = tcp_link::listen_on("127.0.0.1", 0);
  ASSERT_TRUE(l0 && l1);
  std::vector<std::string> addrs = {"127.0.0.1:" + std::to_string(l0->second), "127.0.0.1:" + std::to_string(l1->second)};
  // A member of another group knocks first (its connect + hello waits in
  // rank 0's backlog); rank 0 must drop it and still take the real rank 1.
  auto intruder = tcp_link::open(1, addrs, l1->first, wire::generate_identity(), 999,
                                 clock::now() + std::chrono::milliseconds(300));
  ASSERT_TRUE(intruder);
  std::unique_ptr<tcp_link> a, b;
  std::thread ta([&] {
    auto r = tcp_link::open(0, addrs, l0->first, wire::generate_identity(), 5, clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(r) << r.err().message;
    a = std::move(*r);
  });
  std::thread tb([&] {
    auto r = tcp_link::open(1, addrs, l1->first, wire::generate_identity(), 5, clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(r) << r.err().message;
    b = std::move(*r);
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(a && b);
  std::vector<std::byte> msg(10, std::byte{3}), got;
  ASSERT_TRUE(b->send(0, msg));
  ASSERT_TRUE(a->recv(1, got, clock::now() + std::chrono::seconds(2)));
  EXPECT_EQ(got, msg);
  ::close(l0->first);
  ::close(l1->first);
}

}  // namespace
}  // namespace hydra::comm
