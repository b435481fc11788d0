/// Fault test of hydra::mpi::mpi_group under a real mpirun (run by
/// mpi_fault_test.sh): weighted all-reduces checked against the exact mean,
/// then the victim rank SIGKILLs itself before a round; the survivors must hit
/// the deadline (not hang), agree that exactly the victim is gone, shrink,
/// and go on with correct all-reduces among themselves.
///
/// mpirun's exit status says nothing useful after a rank died, so every
/// survivor writes one line to OUT_DIR/rank-<world rank>.txt:
///   rank=R ok=1 rounds=N detect_ms=... shrink_ms=...     or   rank=R ok=0 reason=...
/// A watchdog ends the process (ok=0) if the whole run exceeds its budget.
///
/// Usage: mpi_fault_test OUT_DIR [VICTIM=2] [KILL_ROUND=6] [ROUNDS_AFTER=6]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "mpi/mpi_group.hpp"
#include "mpi/survivors.hpp"

namespace {

using namespace std::chrono_literals;
using hydra::mpi::join_ranks;
using hydra::mpi::mpi_group;
using steady = std::chrono::steady_clock;

constexpr auto reduce_timeout = 3000ms;
constexpr auto probe_timeout = 1500ms;
constexpr auto run_budget = 60s;

std::string out_path;  // this rank's result file
int world_rank = -1;

void report(const std::string& line) {
  std::ofstream f(out_path, std::ios::trunc);
  f << line << '\n';
  std::printf("[rank %d] %s\n", world_rank, line.c_str());
  std::fflush(stdout);
}

[[noreturn]] void fail(const std::string& why) {
  report("rank=" + std::to_string(world_rank) + " ok=0 reason=" + why);
  std::_Exit(1);  // MPI may be wedged; do not run destructors under it
}

// Rank r's input for round k: differs per rank, per element and per round.
float value(int r, int k, std::size_t j) {
  return static_cast<float>(0.5 * (r + 1) + 0.01 * static_cast<double>(j % 97) - 0.1 * k);
}
double weight(int r, int k) { return (k % 4 == 3 && r == 0) ? 0.0 : 1.0 + r + (k % 3); }  // zero weight too
std::size_t elements(int k) {
  static constexpr std::size_t sizes[] = {1, 1000, 1 << 18, 37};  // eager and rendezvous paths
  return sizes[static_cast<std::size_t>(k) % 4];
}

// One all-reduce round over `members` (world ranks), checked element-wise.
void checked_round(mpi_group& g, int k, const std::vector<int>& members) {
  const std::size_t n = elements(k);
  std::vector<float> data(n);
  for (std::size_t j = 0; j < n; ++j) data[j] = value(world_rank, k, j);
  auto total = g.allreduce_weighted_mean(data, weight(world_rank, k), reduce_timeout);
  if (!total) fail("round " + std::to_string(k) + ": " + total.err().message);
  double wsum = 0;
  for (int r : members) wsum += weight(r, k);
  if (std::abs(*total - wsum) > 1e-9) fail("round " + std::to_string(k) + ": weight sum " + std::to_string(*total));
  for (std::size_t j = 0; j < n; ++j) {
    double want = 0;
    for (int r : members) want += weight(r, k) * value(r, k, j);
    want /= wsum;
    if (std::abs(data[j] - want) > 1e-4 * std::max(1.0, std::abs(want)))
      fail("round " + std::to_string(k) + " element " + std::to_string(j) + ": got " + std::to_string(data[j]) +
           " want " + std::to_string(want));
  }
}

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  auto g0 = mpi_group::init(&argc, &argv);
  if (!g0) {
    std::fprintf(stderr, "init: %s\n", g0.err().message.c_str());
    return 1;
  }
  mpi_group& g = **g0;
  world_rank = g.world_rank();
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [VICTIM] [KILL_ROUND] [ROUNDS_AFTER]\n", argv[0]);
    std::_Exit(2);
  }
  out_path = std::string(argv[1]) + "/rank-" + std::to_string(world_rank) + ".txt";
  const int victim = argc > 2 ? std::atoi(argv[2]) : 2;
  const int kill_round = argc > 3 ? std::atoi(argv[3]) : 6;
  const int rounds_after = argc > 4 ? std::atoi(argv[4]) : 6;
  if (g.world_size() < 3 || victim < 0 || victim >= g.world_size()) fail("need >= 3 ranks and a valid victim");
  g.set_probe_timeout(probe_timeout);
  std::thread([] {
    std::this_thread::sleep_for(run_budget);
    fail("watchdog: run exceeded " + std::to_string(run_budget.count()) + " s");
  }).detach();

  for (int k = 0; k < kill_round; ++k) checked_round(g, k, g.members());

  if (world_rank == victim) {
    std::printf("[rank %d] raising SIGKILL before round %d\n", world_rank, kill_round);
    std::fflush(stdout);
    std::raise(SIGKILL);
  }

  // The round the victim skipped: must end in `deadline`, with the victim suspected.
  const auto t0 = steady::now();
  std::vector<float> data(1000, 1.0f);
  auto lost = g.allreduce_weighted_mean(data, 1.0, reduce_timeout);
  const double detect_ms = ms_since(t0);
  if (lost) fail("all-reduce without the victim succeeded");
  if (lost.err().code != hydra::errc::deadline) fail("expected deadline, got: " + lost.err().message);
  if (detect_ms > 2 * (reduce_timeout + 2 * probe_timeout).count()) fail("detection took " + std::to_string(detect_ms));
  const auto view = g.last_view();
  if (view.suspected != std::vector<int>{victim})
    fail("suspected " + join_ranks(view.suspected) + " (" + lost.err().message + ")");
  if (view.min_completed != static_cast<std::uint64_t>(kill_round) || view.max_completed != view.min_completed)
    fail("survivors disagree on completed rounds: " + std::to_string(view.min_completed) + ".." +
         std::to_string(view.max_completed));
  if (auto again = g.allreduce_weighted_mean(data, 1.0, reduce_timeout); again || again.err().code != hydra::errc::unavailable)
    fail("all-reduce on the abandoned communicator did not fail fast");

  const auto t1 = steady::now();
  if (auto s = g.shrink(view.survivors, 10s); !s) fail("shrink: " + s.err().message);
  const double shrink_ms = ms_since(t1);
  if (g.size() != g.world_size() - 1 || g.members() != view.survivors) fail("wrong group after shrink");
  const auto self = std::find(view.survivors.begin(), view.survivors.end(), world_rank) - view.survivors.begin();
  if (g.rank() != self) fail("rank " + std::to_string(g.rank()) + " after shrink, expected " + std::to_string(self));

  const auto t2 = steady::now();
  for (int k = kill_round + 1; k <= kill_round + rounds_after; ++k) checked_round(g, k, g.members());
  const double after_ms = ms_since(t2) / rounds_after;

  char line[256];
  std::snprintf(line, sizeof line, "rank=%d ok=1 rounds=%d size_after=%d detect_ms=%.0f shrink_ms=%.1f after_ms=%.1f",
                world_rank, kill_round + rounds_after, g.size(), detect_ms, shrink_ms, after_ms);
  report(line);
  const bool clean = g.finalize(3s);
  std::printf("[rank %d] MPI_Finalize %s\n", world_rank, clean ? "returned" : "timed out (expected after a failure)");
  std::fflush(stdout);
  std::_Exit(0);
}
