#include "ledger/chain.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <tuple>

namespace hydra::ledger {
namespace {

error reject(const std::string& reason, const entry& e, const std::string& detail) {
  return make_error(errc::invalid_input,
                    reason + ": author " + author_short(e) + " seq " + std::to_string(e.seq) + ": " + detail);
}

/// The signed change an entry makes to its subject's balance.
std::uint64_t balance_delta(const entry& e) {
  const auto a = static_cast<std::uint64_t>(e.amount);
  switch (e.k) {
    case kind::compute_credit:
    case kind::reward: return a;
    case kind::penalty: return ~a + 1;  // -amount, wrapping
    case kind::contribution:
    case kind::score:
    case kind::admission:
    case kind::revocation: return 0;
  }
  return 0;
}

std::string holder(const public_key& author) { return "author " + to_hex(std::span(author.data(), 8)); }

/// What trainers attest together: the same credit for the same steps.
using credit_key = std::tuple<std::string, std::int64_t, std::int64_t, std::int64_t>;

/// (subject, amount, from_step, to_step) of a compute credit; nullopt when
/// the payload lacks integer from_step and to_step.
std::optional<credit_key> credit_of(const entry& e) {
  const auto j = nlohmann::json::parse(e.payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto from = j.find("from_step"), to = j.find("to_step");
  if (from == j.end() || to == j.end() || !from->is_number_integer() || !to->is_number_integer())
    return std::nullopt;
  return credit_key{e.subject, e.amount, from->get<std::int64_t>(), to->get<std::int64_t>()};
}

struct credit_group {
  std::set<public_key> trainers;
  std::vector<const entry*> entries;
  std::vector<digest256> hashes;
};

}  // namespace

std::uint64_t ledger_state::next_seq(const public_key& author) const {
  const auto it = chains_.find(author);
  return it == chains_.end() ? 0 : it->second.hashes.size();
}

digest256 ledger_state::last_hash(const public_key& author) const {
  const auto it = chains_.find(author);
  return it == chains_.end() || it->second.hashes.empty() ? digest256{} : it->second.hashes.back();
}

status ledger_state::append(const entry& e) {
  if (auto s = verify_signature(e); !s) return s;
  const digest256 h = entry_hash(e);
  if (by_hash_.count(h)) return reject("duplicate", e, "entry " + to_hex(h).substr(0, 16) + " already present");
  const std::uint64_t next = next_seq(e.author);
  if (e.seq < next) return reject("replayed", e, "seq already used; author's next seq is " + std::to_string(next));
  if (e.seq > next)
    return reject("gap", e, "author's next seq is " + std::to_string(next) + " (reordered or missing entries)");
  if (e.prev != last_hash(e.author))
    return reject("altered chain", e, "prev does not match the hash of the author's previous entry");
  auto& c = chains_[e.author];
  c.index.push_back(entries_.size());
  c.hashes.push_back(h);
  by_hash_.emplace(h, entries_.size());
  if (book_.enabled()) {
    book_.observe(e, h);  // an admission's certificate is checked here, once
    dirty_ = true;
  } else if (e.k == kind::compute_credit || e.k == kind::reward || e.k == kind::penalty) {
    balances_[e.subject] += balance_delta(e);
  }
  entries_.push_back(e);
  return {};
}

/// The role rules of chain.hpp over every stored entry. Walks chains by
/// (author, seq), so the refusals come out in that order whatever the order
/// of arrival; sums are wrapping, hence order-free too.
void ledger_state::judge() const {
  if (!dirty_) return;
  dirty_ = false;
  judged_ = {};
  auto refuse = [&](const entry& e, const digest256& h, std::string why) {
    judged_.refused.push_back({h, e.author, e.seq, e.k, std::move(why)});
  };
  std::map<credit_key, credit_group> credits;
  for (const auto& [author, c] : chains_) {
    const std::uint32_t roles = book_.roles(author);
    for (std::size_t s = 0; s < c.index.size(); ++s) {
      const entry& e = entries_[c.index[s]];
      const digest256& h = c.hashes[s];
      if (auto why = book_.revoked(author, e.seq)) {
        refuse(e, h, std::move(*why));
        continue;
      }
      switch (e.k) {
        case kind::reward:
        case kind::penalty:
          if (roles & (role_collector | role_ledger))
            judged_.sums[e.subject] += balance_delta(e);
          else
            refuse(e, h, holder(author) + " holds no collector or ledger role");
          break;
        case kind::compute_credit: {
          if (!(roles & role_trainer)) {
            refuse(e, h, holder(author) + " holds no trainer role");
            break;
          }
          auto key = credit_of(e);
          if (!key) {
            refuse(e, h, "compute credit payload lacks integer from_step and to_step");
            break;
          }
          auto& g = credits[*key];
          g.trainers.insert(author);
          g.entries.push_back(&e);
          g.hashes.push_back(h);
          break;
        }
        case kind::score:
          if (!(roles & (role_scorer | role_trainer))) refuse(e, h, holder(author) + " holds no scorer or trainer role");
          break;
        case kind::admission:
        case kind::revocation:
          if (auto why = book_.refusal_of(h)) refuse(e, h, std::move(*why));
          break;
        case kind::contribution: break;
      }
    }
  }
  for (const auto& [key, g] : credits) {
    if (g.trainers.size() >= 2) {
      judged_.sums[std::get<0>(key)] += static_cast<std::uint64_t>(std::get<1>(key));
      continue;
    }
    for (std::size_t i = 0; i < g.entries.size(); ++i)
      refuse(*g.entries[i], g.hashes[i], "compute credit attested by 1 trainer (need 2)");
  }
  std::sort(judged_.refused.begin(), judged_.refused.end(), [](const refusal& a, const refusal& b) {
    return std::tie(a.author, a.seq) < std::tie(b.author, b.seq);
  });
}

std::map<std::string, std::int64_t> ledger_state::balances() const {
  if (book_.enabled()) judge();
  const auto& sums = book_.enabled() ? judged_.sums : balances_;
  std::map<std::string, std::int64_t> out;
  for (const auto& [subject, sum] : sums) out.emplace(subject, static_cast<std::int64_t>(sum));
  return out;
}

const std::vector<refusal>& ledger_state::refused() const {
  judge();
  return judged_.refused;
}

heads_map ledger_state::heads() const {
  heads_map out;
  for (const auto& [author, c] : chains_)
    if (!c.hashes.empty()) out.emplace(author, head{c.hashes.size() - 1, c.hashes.back()});
  return out;
}

std::vector<entry> ledger_state::missing_from(const heads_map& theirs) const {
  std::vector<entry> out;
  for (const auto& [author, c] : chains_) {
    const auto it = theirs.find(author);
    const std::size_t from = it == theirs.end() ? 0 : static_cast<std::size_t>(it->second.seq) + 1;
    for (std::size_t s = from; s < c.index.size(); ++s) out.push_back(entries_[c.index[s]]);
  }
  return out;
}

result<ledger_state> fold(const std::vector<entry>& entries, const authority* auth) {
  ledger_state st(auth);
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (auto s = st.append(entries[i]); !s)
      return make_error(s.err().code, "entry " + std::to_string(i) + ": " + s.err().message);
  return st;
}

}  // namespace hydra::ledger
