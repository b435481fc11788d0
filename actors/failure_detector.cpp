#include "actors/failure_detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace hydra::membership {

const char* to_string(peer_state s) {
  switch (s) {
    case peer_state::alive: return "alive";
    case peer_state::suspect: return "suspect";
    case peer_state::dead: return "dead";
  }
  return "unknown";
}

void rtt_estimator::sample(double rtt) {
  if (!(rtt >= 0)) return;  // also rejects NaN
  if (!has_sample_) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    has_sample_ = true;
    return;
  }
  // RFC 6298 2.3: rttvar first, with the old srtt. alpha = 1/8, beta = 1/4.
  rttvar_ = 0.75 * rttvar_ + 0.25 * std::abs(srtt_ - rtt);
  srtt_ = 0.875 * srtt_ + 0.125 * rtt;
}

double rtt_estimator::rto() const {
  if (!has_sample_) return initial_rto;
  return std::clamp(srtt_ + 4 * rttvar_, min_rto, max_rto);
}

failure_detector::failure_detector(double gossip_interval)
    : interval_(gossip_interval > 0 ? gossip_interval : 1.0) {}

bool failure_detector::observe(const node_id& id, std::uint64_t incarnation, std::uint64_t heartbeat,
                               double now) {
  peer& p = peers_[id];
  if (p.observed && std::tie(incarnation, heartbeat) <= std::tie(p.incarnation, p.heartbeat)) return false;
  if (!p.observed) ++observed_;
  p.observed = true;
  p.incarnation = incarnation;
  p.heartbeat = heartbeat;
  p.last_heard = now;
  return true;
}

void failure_detector::rtt_sample(const node_id& id, double rtt) {
  if (!(rtt >= 0)) return;
  peers_[id].rtt.sample(rtt);
  cluster_rtt_.sample(rtt);
}

double failure_detector::rto_for(const node_id& id) const {
  auto it = peers_.find(id);
  if (it != peers_.end() && it->second.rtt.has_sample()) return it->second.rtt.rto();
  if (cluster_rtt_.has_sample()) return cluster_rtt_.rto();
  return std::min(interval_, rtt_estimator::initial_rto);
}

double failure_detector::suspect_after(const node_id& id) const {
  const double n = static_cast<double>(observed_ + 1);
  const double rounds = 2 + std::ceil(std::log2(n));
  return interval_ * rounds + 2 * rto_for(id);
}

double failure_detector::dead_after(const node_id& id) const { return 2 * suspect_after(id); }

peer_state failure_detector::state(const node_id& id, double now) const {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.observed) return peer_state::dead;
  const double silence = now - it->second.last_heard;
  const double suspect = suspect_after(id);
  if (silence < suspect) return peer_state::alive;
  if (silence < 2 * suspect) return peer_state::suspect;
  return peer_state::dead;
}

double failure_detector::last_heard(const node_id& id) const {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.observed) return -std::numeric_limits<double>::infinity();
  return it->second.last_heard;
}

std::pair<std::uint64_t, std::uint64_t> failure_detector::version(const node_id& id) const {
  auto it = peers_.find(id);
  if (it == peers_.end()) return {0, 0};
  return {it->second.incarnation, it->second.heartbeat};
}

const rtt_estimator* failure_detector::rtt(const node_id& id) const {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.rtt.has_sample()) return nullptr;
  return &it->second.rtt;
}

std::vector<node_id> failure_detector::known() const {
  std::vector<node_id> out;
  out.reserve(observed_);
  for (const auto& [id, p] : peers_)
    if (p.observed) out.push_back(id);
  return out;
}

std::size_t failure_detector::alive_count(double now) const {
  std::size_t n = 0;
  for (const auto& [id, p] : peers_)
    if (p.observed && state(id, now) == peer_state::alive) ++n;
  return n;
}

void failure_detector::forget(const node_id& id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  if (it->second.observed) --observed_;
  peers_.erase(it);
}

}  // namespace hydra::membership
