#include "comm/tcp_link.hpp"
#include "comm/internal/test_rounds.hpp"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "comm/allreduce.hpp"

namespace hydra::comm {
namespace {

/// n ranks' listening sockets, keys and the config each opens with. The
/// admission callback admits any proven key: membership here is the
/// `members` list (trust/channel.test.cpp covers certificates).
struct group_fixture {
  std::vector<int> fds;
  std::vector<std::string> addrs;
  std::vector<wire::identity> ids;
  std::vector<wire::public_key> members;
  std::mutex mu;
  std::vector<std::string> refusals;

  explicit group_fixture(int n) {
    for (int i = 0; i < n; ++i) {
      auto l = tcp_link::listen_on("127.0.0.1", 0);
      EXPECT_TRUE(l);
      fds.push_back(l->first);
      addrs.push_back("127.0.0.1:" + std::to_string(l->second));
      ids.push_back(wire::generate_identity());
      members.push_back(ids.back().pk);
    }
  }
  ~group_fixture() {
    for (int fd : fds) ::close(fd);
  }

  static trust::channel_config config(const wire::identity& self) {
    trust::channel_config c;
    c.self = &self;
    c.cluster.fill(7);
    c.verify = [](const wire::public_key&, std::span<const std::uint8_t>) -> result<trust::peer_grant> {
      trust::peer_grant g;
      g.roles = trust::role_trainer;
      return g;
    };
    return c;
  }

  tcp_link_options options(bool plaintext = false) {
    tcp_link_options o;
    o.plaintext = plaintext;
    o.log = [this](const std::string& line) {
      std::lock_guard l(mu);
      refusals.push_back(line);
    };
    return o;
  }

  result<std::unique_ptr<tcp_link>> open(int rank, const wire::identity& as, std::uint64_t group,
                                         clock::duration wait = std::chrono::seconds(10), bool plaintext = false) {
    return tcp_link::open(rank, addrs, fds[rank], config(as), members, group, clock::now() + wait, options(plaintext));
  }

  /// Every rank opens on its own thread.
  std::vector<std::unique_ptr<tcp_link>> open_all(std::uint64_t group, bool plaintext = false) {
    const int n = static_cast<int>(fds.size());
    std::vector<std::unique_ptr<tcp_link>> links(n);
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i)
      ts.emplace_back([&, i] {
        auto l = open(i, ids[i], group, std::chrono::seconds(10), plaintext);
        EXPECT_TRUE(l) << (l ? "" : l.err().message);
        if (l) links[i] = std::move(*l);
      });
    for (auto& t : ts) t.join();
    return links;
  }

