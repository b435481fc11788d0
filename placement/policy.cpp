#include "placement/policy.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "placement/adaptive.hpp"

namespace hydra::placement {
namespace {

bool eligible(const job& j, const node_caps& n, double w) {
  return n.alive && std::isfinite(w) && w > 0 && n.max_batch >= j.min_batch && n.max_batch > 0;
}

/// Keeps only the `k` heaviest of `idx`.
void keep_heaviest(std::vector<std::size_t>& idx, std::span<const double> w, std::size_t k) {
  std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                   [&](std::size_t a, std::size_t b) { return w[a] > w[b]; });
  idx.resize(k);
}

double filled(const job& j, std::span<const node_caps> n, std::span<const double> w,
              const std::vector<std::size_t>& idx, double t) {
  double s = 0;
  for (auto i : idx)
    s += std::clamp(t * w[i], static_cast<double>(j.min_batch), static_cast<double>(n[i].max_batch));
  return s;
}

/// The water level t with sum clamp(t * w_i, min, max) == global batch.
double water_level(const job& j, std::span<const node_caps> n, std::span<const double> w,
                   const std::vector<std::size_t>& idx) {
  double hi = 0;
  for (auto i : idx) hi = std::max(hi, static_cast<double>(n[i].max_batch) / w[i]);
  double lo = 0;
  const double target = static_cast<double>(j.global_batch);
  for (int it = 0; it < 100 && hi - lo > 1e-12 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (filled(j, n, w, idx, mid) < target ? lo : hi) = mid;
  }
  return hi;
}

/// Floors `x` into `out` and hands the shortfall to the largest remainders.
void round_largest_remainder(const job& j, std::span<const node_caps> n,
                             const std::vector<std::size_t>& idx, const std::vector<double>& x,
                             std::vector<std::size_t>& out) {
  std::size_t sum = 0;
  std::vector<std::pair<double, std::size_t>> frac;  // (remainder, node index)
  frac.reserve(idx.size());
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const auto i = idx[k];
    out[i] = static_cast<std::size_t>(std::floor(x[k]));
    out[i] = std::clamp(out[i], j.min_batch, n[i].max_batch);
    sum += out[i];
    frac.emplace_back(x[k] - std::floor(x[k]), i);
  }
  std::sort(frac.begin(), frac.end(), [](auto& a, auto& b) { return a.first > b.first; });
  // Two passes cover numerical slack: remainders first, then any headroom.
  for (int pass = 0; pass < 2 && sum < j.global_batch; ++pass)
    for (auto& [f, i] : frac) {
      if (sum == j.global_batch) break;
      while (out[i] < n[i].max_batch && sum < j.global_batch) {
        ++out[i];
        ++sum;
        if (pass == 0) break;
      }
    }
  for (auto it = frac.rbegin(); it != frac.rend() && sum > j.global_batch; ++it)
    while (out[it->second] > j.min_batch && sum > j.global_batch) {
      --out[it->second];
      --sum;
    }
}

class uniform_policy final : public policy {
 public:
  result<plan> make(const job& j, std::span<const node_caps> nodes) override {
    std::vector<double> ones(nodes.size(), 1.0), speeds(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) speeds[i] = nodes[i].samples_per_second;
    auto s = proportional_split(j, nodes, ones);
    if (!s) return s.err();
    const double t = round_seconds(nodes, *s, speeds, j.model_bytes);
    return plan{std::move(*s), t};
  }
  const char* name() const override { return "uniform"; }
};

class model_policy final : public policy {
 public:
  result<plan> make(const job& j, std::span<const node_caps> nodes) override {
    std::vector<double> speeds(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) speeds[i] = nodes[i].samples_per_second;
    auto s = proportional_split(j, nodes, speeds);
    if (!s) return s.err();
    const double t = round_seconds(nodes, *s, speeds, j.model_bytes);
    return plan{std::move(*s), t};
  }
  const char* name() const override { return "model"; }
};

constexpr std::string_view k_names[] = {"uniform", "model", "adaptive"};

}  // namespace

result<std::vector<std::size_t>> proportional_split(const job& j, std::span<const node_caps> nodes,
                                                    std::span<const double> weights) {
  if (weights.size() != nodes.size())
    return make_error(errc::internal, "placement: weights and nodes differ in size");
  if (j.global_batch == 0) return make_error(errc::invalid_input, "placement: global batch is 0");
  std::vector<std::size_t> idx;
  std::size_t capacity = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (eligible(j, nodes[i], weights[i])) {
      idx.push_back(i);
      capacity += nodes[i].max_batch;
    }
  if (idx.empty()) return make_error(errc::unavailable, "placement: no alive node can take work");
  if (capacity < j.global_batch)
    return make_error(errc::invalid_input,
                      "placement: global batch " + std::to_string(j.global_batch) +
                          " exceeds the memory of the alive nodes (" + std::to_string(capacity) + ")");
  if (j.min_batch > j.global_batch)
    return make_error(errc::invalid_input, "placement: min batch exceeds the global batch");
  const std::size_t fit = j.min_batch == 0 ? idx.size() : j.global_batch / j.min_batch;
  if (fit < idx.size()) keep_heaviest(idx, weights, fit);
  // Dropping nodes may leave too little memory: then the job does not fit.
  std::size_t kept = 0;
  for (auto i : idx) kept += nodes[i].max_batch;
  if (kept < j.global_batch)
    return make_error(errc::invalid_input, "placement: no feasible split of the global batch");

  const double t = water_level(j, nodes, weights, idx);
  std::vector<double> x(idx.size());
  for (std::size_t k = 0; k < idx.size(); ++k)
    x[k] = std::clamp(t * weights[idx[k]], static_cast<double>(j.min_batch),
                      static_cast<double>(nodes[idx[k]].max_batch));
  std::vector<std::size_t> out(nodes.size(), 0);
  round_largest_remainder(j, nodes, idx, x, out);
  return out;
}

double allreduce_seconds(std::span<const node_caps> nodes, std::span<const std::size_t> samples,
                         double model_bytes) {
  double min_bw = 0, max_lat = 0;
  bool any = false;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (samples[i] == 0) continue;
    const double bw = nodes[i].bandwidth_bytes_per_second;
    min_bw = any ? std::min(min_bw, bw) : bw;
    max_lat = std::max(max_lat, nodes[i].latency_seconds);
    any = true;
  }
  if (!any || min_bw <= 0) return 0;
  return 2.0 * model_bytes / min_bw + 2.0 * max_lat;
}

double round_seconds(std::span<const node_caps> nodes, std::span<const std::size_t> samples,
                     std::span<const double> speeds, double model_bytes) {
  double compute = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (samples[i] > 0 && speeds[i] > 0)
      compute = std::max(compute, static_cast<double>(samples[i]) / speeds[i]);
  return compute + allreduce_seconds(nodes, samples, model_bytes);
}

std::span<const std::string_view> policy_names() { return k_names; }

result<std::unique_ptr<policy>> make_policy(std::string_view name) {
  if (name == "uniform") return std::unique_ptr<policy>(std::make_unique<uniform_policy>());
  if (name == "model") return std::unique_ptr<policy>(std::make_unique<model_policy>());
  if (name == "adaptive") return std::unique_ptr<policy>(std::make_unique<adaptive_policy>());
  return make_error(errc::invalid_input, "placement: unknown policy '" + std::string(name) +
                                             "' (expected uniform, model or adaptive)");
}

}  // namespace hydra::placement
