// hydra_fma_peak: measures the machine's fp32 FMA throughput, the ceiling
// that bench/train_vs_torch.sh compares Hydra's achieved GFLOP/s against.
//
//   hydra_fma_peak [--threads T] [--seconds S]
//   -> {"threads":T,"fma_peak_gflops":X[,"fma512_peak_gflops":Y]}
//
// fma_peak_gflops is the AVX2 (256-bit) figure. Each thread keeps 12
// independent accumulator chains (16 for AVX-512): with FMA latency 4-5 cycles
// and two FMA pipes, at least 8-10 chains must be in flight for the loop to be
// throughput- rather than latency-bound. If the CPU also has AVX-512F, the
// 512-bit peak is measured too and reported as fma512_peak_gflops, since code
// built with -march=native (oneDNN, auto-vectorised loops) may use it.

#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

// Iterations per timing check: a few tens of microseconds of work.
constexpr long kChunk = 8192;

volatile float g_sink;

// Runs `kChunk * chunks` iterations of 12 FMAs on 8 floats each.
__attribute__((target("avx2,fma"), noinline)) float fma256_chunks(long chunks) {
  const __m256 a = _mm256_set1_ps(0.9999f);
  const __m256 b = _mm256_set1_ps(0.0001f);
  __m256 c0 = _mm256_set1_ps(0.0f), c1 = _mm256_set1_ps(0.1f), c2 = _mm256_set1_ps(0.2f),
         c3 = _mm256_set1_ps(0.3f), c4 = _mm256_set1_ps(0.4f), c5 = _mm256_set1_ps(0.5f),
         c6 = _mm256_set1_ps(0.6f), c7 = _mm256_set1_ps(0.7f), c8 = _mm256_set1_ps(0.8f),
         c9 = _mm256_set1_ps(0.9f), c10 = _mm256_set1_ps(1.0f), c11 = _mm256_set1_ps(1.1f);
  for (long n = chunks * kChunk; n > 0; --n) {
    c0 = _mm256_fmadd_ps(c0, a, b);
    c1 = _mm256_fmadd_ps(c1, a, b);
    c2 = _mm256_fmadd_ps(c2, a, b);
    c3 = _mm256_fmadd_ps(c3, a, b);
    c4 = _mm256_fmadd_ps(c4, a, b);
    c5 = _mm256_fmadd_ps(c5, a, b);
    c6 = _mm256_fmadd_ps(c6, a, b);
    c7 = _mm256_fmadd_ps(c7, a, b);
    c8 = _mm256_fmadd_ps(c8, a, b);
    c9 = _mm256_fmadd_ps(c9, a, b);
    c10 = _mm256_fmadd_ps(c10, a, b);
    c11 = _mm256_fmadd_ps(c11, a, b);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}
constexpr double kFlops256PerIter = 12.0 * 8 * 2;

// Same with 16 chains of 16 floats.
__attribute__((target("avx512f"), noinline)) float fma512_chunks(long chunks) {
  const __m512 a = _mm512_set1_ps(0.9999f);
  const __m512 b = _mm512_set1_ps(0.0001f);
  __m512 c[16];
  for (int i = 0; i < 16; ++i) c[i] = _mm512_set1_ps(0.1f * static_cast<float>(i));
  for (long n = chunks * kChunk; n > 0; --n) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) c[i] = _mm512_fmadd_ps(c[i], a, b);
  }
  __m512 s = c[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, c[i]);
  // (Not _mm512_reduce_add_ps: GCC 12's header trips -Wuninitialized.)
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}
constexpr double kFlops512PerIter = 16.0 * 16 * 2;

// Runs `kernel` on `threads` threads for about `seconds`; returns GFLOP/s of
// all threads together (total FLOPs over the wall time between the barriers).
template <typename Kernel>
double measure(Kernel kernel, double flops_per_iter, int threads, double seconds) {
  const auto budget = std::chrono::duration<double>(seconds);
  double total_iters = 0;
  Clock::time_point t0, t1;
  float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total_iters, sink)
  {
    // Warm-up: wakes the vector units and lets the clock settle.
    const auto w0 = Clock::now();
    while (Clock::now() - w0 < budget / 5) sink += kernel(1);
#pragma omp barrier
#pragma omp master
    t0 = Clock::now();
#pragma omp barrier
    long chunks = 0;
    const auto start = t0;
    while (Clock::now() - start < budget) {
      sink += kernel(4);
      chunks += 4;
    }
#pragma omp barrier
#pragma omp master
    t1 = Clock::now();
    total_iters += static_cast<double>(chunks) * kChunk;
  }
  g_sink = sink;
  const double dt = std::chrono::duration<double>(t1 - t0).count();
  return total_iters * flops_per_iter / dt / 1e9;
}

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "hydra_fma_peak: %s\n", msg);
  std::fprintf(stderr, "usage: hydra_fma_peak [--threads T] [--seconds S]\n");
  std::exit(msg ? 2 : 0);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  double seconds = 0.5;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage((arg + " needs a value").c_str());
      return argv[++i];
    };
    char* end = nullptr;
    if (arg == "--threads") {
      const char* v = value();
      const long t = std::strtol(v, &end, 10);
      if (*end != '\0' || t < 1 || t > 4096) usage("--threads must be an integer >= 1");
      threads = static_cast<int>(t);
    } else if (arg == "--seconds") {
      const char* v = value();
      seconds = std::strtod(v, &end);
      if (*end != '\0' || !(seconds > 0) || seconds > 60) usage("--seconds must be in (0, 60]");
    } else if (arg == "-h" || arg == "--help") {
      usage(nullptr);
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }

  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "hydra_fma_peak: this CPU has no AVX2+FMA\n");
    return 1;
  }
  const double peak256 = measure(fma256_chunks, kFlops256PerIter, threads, seconds);
  std::printf("{\"threads\":%d,\"fma_peak_gflops\":%.1f", threads, peak256);
  if (__builtin_cpu_supports("avx512f")) {
    const double peak512 = measure(fma512_chunks, kFlops512PerIter, threads, seconds);
    std::printf(",\"fma512_peak_gflops\":%.1f", peak512);
  }
  std::printf("}\n");
  return 0;
}