  bool refused_with(const std::string& what) {
    std::lock_guard l(mu);
    for (auto& r : refusals)
      if (r.find(what) != std::string::npos) return true;
    return false;
  }
};

void expect_round_trip(tcp_link& a, tcp_link& b, std::size_t bytes) {
  std::vector<std::byte> msg(bytes), got;
  for (std::size_t i = 0; i < bytes; ++i) msg[i] = std::byte(i * 31 % 251);
  ASSERT_TRUE(b.send(a.rank(), msg));
  ASSERT_TRUE(a.recv(b.rank(), got, clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(got, msg);
}

TEST(TcpLink, MessagesArriveInOrderBetweenEveryPair) {
  group_fixture g(3);
  auto links = g.open_all(7);
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

TEST(TcpLink, MessagesLargerThanARecordAndGatheredPartsArriveWhole) {
  group_fixture g(2);
  auto links = g.open_all(3);
  expect_round_trip(*links[0], *links[1], (3u << 20) + 5);  // crosses 1 MiB records, odd padding
  expect_round_trip(*links[1], *links[0], 0);
  std::vector<std::byte> a(100, std::byte{1}), b(70001, std::byte{2}), got;
  const std::span<const std::byte> parts[2] = {a, b};
  ASSERT_TRUE(links[1]->send_parts(0, parts));
  ASSERT_TRUE(links[0]->recv(1, got, clock::now() + std::chrono::seconds(5)));
  ASSERT_EQ(got.size(), a.size() + b.size());
  EXPECT_EQ(got[99], std::byte{1});
  EXPECT_EQ(got[100], std::byte{2});
}

void ring_allreduce_is_exact(bool plaintext) {
  const int n = 4;
  const std::size_t count = 300000;
  group_fixture g(n);
  auto links = g.open_all(8, plaintext);
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

TEST(TcpLink, RingAllreduceIsExactAndIdenticalOnEveryRank) { ring_allreduce_is_exact(false); }

// The random back-to-back plans of allreduce_property.test.cpp over real
// encrypted TCP links: 2..5 ranks, one group per seed.
class TcpCollectiveProperty : public ::testing::TestWithParam<int> {};

TEST_P(TcpCollectiveProperty, EveryCallSucceedsAndAgreesOnEveryRank) {
  const std::uint64_t seed = 0x7c90000u + static_cast<std::uint64_t>(GetParam());
  const int n = 2 + static_cast<int>(seed % 4);
  const auto plan = testing::random_plan(seed, n, 30);
  group_fixture g(n);
  auto links = g.open_all(40 + static_cast<std::uint64_t>(GetParam()));
  for (auto& l : links) ASSERT_TRUE(l);
  std::vector<testing::rank_log> logs(static_cast<std::size_t>(n));
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r)
    ts.emplace_back([&, r] { logs[static_cast<std::size_t>(r)] = testing::play(r, *links[r], plan); });
  for (auto& t : ts) t.join();
  testing::check_logs(logs, plan);
}

INSTANTIATE_TEST_SUITE_P(Seeds, TcpCollectiveProperty, ::testing::Range(0, 8));

TEST(TcpLink, PlaintextBenchmarkModeCarriesTheSameRing) { ring_allreduce_is_exact(true); }

TEST(TcpLink, DeadPeerFailsTheRoundWithinTheDeadline) {
  group_fixture g(3);
  auto links = g.open_all(9);
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

/// Rank 0 opens once `knock` has had its connection accepted in its backlog.
void opens_despite(group_fixture& g, const std::function<void()>& knock) {
  std::thread intruder(knock);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // its connect + msg1 wait in rank 0's backlog
  std::unique_ptr<tcp_link> a, b;
  std::thread ta([&] {
    auto r = g.open(0, g.ids[0], 5);
    ASSERT_TRUE(r) << r.err().message;
    a = std::move(*r);
  });
  std::thread tb([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // after the intruder
    auto r = g.open(1, g.ids[1], 5);
    ASSERT_TRUE(r) << r.err().message;
    b = std::move(*r);
  });
  ta.join();
  tb.join();
  intruder.join();
  ASSERT_TRUE(a && b);
  expect_round_trip(*a, *b, 10);
  expect_round_trip(*b, *a, 100000);
}

TEST(TcpLink, ImpostorWithAnotherKeyIsRefusedAndTheRealRankStillJoins) {
  group_fixture g(2);
  const auto mallory = wire::generate_identity();  // admitted by the callback, but not members[1]
  opens_despite(g, [&] {
    auto l = tcp_link::open(1, g.addrs, g.fds[1], group_fixture::config(mallory), g.members, 5,
                            clock::now() + std::chrono::seconds(5), g.options());
    EXPECT_TRUE(l);  // it cannot tell that rank 0 hung up on it
  });
  EXPECT_TRUE(g.refused_with("rank 1 must hold key " + trust::key_short(g.ids[1].pk) + ", peer holds " +
                             trust::key_short(mallory.pk)));
}

TEST(TcpLink, StrangersAndWrongGroupsAreIgnoredAtOpen) {
  group_fixture g(2);
  opens_despite(g, [&] {  // the real rank 1's key, but another group
    auto l = g.open(1, g.ids[1], 999, std::chrono::seconds(5));
    EXPECT_TRUE(l);
  });
  EXPECT_TRUE(g.refused_with("hello for group 999, not 5"));
  group_fixture h(2);
  opens_despite(h, [&] {  // someone who speaks no Hydra at all
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(h.addrs[0].substr(10))));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    const char junk[] = "GET / HTTP/1.0\r\n\r\n";
    EXPECT_GT(::write(fd, junk, sizeof junk), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::close(fd);
  });
  EXPECT_TRUE(h.refused_with("exceeds limit"));
}

TEST(TcpLink, DiallerRefusesAListenerWithTheWrongKey) {
  group_fixture g(2);
  const auto mallory = wire::generate_identity();
  std::thread fake([&] {  // mallory sits on rank 0's address
    auto l = tcp_link::open(0, g.addrs, g.fds[0], group_fixture::config(mallory), g.members, 5,
                            clock::now() + std::chrono::seconds(2), g.options());
    EXPECT_FALSE(l);  // the real rank 1 never sends a hello
  });
  auto r = g.open(1, g.ids[1], 5, std::chrono::seconds(5));
  fake.join();
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("expected key " + trust::key_short(g.ids[0].pk) + ", got " +
                                 trust::key_short(mallory.pk)),
            std::string::npos)
      << r.err().message;
}

TEST(TcpLink, BadAddressesAreErrorsNotExceptions) {
  group_fixture g(2);
  for (const std::string bad : {"127.0.0.1:http", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:0", "nohost:80",
                                "999.1.1.1:80", "127.0.0.1", "127.0.0.1:12x"}) {
    auto addrs = g.addrs;
    addrs[0] = bad;
    std::optional<result<std::unique_ptr<tcp_link>>> r;
    EXPECT_NO_THROW(r.emplace(tcp_link::open(1, addrs, g.fds[1], group_fixture::config(g.ids[1]), g.members, 5,
                                             clock::now() + std::chrono::seconds(1), g.options())));
    ASSERT_TRUE(r && !*r) << bad;
    EXPECT_EQ(r->err().code, errc::invalid_input) << bad;
    EXPECT_NE(r->err().message.find(bad), std::string::npos) << r->err().message;
  }
  auto r = tcp_link::open(1, g.addrs, g.fds[1], group_fixture::config(g.ids[1]), {g.members[0]}, 5,
                          clock::now() + std::chrono::seconds(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().message, "tcp_link: 1 member keys for 2 addresses");
}

TEST(TcpLink, TransitionalOpenWithoutMemberKeysStillEncrypts) {
  group_fixture g(2);
  std::unique_ptr<tcp_link> a, b;
  std::thread ta([&] {
    auto r = tcp_link::open(0, g.addrs, g.fds[0], g.ids[0], 4, clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(r) << r.err().message;
    a = std::move(*r);
  });
  auto r = tcp_link::open(1, g.addrs, g.fds[1], g.ids[1], 4, clock::now() + std::chrono::seconds(10));
  ta.join();
  ASSERT_TRUE(r) << r.err().message;
  b = std::move(*r);
  ASSERT_TRUE(a);
  expect_round_trip(*a, *b, 5000);
}

}  // namespace
}  // namespace hydra::comm
