#pragma once
/// The ledger as a pure fold over entries: per-author hash chains, balances
/// and the anti-entropy diff between replicas. No I/O.
///
/// Each author's entries form a chain: seq 0, 1, 2, ... and each entry's
/// `prev` is the hash of the author's previous entry (zeros for seq 0).
/// Chains of different authors are independent, so any interleaving that
/// keeps each author's order gives the same state.
///
/// Balance rule (deterministic, order-independent): for each accepted entry,
///   compute_credit, reward: balance[subject] += amount
///   penalty:                balance[subject] -= amount
///   contribution, score:    no change (a score only moves credits once some
///                           author turns it into a reward entry)
/// Sums wrap modulo 2^64 instead of overflowing, so they never depend on the
/// order of addition.
///
/// With an `authority` (production always passes one; nullptr keeps the rule
/// above, for old tests and tools), an entry moves credits only when its
/// author held the right role (roles from ledger/roles.hpp):
///   reward, penalty   author holds collector or ledger
///   compute_credit    attested by >= 2 distinct trainers with the same
///                     (subject, amount, payload from_step, to_step); the
///                     group counts once. A solo trainer earns no credit: the
///                     trainer group writes the same credits on every member.
///   any entry         not cut by a revocation (seq <= the author's cutoff)
/// Every stored entry that does not count is listed by `refused()`, with the
/// reason; score entries from authors without the scorer or trainer role, and
/// admissions and revocations that do not count, are listed too. The result
/// depends only on the set of stored entries, not their order.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ledger/authority.hpp"
#include "ledger/entry.hpp"
#include "ledger/roles.hpp"

namespace hydra::ledger {

/// Where an author's chain ends: its last seq and that entry's hash.
struct head {
  std::uint64_t seq = 0;
  digest256 hash{};
  bool operator==(const head&) const = default;
};

using heads_map = std::map<public_key, head>;

class ledger_state {
 public:
  /// `auth` (may be null: no role rules) must outlive the state and its
  /// copies. Not thread-safe: with an authority, const calls refresh a cache.
  explicit ledger_state(const authority* auth = nullptr) : book_(auth) {}

  /// Accepts `e` or rejects it with errc::invalid_input and a message that
  /// starts with the reason:
  ///   "forged"        signature does not verify (altered bytes or wrong key)
  ///   "duplicate"     an entry with the same hash is already present
  ///   "replayed"      seq below the author's next seq (an old seq, new bytes)
  ///   "gap"           seq above the author's next seq (reordered or missing)
  ///   "altered chain" prev is not the hash of the author's previous entry
  status append(const entry& e);

  /// Subject -> credits under the balance rule above. With an authority the
  /// fold runs lazily, once per change to the stored set (no certificate is
  /// checked again: the role book caches them).
  std::map<std::string, std::int64_t> balances() const;

  /// Stored entries that do not count, sorted by (author, seq); empty
  /// without an authority.
  const std::vector<refusal>& refused() const;

  /// The roles of authors (admissions, revocations, operators). Without an
  /// authority nobody holds a role.
  const role_book& roles() const { return book_; }
  const authority* source() const { return book_.source(); }

  /// Author -> (last seq, hash of that entry).
  heads_map heads() const;

  /// Entries a replica whose heads are `theirs` lacks, in an order it can
  /// append (per author by seq; authors by key). An author whose head seq in
  /// `theirs` is ahead of ours contributes nothing.
  std::vector<entry> missing_from(const heads_map& theirs) const;

  /// The author's next expected seq (0 for an unknown author).
  std::uint64_t next_seq(const public_key& author) const;
  /// Hash of the author's last entry; zeros for an unknown author.
  digest256 last_hash(const public_key& author) const;

  /// All accepted entries in acceptance order.
  const std::vector<entry>& entries() const { return entries_; }
  std::size_t author_count() const { return chains_.size(); }
  bool contains(const digest256& hash) const { return by_hash_.count(hash) != 0; }

 private:
  struct chain {
    std::vector<std::size_t> index;  ///< positions in entries_, by seq
    std::vector<digest256> hashes;   ///< entry hashes, by seq
  };

  std::vector<entry> entries_;
  std::map<public_key, chain> chains_;
  std::map<digest256, std::size_t> by_hash_;
  std::map<std::string, std::uint64_t> balances_;  ///< wrapping sums (no authority)

  struct judged {
    std::map<std::string, std::uint64_t> sums;  ///< wrapping sums
    std::vector<refusal> refused;
  };
  void judge() const;

  role_book book_;
  mutable bool dirty_ = false;
  mutable judged judged_;
};

/// Builds a state from `entries` in order; the first rejection is returned
/// with its index prefixed ("entry 3: gap: ...").
result<ledger_state> fold(const std::vector<entry>& entries, const authority* auth = nullptr);

}  // namespace hydra::ledger
