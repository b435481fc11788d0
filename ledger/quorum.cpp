#include "ledger/quorum.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

namespace hydra::ledger {
namespace {

struct weighted {
  double score;
  double weight;
  public_key scorer;
};

/// Weighted median of `v` (sorted by score): the first score where the
/// cumulative weight passes half the total; the midpoint of it and the next
/// score when the cumulative weight lands on exactly half. Zero weights do not
/// take part; all-zero weights count as equal.
double weighted_median(const std::vector<weighted>& v) {
  double total = 0;
  for (const auto& w : v) total += w.weight;
  const bool equal = !(total > 0);
  if (equal) total = static_cast<double>(v.size());
  const double half = total / 2;
  const double eps = 1e-12 * total;
  double cum = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double w = equal ? 1.0 : v[i].weight;
    if (!(w > 0)) continue;
    cum += w;
    if (cum - half > eps) return v[i].score;
    if (cum - half >= -eps) {
      for (std::size_t j = i + 1; j < v.size(); ++j)
        if (equal || v[j].weight > 0) return (v[i].score + v[j].score) / 2;
      return v[i].score;
    }
  }
  return v.empty() ? 0.0 : v.back().score;
}

std::optional<public_key> parse_key(const nlohmann::json& j) {
  if (!j.is_string()) return std::nullopt;
  const auto& s = j.get_ref<const std::string&>();
  if (s.size() != 64) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  public_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) {
    const int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    k[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return k;
}

/// The distinct keys of a JSON array of hex keys; nullopt if any is malformed.
std::optional<std::set<public_key>> parse_keys(const nlohmann::json& obj, const char* field) {
  const auto it = obj.find(field);
  if (it == obj.end() || !it->is_array()) return std::nullopt;
  std::set<public_key> out;
  for (const auto& j : *it) {
    auto k = parse_key(j);
    if (!k) return std::nullopt;
    out.insert(*k);
  }
  return out;
}

double trust_of(std::size_t agreed, std::size_t outvoted) {
  const double a = static_cast<double>(agreed), o = static_cast<double>(outvoted);
  return (1 + a) / (1 + a + 4 * o);
}

nlohmann::json hex_list(const std::vector<public_key>& keys) {
  auto out = nlohmann::json::array();
  for (const auto& k : keys) out.push_back(to_hex(k));
  return out;
}

}  // namespace

quorum_outcome decide(const std::vector<vote>& votes, const std::map<public_key, double>& trust,
                      const quorum_rule& rule) {
  // Distinct scorers, first vote each, finite scores only.
  std::vector<weighted> v;
  std::set<public_key> seen;
  for (const vote& x : votes) {
    if (!std::isfinite(x.score) || !seen.insert(x.scorer).second) continue;
    const auto it = trust.find(x.scorer);
    double w = it == trust.end() ? 1.0 : it->second;
    if (!(w > 0) || !std::isfinite(w)) w = 0;  // NaN, negative, inf -> 0
    v.push_back({x.score, w, x.scorer});
  }
  quorum_outcome out;
  if (v.size() < rule.min_votes || v.empty()) return out;

  // A canonical order, so every sum and the median are order-independent.
  std::sort(v.begin(), v.end(), [](const weighted& a, const weighted& b) {
    return a.score != b.score ? a.score < b.score : a.scorer < b.scorer;
  });
  double total = 0;
  for (const auto& w : v) total += w.weight;
  const bool equal = !(total > 0);
  if (equal) {
    for (auto& w : v) w.weight = 1;
    total = static_cast<double>(v.size());
  }

  const double m = weighted_median(v);
  std::vector<weighted> agree;
  double agree_weight = 0;
  for (const auto& w : v) {
    if (std::fabs(w.score - m) <= rule.tolerance) {
      agree.push_back(w);
      agree_weight += w.weight;
      out.agreeing.push_back(w.scorer);
    } else {
      out.outvoted.push_back(w.scorer);
    }
  }
  std::sort(out.agreeing.begin(), out.agreeing.end());
  std::sort(out.outvoted.begin(), out.outvoted.end());
  out.score = agree.empty() ? m : weighted_median(agree);

  if (agree.size() >= rule.min_votes && agree_weight - total / 2 > 1e-12 * total) {
    out.st = quorum_outcome::state::decided;
    out.accepted = out.score >= rule.accept;
  } else {
    out.st = v.size() >= rule.max_votes ? quorum_outcome::state::failed : quorum_outcome::state::need_more;
  }
  return out;
}

void trust_table::observe(const entry& e) {
  if (e.k == kind::admission || e.k == kind::revocation) {
    book_.observe(e);
    dirty_ = true;
    return;
  }
  if (e.k != kind::reward && e.k != kind::penalty && e.k != kind::score) return;
  const digest256 h = entry_hash(e);
  if (seen_.count(h)) return;
  if (e.k == kind::score) {
    seen_.insert(h);
    scores_[e.subject][e.author].push_back({h, e.seq, static_cast<double>(e.amount) / 1000.0});
    dirty_ = true;
    return;
  }
  const auto j = nlohmann::json::parse(e.payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return;
  if (!j.contains("contribution") || !j["contribution"].is_string() || !j.contains("score") ||
      !j["score"].is_number())
    return;
  const double stated = j["score"].get<double>();
  if (!std::isfinite(stated)) return;
  const auto agreeing = parse_keys(j, "agreeing");
  const auto outvoted = parse_keys(j, "outvoted");
  if (!agreeing || !outvoted) return;
  for (const auto& k : *agreeing)
    if (outvoted->count(k)) return;
  seen_.insert(h);
  outcome_record rec{h, e.author, e.seq, stated, *agreeing};
  rec.listed.insert(outvoted->begin(), outvoted->end());
  outcomes_[j["contribution"].get<std::string>()].push_back(std::move(rec));
  dirty_ = true;
}

bool trust_table::counted(const public_key& author, std::uint64_t seq, std::uint32_t any_role) const {
  if (!book_.enabled()) return true;
  return !book_.revoked(author, seq) && book_.holds_any(author, any_role);
}

void trust_table::refresh() const {
  if (!dirty_) return;
  dirty_ = false;
  counts_.clear();
  trust_.clear();
  for (const auto& [id, recs] : outcomes_) {
    const outcome_record* rec = nullptr;
    for (const auto& r : recs)
      if ((!rec || r.hash < rec->hash) && counted(r.author, r.seq, role_collector | role_ledger)) rec = &r;
    const auto sc = scores_.find(id);
    if (!rec || sc == scores_.end()) continue;
    std::vector<std::pair<public_key, double>> evidence;
    for (const auto& k : rec->listed) {
      const auto s = sc->second.find(k);
      if (s == sc->second.end()) continue;
      const score_record* best = nullptr;
      for (const auto& r : s->second)
        if ((!best || r.hash < best->hash) && counted(k, r.seq, role_scorer | role_trainer)) best = &r;
      if (best) evidence.emplace_back(k, best->score);
    }
    if (evidence.empty()) continue;
    double lo = evidence[0].second, hi = lo;
    for (const auto& [k, v] : evidence) lo = std::min(lo, v), hi = std::max(hi, v);
    if (rec->score < lo - 1e-9 || rec->score > hi + 1e-9) continue;  // no median of these votes
    for (const auto& [k, v] : evidence) {
      if (std::fabs(v - rec->score) <= tolerance_ + 1e-9)
        ++counts_[k].agreed;
      else
        ++counts_[k].outvoted;
    }
  }
  for (const auto& [k, c] : counts_) trust_[k] = trust_of(c.agreed, c.outvoted);
}

const std::map<public_key, double>& trust_table::all() const {
  refresh();
  return trust_;
}

double trust_table::trust(const public_key& k) const {
  refresh();
  const auto it = trust_.find(k);
  return it == trust_.end() ? 1.0 : it->second;
}

std::size_t trust_table::agreed(const public_key& k) const {
  refresh();
  const auto it = counts_.find(k);
  return it == counts_.end() ? 0 : it->second.agreed;
}

std::size_t trust_table::outvoted(const public_key& k) const {
  refresh();
  const auto it = counts_.find(k);
  return it == counts_.end() ? 0 : it->second.outvoted;
}

std::string outcome_payload(const std::string& contribution_id, const quorum_outcome& o, const std::string& extra) {
  nlohmann::json j = nlohmann::json::object();
  if (!extra.empty()) {
    j = nlohmann::json::parse(extra, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      throw std::invalid_argument("outcome_payload: extra is not a JSON object: " + extra.substr(0, 80));
  }
  j["contribution"] = contribution_id;
  j["score"] = o.score;
  j["agreeing"] = hex_list(o.agreeing);
  j["outvoted"] = hex_list(o.outvoted);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hydra::ledger
