#include "actors/lookup.hpp"

#include <algorithm>
#include <utility>

namespace hydra::membership {

lookup::lookup(node_id target, std::vector<contact> seeds, std::size_t k, std::size_t alpha)
    : target_(target), k_(k == 0 ? 1 : k), alpha_(alpha == 0 ? 1 : alpha) {
  for (const contact& c : seeds) add(c, 0);
}

void lookup::ignore(const node_id& id) {
  ignored_.push_back(id);
  auto it = candidates_.find(xor_distance(id, target_));
  if (it != candidates_.end() && it->second.s == state::fresh) candidates_.erase(it);
}

bool lookup::ignored(const node_id& id) const {
  return std::any_of(ignored_.begin(), ignored_.end(),
                     [&](const node_id& x) { return id_less::equal(x, id); });
}

void lookup::add(const contact& c, int depth) {
  if (ignored(c.id)) return;
  const node_id d = xor_distance(c.id, target_);
  auto it = candidates_.lower_bound(d);
  if (it == candidates_.end() || candidates_.key_comp()(d, it->first)) {
    candidates_.emplace_hint(it, d, candidate{c, depth, state::fresh});
  } else if (it->second.s == state::fresh) {
    // Learned again through a shorter chain before being queried: it could
    // be queried earlier, so it belongs to the earlier round.
    it->second.depth = std::min(it->second.depth, depth);
  }
}

std::vector<contact> lookup::next_queries() {
  std::vector<contact> out;
  out.reserve(alpha_);
  std::size_t seen = 0;
  for (auto& [d, cand] : candidates_) {
    if (in_flight_ >= alpha_ || seen >= k_) break;
    if (cand.s == state::failed) continue;
    ++seen;
    if (cand.s != state::fresh) continue;
    cand.s = state::in_flight;
    ++in_flight_;
    ++queries_;
    rounds_ = std::max(rounds_, cand.depth + 1);
    out.push_back(cand.c);
  }
  return out;
}

void lookup::on_response(const node_id& from, const std::vector<contact>& nodes) {
  auto it = candidates_.find(xor_distance(from, target_));
  int depth = 0;
  if (it == candidates_.end()) {
    // Unsolicited answer: harmless, but there is no contact to keep for it.
  } else {
    if (it->second.s == state::in_flight) --in_flight_;
    it->second.s = state::responded;
    depth = it->second.depth;
  }
  if (id_less::equal(from, target_)) found_ = true;
  for (const contact& c : nodes) {
    if (id_less::equal(c.id, target_)) found_ = true;
    add(c, depth + 1);
  }
}

void lookup::on_failure(const node_id& from) {
  auto it = candidates_.find(xor_distance(from, target_));
  if (it == candidates_.end() || it->second.s == state::responded) return;
  if (it->second.s == state::in_flight) --in_flight_;
  it->second.s = state::failed;
}

bool lookup::done() const {
  std::size_t seen = 0;
  for (const auto& [d, cand] : candidates_) {
    if (seen >= k_) break;
    if (cand.s == state::failed) continue;
    ++seen;
    if (cand.s != state::responded) return false;
  }
  return true;
}

std::vector<contact> lookup::result() const {
  std::vector<contact> out;
  for (const auto& [d, cand] : candidates_) {
    if (out.size() >= k_) break;
    if (cand.s == state::responded) out.push_back(cand.c);
  }
  return out;
}

}  // namespace hydra::membership
