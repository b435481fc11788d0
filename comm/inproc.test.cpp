#include "comm/inproc.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using testing::seconds_since;

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return b;
}

clock::time_point in(std::chrono::milliseconds d) { return clock::now() + d; }

TEST(Inproc, DeliversWholeMessagesInOrderPerPair) {
  auto g = make_inproc_group(3);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[2]->rank(), 2);
  EXPECT_EQ(g[2]->size(), 3);
  ASSERT_TRUE(g[0]->send(1, bytes({1, 2, 3})));
  ASSERT_TRUE(g[2]->send(1, bytes({9})));
  ASSERT_TRUE(g[0]->send(1, bytes({})));
  ASSERT_TRUE(g[0]->send(1, bytes({4})));
  std::vector<std::byte> out;
  ASSERT_TRUE(g[1]->recv(2, out, in(std::chrono::seconds(1))));
  EXPECT_EQ(out, bytes({9}));
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(1))));
  EXPECT_EQ(out, bytes({1, 2, 3}));
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(1))));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(1))));
  EXPECT_EQ(out, bytes({4}));
  EXPECT_EQ(g[0]->bytes_sent(), 4u);
}

TEST(Inproc, RecvWakesWhenTheMessageArrives) {
  auto g = make_inproc_group(2);
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(g[1]->send(0, bytes({7})));
  });
  std::vector<std::byte> out;
  EXPECT_TRUE(g[0]->recv(1, out, in(std::chrono::seconds(5))));
  EXPECT_EQ(out, bytes({7}));
  sender.join();
}

TEST(Inproc, RecvRunsIntoItsDeadline) {
  auto g = make_inproc_group(2);
  std::vector<std::byte> out;
  const auto t0 = clock::now();
  auto st = g[0]->recv(1, out, in(std::chrono::milliseconds(50)));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, errc::deadline);
  EXPECT_GE(seconds_since(t0), 0.049);
  EXPECT_LT(seconds_since(t0), 1.0);
}

TEST(Inproc, RejectsBadRanks) {
  auto g = make_inproc_group(2);
  std::vector<std::byte> out;
  EXPECT_EQ(g[0]->send(0, bytes({1})).err().code, errc::invalid_input);
  EXPECT_EQ(g[0]->send(2, bytes({1})).err().code, errc::invalid_input);
  EXPECT_EQ(g[0]->recv(-1, out, in(std::chrono::milliseconds(1))).err().code, errc::invalid_input);
}

TEST(Inproc, KillAfterSendsDeliversTheFirstOnes) {
  auto f = std::make_shared<inproc_faults>();
  f->kill_after_sends(0, 2, inproc_faults::death::detected);
  auto g = make_inproc_group(2, f);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(g[0]->send(1, bytes({i})));  // the last two vanish
  EXPECT_TRUE(f->dead(0));
  std::vector<std::byte> out;
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(1))));
  EXPECT_EQ(out, bytes({0}));
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(1))));
  EXPECT_EQ(out, bytes({1}));
  const auto t0 = clock::now();
  auto st = g[1]->recv(0, out, in(std::chrono::seconds(10)));
  EXPECT_EQ(st.err().code, errc::unavailable);  // at once, not at the deadline
  EXPECT_LT(seconds_since(t0), 1.0);
  EXPECT_EQ(g[0]->recv(1, out, in(std::chrono::seconds(10))).err().code, errc::unavailable);  // the dead one
}

TEST(Inproc, SilentDeathLeavesReceiversToTheirDeadline) {
  auto f = std::make_shared<inproc_faults>();
  auto g = make_inproc_group(2, f);
  std::vector<std::byte> out;
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    f->kill(1, inproc_faults::death::silent);
  });
  auto st = g[0]->recv(1, out, in(std::chrono::milliseconds(100)));
  killer.join();
  EXPECT_EQ(st.err().code, errc::deadline);
}

TEST(Inproc, DetectedDeathWakesAWaitingReceiver) {
  auto f = std::make_shared<inproc_faults>();
  auto g = make_inproc_group(2, f);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    f->kill(1, inproc_faults::death::detected);
  });
  std::vector<std::byte> out;
  const auto t0 = clock::now();
  auto st = g[0]->recv(1, out, in(std::chrono::seconds(10)));
  killer.join();
  EXPECT_EQ(st.err().code, errc::unavailable);
  EXPECT_LT(seconds_since(t0), 1.0);
}

TEST(Inproc, DelayHoldsMessagesBackInOrder) {
  auto f = std::make_shared<inproc_faults>();
  f->delay(0, 1, std::chrono::milliseconds(60));
  auto g = make_inproc_group(2, f);
  ASSERT_TRUE(g[0]->send(1, bytes({1})));
  ASSERT_TRUE(g[0]->send(1, bytes({2})));
  ASSERT_TRUE(g[1]->send(0, bytes({3})));  // other direction: no delay
  std::vector<std::byte> out;
  EXPECT_TRUE(g[0]->recv(1, out, in(std::chrono::milliseconds(30))));
  EXPECT_EQ(g[1]->recv(0, out, in(std::chrono::milliseconds(20))).err().code, errc::deadline);
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(5))));
  EXPECT_EQ(out, bytes({1}));
  ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(5))));
  EXPECT_EQ(out, bytes({2}));
}

TEST(Inproc, ReusesBuffersWithoutMixingContents) {
  auto g = make_inproc_group(2);
  std::vector<std::byte> out;
  for (int i = 0; i < 50; ++i) {
    std::vector<std::byte> msg(static_cast<std::size_t>(i * 37 % 500), static_cast<std::byte>(i));
    ASSERT_TRUE(g[0]->send(1, msg));
    ASSERT_TRUE(g[1]->recv(0, out, in(std::chrono::seconds(1))));
    ASSERT_EQ(out, msg) << i;
  }
}

}  // namespace
}  // namespace hydra::comm
