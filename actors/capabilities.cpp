#include "actors/capabilities.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/env.hpp"
#include "kernels/context.hpp"
#include "kernels/dense.hpp"

namespace hydra::actors {

double measure_gflops(double seconds, duty_cycle& duty, int threads) {
  kernels::context ctx(threads);
  const int batch = 256, in = 1024, out = 1024;
  kernels::dense layer(ctx, kernels::dims3{in}, out, false);
  std::vector<float> params(layer.param_count()), grads(layer.param_count());
  layer.bind(params.data(), grads.data());
  rng r(1);
  layer.init(r);
  std::vector<float> x(std::size_t(batch) * in, 0.5f), y(std::size_t(batch) * out);
  layer.forward(batch, x.data(), y.data());  // build and warm up
  env& e = default_env();
  const double flops_per_call = 2.0 * batch * in * out;
  const auto start = e.now();
  double calls = 0;
  while (seconds_between(start, e.now()) < seconds) {
    const auto t0 = e.now();
    layer.forward(batch, x.data(), y.data());
    calls += 1;
    duty.pace(seconds_between(t0, e.now()));
  }
  return calls * flops_per_call / seconds_between(start, e.now()) / 1e9;
}

namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

}  // namespace

std::string default_capability_cache() {
  namespace fs = std::filesystem;
  fs::path dir;
  if (const char* d = std::getenv("HYDRA_CACHE_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = fs::path(x) / "hydra";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = fs::path(h) / ".cache" / "hydra";
  } else {
    dir = fs::temp_directory_path() / "hydra";
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  return (dir / "capability.json").string();
}

double cached_machine_gflops(const std::string& cache_file, double max_age_seconds,
                             const std::function<double()>& measure) {
  const int fd = ::open(cache_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return measure();
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  const std::string model = cpu_model();
  const std::uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  const std::int64_t now = default_env().unix_seconds();
  // The file as it stands (at most 4 KiB: anything longer is not ours).
  std::string text(4096, '\0');
  const ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  auto j = nlohmann::json::parse(text, nullptr, false);
  double gflops = 0;
  if (j.is_object() && j.value("cpu_model", "") == model && j.value("cores", 0u) == cores &&
      j.contains("gflops") && j["gflops"].is_number() && j.contains("measured_at") && j["measured_at"].is_number()) {
    const double g = j["gflops"].get<double>();
    const auto at = j["measured_at"].get<std::int64_t>();
    if (std::isfinite(g) && g > 0 && at <= now && now - at <= max_age_seconds) gflops = g;
  }
  if (gflops == 0) {
    gflops = measure();
    const std::string out =
        nlohmann::json{{"gflops", gflops}, {"cpu_model", model}, {"cores", cores}, {"measured_at", now}}.dump() + "\n";
    // Rewritten in place under the lock; a torn write is "damaged" to the
    // next reader, which measures again.
    if (::ftruncate(fd, 0) == 0) {
      std::size_t done = 0;
      while (done < out.size()) {
        const ssize_t w = ::pwrite(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += static_cast<std::size_t>(w);
      }
      ::fsync(fd);
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return gflops;
}

void read_os_state(capabilities& c, const std::string& power_supply_dir) {
  c.cores = std::max(1u, std::thread::hardware_concurrency());
  c.memory_bytes = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(sysconf(_SC_PAGE_SIZE));
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) c.load1 = static_cast<float>(load[0]);
  c.idle = c.load1 < 0.25 * c.cores;
  c.on_battery = false;
  c.battery_percent = -1;
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& dev : fs::directory_iterator(power_supply_dir, ec)) {
    auto read = [&](const char* name) {
      std::ifstream f(dev.path() / name);
      std::string s;
      std::getline(f, s);
      return s;
    };
    if (read("type") != "Battery") continue;
    if (read("status") == "Discharging") c.on_battery = true;
    const std::string cap = read("capacity");
    if (!cap.empty()) c.battery_percent = std::strtof(cap.c_str(), nullptr);
  }
}

nlohmann::json to_json(const capabilities& c) {
  return {{"gflops", c.gflops},       {"cores", c.cores},           {"memory_bytes", c.memory_bytes},
          {"cpu_limit", c.cpu_limit}, {"on_battery", c.on_battery}, {"battery_percent", c.battery_percent},
          {"load1", c.load1},         {"idle", c.idle},             {"paused", c.paused}};
}

}  // namespace hydra::actors
