/// Reference numbers for the all-reduce: blocking MPI_Allreduce (float sum)
/// for 4 KiB ... 64 MiB in powers of 4, run under mpirun. Each size: warm-up,
/// then >= 10 timed reps (more for small sizes), each rep's time being the
/// slowest rank's (times are max-reduced per rep after the loop, so the
/// reduction does not disturb the timing); reports the median.
///
/// Rank 0 prints one JSON line per size:
///   {"impl":"mpi","btl":"tcp","ranks":2,"bytes":16777216,"median_ms":11.2,"gbps":12.0}
/// gbps = bytes * 8 / median / 1e9: algorithm bandwidth in Gbit/s (the
/// buffer size over time, as `hydra_p2p_allreduce` must report it too).
/// "btl" is read from OMPI_MCA_btl (set by `mpirun --mca btl ...`) unless
/// given as the first argument.
///
/// Usage: mpirun ... hydra_mpi_allreduce [BTL_LABEL] [MAX_BYTES]

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

std::string btl_label(int argc, char** argv) {
  if (argc > 1) return argv[1];
  const char* env = std::getenv("OMPI_MCA_btl");
  const std::string b = env ? env : "";
  if (b.find("vader") != std::string::npos || b.find("sm") != std::string::npos) return "vader";
  if (b.find("tcp") != std::string::npos) return "tcp";
  return "default";
}

int reps_for(std::size_t bytes) {
  return static_cast<int>(std::clamp<std::size_t>((std::size_t{256} << 20) / bytes, 10, 200));
}

// Median of the per-rep times, each rep's time being the slowest rank's.
double median_ms(std::vector<double> local, int rank) {
  std::vector<double> slowest(local.size());
  MPI_Reduce(local.data(), slowest.data(), static_cast<int>(local.size()), MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank != 0) return 0;
  std::sort(slowest.begin(), slowest.end());
  const std::size_t n = slowest.size();
  const double mid = n % 2 ? slowest[n / 2] : 0.5 * (slowest[n / 2 - 1] + slowest[n / 2]);
  return mid * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const std::string btl = btl_label(argc, argv);
  const std::size_t max_bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::size_t{64} << 20;

  std::vector<float> send(max_bytes / sizeof(float)), recv(send.size());
  for (std::size_t i = 0; i < send.size(); ++i) send[i] = static_cast<float>(rank + 1) * 1e-3f * static_cast<float>(i % 101);

  for (std::size_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
    const int count = static_cast<int>(bytes / sizeof(float));
    const int reps = reps_for(bytes);
    for (int i = 0; i < 3; ++i) MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    std::vector<double> times(static_cast<std::size_t>(reps));
    for (auto& t : times) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      t = MPI_Wtime() - t0;
    }
    const double ms = median_ms(std::move(times), rank);
    if (rank == 0) {
      std::printf("{\"impl\":\"mpi\",\"btl\":\"%s\",\"ranks\":%d,\"bytes\":%zu,\"median_ms\":%.4f,\"gbps\":%.3f}\n",
                  btl.c_str(), ranks, bytes, ms, static_cast<double>(bytes) * 8.0 / (ms * 1e-3) / 1e9);
      std::fflush(stdout);
    }
  }
  MPI_Finalize();
  return 0;
}
