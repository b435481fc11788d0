#include "ledger/chain.hpp"

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
    case kind::score: return 0;
  }
  return 0;
}

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
  if (e.k == kind::compute_credit || e.k == kind::reward || e.k == kind::penalty)
    balances_[e.subject] += balance_delta(e);
  entries_.push_back(e);
  return {};
}

std::map<std::string, std::int64_t> ledger_state::balances() const {
  std::map<std::string, std::int64_t> out;
  for (const auto& [subject, sum] : balances_) out.emplace(subject, static_cast<std::int64_t>(sum));
  return out;
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

result<ledger_state> fold(const std::vector<entry>& entries) {
  ledger_state st;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (auto s = st.append(entries[i]); !s)
      return make_error(s.err().code, "entry " + std::to_string(i) + ": " + s.err().message);
  return st;
}

}  // namespace hydra::ledger
