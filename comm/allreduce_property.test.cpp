// Random back-to-back collectives on inproc groups of 1..6 ranks
// (comm/internal/test_rounds.hpp): every length, codec and segment size.

#include <thread>

#include "comm/internal/test_rounds.hpp"

namespace hydra::comm {
namespace {

using namespace testing;

class CollectiveProperty : public ::testing::TestWithParam<int> {};

TEST_P(CollectiveProperty, EveryCallSucceedsAndAgreesOnEveryRank) {
  const std::uint64_t seed = 0x5eed0000u + static_cast<std::uint64_t>(GetParam());
  const int n = 1 + static_cast<int>(seed % 6);
  const auto plan = random_plan(seed, n, 24);
  std::vector<rank_log> logs(static_cast<std::size_t>(n));
  run_ranks(n, [&](int r, link& l) { logs[static_cast<std::size_t>(r)] = play(r, l, plan); });
  check_logs(logs, plan);
}

INSTANTIATE_TEST_SUITE_P(Seeds, CollectiveProperty, ::testing::Range(0, 36));

}  // namespace
}  // namespace hydra::comm
