#include "placement/adaptive.hpp"

namespace hydra::placement {

double adaptive_policy::estimate(std::uint64_t id, double fallback) const {
  auto it = est_.find(id);
  return it == est_.end() || it->second.samples_seen == 0 ? fallback : it->second.speed;
}

result<plan> adaptive_policy::make(const job& j, std::span<const node_caps> nodes) {
  std::vector<double> speeds(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i)
    speeds[i] = estimate(nodes[i].id, nodes[i].samples_per_second);
  auto s = proportional_split(j, nodes, speeds);
  if (!s) return s.err();
  last_ids_.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) last_ids_[i] = nodes[i].id;
  last_samples_ = *s;
  // Forget nodes that left long ago so churn does not grow the table forever.
  if (est_.size() > 2 * nodes.size() + 64) {
    std::unordered_map<std::uint64_t, estimate_entry> kept;
    for (auto& n : nodes)
      if (auto it = est_.find(n.id); it != est_.end()) kept.insert(*it);
    est_.swap(kept);
  }
  const double t = round_seconds(nodes, *s, speeds, j.model_bytes);
  return plan{std::move(*s), t};
}

void adaptive_policy::observe(std::span<const double> step_seconds,
                              std::span<const double> transfer_seconds) {
  const std::size_t n = std::min(step_seconds.size(), last_ids_.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (last_samples_[i] == 0 || !(step_seconds[i] > 0)) continue;
    const double seen = static_cast<double>(last_samples_[i]) / step_seconds[i];
    auto& e = est_[last_ids_[i]];
    // A jump far beyond measurement noise is a step change: restart there.
    const bool jump = e.samples_seen == 0 || seen > 1.25 * e.speed || seen < 0.8 * e.speed;
    e.speed = jump ? seen : (1 - alpha_) * e.speed + alpha_ * seen;
    ++e.samples_seen;
  }
}

}  // namespace hydra::placement
