#include "actors/capabilities.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace hydra::actors {
namespace {

struct temp_file {
  std::string path = (std::filesystem::temp_directory_path() / ("hydra-cap-" + std::to_string(::getpid()) + ".json")).string();
  ~temp_file() { std::filesystem::remove(path); }
};

TEST(CapabilityCache, MeasuresOnceThenReads) {
  temp_file f;
  int calls = 0;
  auto measure = [&] { return ++calls, 42.5; };
  EXPECT_EQ(cached_machine_gflops(f.path, 3600, measure), 42.5);
  EXPECT_EQ(cached_machine_gflops(f.path, 3600, measure), 42.5);
  EXPECT_EQ(calls, 1);
  // Too old (max age 0 is still "now" only when measured this second; -1 never).
  EXPECT_EQ(cached_machine_gflops(f.path, -1, [] { return 7.0; }), 7.0);
  EXPECT_EQ(cached_machine_gflops(f.path, 3600, measure), 7.0);
}

TEST(CapabilityCache, DamagedOrForeignFilesAreMeasuredOver) {
  temp_file f;
  for (const char* bad : {"", "not json", "{\"gflops\": -3, \"cores\": 1}", "{\"gflops\": \"fast\"}",
                          "{\"gflops\": 10, \"cpu_model\": \"another CPU\", \"cores\": 1, \"measured_at\": 0}"}) {
    std::ofstream(f.path, std::ios::trunc) << bad;
    int calls = 0;
    EXPECT_EQ(cached_machine_gflops(f.path, 1e12, [&] { return ++calls, 9.0; }), 9.0) << bad;
    EXPECT_EQ(calls, 1) << bad;
  }
}

TEST(CapabilityCache, ConcurrentStartersRunOneBenchmark) {
  temp_file f;
  std::atomic<int> calls{0};
  std::vector<std::thread> ts;
  std::vector<double> got(8);
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      got[i] = cached_machine_gflops(f.path, 3600, [&] {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return 3.25;
      });
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (double g : got) EXPECT_EQ(g, 3.25);
}

TEST(CapabilityCache, UnopenableFileStillMeasures) {
  EXPECT_EQ(cached_machine_gflops("/nonexistent-dir/x/capability.json", 3600, [] { return 5.0; }), 5.0);
}

}  // namespace
}  // namespace hydra::actors
