#include "actors/capabilities.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

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
          {"load1", c.load1},         {"idle", c.idle}};
}

}  // namespace hydra::actors
