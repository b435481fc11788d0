// Hydra's p2p all-reduce (ring over comm::tcp_link, loopback TCP) timed the
// way bench/mpi_allreduce.cpp times MPI_Allreduce: N rank processes, sizes
// 4 KiB .. 64 MiB, medians of repetitions after warm-up, one JSON line per
// size from rank 0 (gbps = Gbit/s, as bench/mpi_allreduce.cpp). Usage: hydra_p2p_allreduce [--ranks N] [--reps R]
//   [--max-bytes B] [--segment-bytes S]

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/tcp_link.hpp"

using namespace hydra;

namespace {

int run_rank(int rank, const std::vector<std::string>& addrs, int listen_fd, int reps, std::size_t max_bytes,
             std::size_t segment) {
  auto l = comm::tcp_link::open(rank, addrs, listen_fd, wire::generate_identity(), 1,
                                comm::clock::now() + std::chrono::seconds(30));
  if (!l) {
    std::fprintf(stderr, "rank %d: %s\n", rank, l.err().message.c_str());
    return 1;
  }
  comm::allreduce_engine engine;
  comm::allreduce_options opt;
  opt.segment_bytes = segment;
  opt.timeout = std::chrono::seconds(30);
  std::vector<float> sync(1);
  for (std::size_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
    std::vector<float> data(bytes / sizeof(float), 1.0f + rank);
    std::vector<double> ms;
    for (int rep = 0; rep < reps + 3; ++rep) {
      if (auto r = engine.run(**l, sync, 1.0, opt); !r) {  // line up the ranks
        std::fprintf(stderr, "rank %d: lining up before %zu bytes: %s\n", rank, bytes, r.err().message.c_str());
        return 1;
      }
      const auto t0 = comm::clock::now();
      if (auto r = engine.run(**l, data, 1.0, opt); !r) {
        std::fprintf(stderr, "rank %d: %s\n", rank, r.err().message.c_str());
        return 1;
      }
      const double t = std::chrono::duration<double, std::milli>(comm::clock::now() - t0).count();
      if (rep >= 3) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    if (rank == 0)
      std::printf("{\"impl\":\"p2p\",\"btl\":\"tcp\",\"ranks\":%zu,\"bytes\":%zu,\"median_ms\":%.4f,\"gbps\":%.4f}\n",
                  addrs.size(), bytes, med, bytes * 8 / (med * 1e-3) / 1e9);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 2, reps = 10;
  std::size_t max_bytes = 64u << 20, segment = 1u << 20;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::printf("usage: hydra_p2p_allreduce [--ranks N (2)] [--reps R (10)] [--max-bytes B (64 MiB)]\n"
                  "                           [--segment-bytes S (1 MiB)]\n"
                  "Times Hydra's ring all-reduce over encrypted loopback TCP in N forked rank processes,\n"
                  "4 KiB .. B, and prints one JSON line per size (medians after 3 warm-up rounds).\n"
                  "Any failed round is printed with its rank and error, and the exit status is 1.\n");
      return 0;
    }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "%s needs a value (see --help)\n", argv[argc - 1]);
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--ranks") ranks = std::atoi(argv[i + 1]);
    else if (k == "--reps") reps = std::atoi(argv[i + 1]);
    else if (k == "--max-bytes") max_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--segment-bytes") segment = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (ranks < 2 || reps < 1) {
    std::fprintf(stderr, "need --ranks >= 2 and --reps >= 1\n");
    return 2;
  }
  std::vector<int> fds;
  std::vector<std::string> addrs;
  for (int i = 0; i < ranks; ++i) {
    auto l = comm::tcp_link::listen_on("127.0.0.1", 0);
    if (!l) {
      std::fprintf(stderr, "%s\n", l.err().message.c_str());
      return 1;
    }
    fds.push_back(l->first);
    addrs.push_back("127.0.0.1:" + std::to_string(l->second));
  }
  std::vector<pid_t> kids;
  for (int r = 1; r < ranks; ++r) {
    const pid_t pid = fork();
    if (pid == 0) _exit(run_rank(r, addrs, fds[r], reps, max_bytes, segment));
    kids.push_back(pid);
  }
  int rc = run_rank(0, addrs, fds[0], reps, max_bytes, segment);
  for (std::size_t i = 0; i < kids.size(); ++i) {
    int st = 0;
    waitpid(kids[i], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::fprintf(stderr, "rank %zu exited with %s %d\n", i + 1, WIFEXITED(st) ? "status" : "signal",
                   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
      rc = 1;
    }
  }
  return rc;
}
