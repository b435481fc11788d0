#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/internal/test_ranks.hpp"

namespace hydra::comm {
namespace {

using testing::run_ranks;
using testing::seconds_since;

std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::byte>((i * 131 + static_cast<std::size_t>(seed) * 7) % 251);
  return v;
}

// world size x bytes x root (0 or last) x segment size (small or large).
using bcast_shape = std::tuple<int, std::size_t, bool, bool>;

class Broadcast : public ::testing::TestWithParam<bcast_shape> {};

TEST_P(Broadcast, EveryRankGetsTheRootsBytes) {
  const auto [n, size, last_root, small] = GetParam();
  const int root = last_root ? n - 1 : 0;
  allreduce_options opt;
  opt.segment_bytes = small ? (size >= 65536 ? 4099 : 7) : 1 << 20;
  std::vector<std::vector<std::byte>> data(static_cast<std::size_t>(n));
  run_ranks(n, [&](int r, link& l) {
    auto& d = data[static_cast<std::size_t>(r)];
    d = pattern(size, r);  // differs per rank: only the root's must survive
    auto st = broadcast(l, d, root, opt);
    ASSERT_TRUE(st) << "rank " << r << ": " << st.err().message;
  });
  const auto want = pattern(size, root);
  for (int r = 0; r < n; ++r) EXPECT_EQ(data[static_cast<std::size_t>(r)], want) << "rank " << r;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Broadcast,
                         ::testing::Combine(::testing::Values(1, 2, 3, 5),
                                            ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1000},
                                                              std::size_t{1} << 20),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<bcast_shape>& p) {
                           return "World" + std::to_string(std::get<0>(p.param)) + "Bytes" +
                                  std::to_string(std::get<1>(p.param)) +
                                  (std::get<2>(p.param) ? "LastRoot" : "RootZero") +
                                  (std::get<3>(p.param) ? "SmallSegments" : "LargeSegments");
                         });

TEST(BroadcastFaults, RanksAfterADeadOneFailWithinTheTimeout) {
  auto faults = std::make_shared<inproc_faults>();
  faults->kill(2, inproc_faults::death::silent);
  std::vector<int> ok(4);
  std::vector<double> seconds(4);
  run_ranks(
      4,
      [&](int r, link& l) {
        auto d = pattern(10000, r);
        allreduce_options opt;
        opt.timeout = std::chrono::milliseconds(200);
        opt.segment_bytes = 1000;
        const auto t0 = std::chrono::steady_clock::now();
        ok[static_cast<std::size_t>(r)] = broadcast(l, d, 0, opt).ok();
        seconds[static_cast<std::size_t>(r)] = seconds_since(t0);
      },
      faults);
  EXPECT_TRUE(ok[0]);   // the root only sends
  EXPECT_TRUE(ok[1]);   // its sends to the dead rank vanish
  EXPECT_FALSE(ok[3]);  // waits on the dead rank
  EXPECT_LT(seconds[3], 0.6);
}

TEST(BroadcastFaults, MismatchedSizesAreRejected) {
  std::vector<errc> codes(3, errc::internal);
  run_ranks(3, [&](int r, link& l) {
    auto d = pattern(r == 2 ? 99 : 100, r);
    allreduce_options opt;
    opt.timeout = std::chrono::seconds(5);
    auto st = broadcast(l, d, 0, opt);
    if (!st) codes[static_cast<std::size_t>(r)] = st.err().code;
  });
  EXPECT_EQ(codes[2], errc::invalid_input);
}

TEST(BroadcastFaults, RejectsABadRoot) {
  auto g = make_inproc_group(2);
  std::vector<std::byte> d(10);
  auto st = broadcast(*g[0], d, 2, {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, errc::invalid_input);
}

}  // namespace
}  // namespace hydra::comm
