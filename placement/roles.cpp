#include "placement/roles.hpp"

#include <algorithm>
#include <cmath>

namespace hydra::placement {
namespace {

double median_speed(std::span<const node_caps> nodes) {
  std::vector<double> s;
  for (auto& n : nodes)
    if (n.alive) s.push_back(n.samples_per_second);
  if (s.empty()) return 0;
  auto mid = s.begin() + static_cast<std::ptrdiff_t>(s.size() / 2);
  std::nth_element(s.begin(), mid, s.end());
  return *mid;
}

/// The first `k` of the non-battery alive nodes ordered by `better`.
template <class Better>
std::vector<std::size_t> top_mains(std::span<const node_caps> nodes, std::size_t k, Better better) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].alive && !nodes[i].on_battery) idx.push_back(i);
  k = std::min(k, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), better);
  idx.resize(k);
  return idx;
}

}  // namespace

role_plan place_roles(std::span<const node_caps> nodes, std::size_t ledger_replicas,
                      double slow_fraction) {
  role_plan r;
  const double slow = slow_fraction * median_speed(nodes);
  std::size_t alive = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (!n.alive) continue;
    ++alive;
    if (n.on_battery || n.samples_per_second < slow)
      r.scorers.push_back(i);
    else
      r.trainers.push_back(i);
  }
  r.ledger = top_mains(nodes, ledger_replicas, [&](std::size_t a, std::size_t b) {
    if (nodes[a].availability != nodes[b].availability)
      return nodes[a].availability > nodes[b].availability;
    if (nodes[a].bandwidth_bytes_per_second != nodes[b].bandwidth_bytes_per_second)
      return nodes[a].bandwidth_bytes_per_second > nodes[b].bandwidth_bytes_per_second;
    return a < b;
  });
  const auto collectors = static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(alive))));
  r.collectors = top_mains(nodes, collectors, [&](std::size_t a, std::size_t b) {
    if (nodes[a].bandwidth_bytes_per_second != nodes[b].bandwidth_bytes_per_second)
      return nodes[a].bandwidth_bytes_per_second > nodes[b].bandwidth_bytes_per_second;
    return a < b;
  });
  std::sort(r.collectors.begin(), r.collectors.end());
  return r;
}

}  // namespace hydra::placement
