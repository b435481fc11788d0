#pragma once
/// The roles of ledger authors, as the stored `admission` and `revocation`
/// entries and an `authority` say. Pure: no I/O. The result is a fold over
/// the set of observed entries: it does not depend on their order.
///
/// Rules (docs/ledger.md has the whole table):
///   - An operator key (authority::is_operator) holds every role and is never
///     revoked (operators leave a cluster through its cluster file).
///   - Anyone else holds the union of the roles of its admission entries that
///     count. An admission counts when its subject is the author's own key
///     (64 hex digits, either case), its payload is {"cert": "<hex>"} and
///     authority::cert_roles(author, cert) accepts the certificate. Roles
///     apply to all the author's entries, before and after the admission (a
///     chain has no clock; the certificate vouches for the key).
///   - A revocation counts when its author is an operator, its subject is a
///     non-operator key (64 hex digits) and its payload is {"after_seq": N}
///     with N >= -1, {"all": true}, or names neither (trust::revocation_payload
///     writes {} or {"at": T}: every entry). A payload naming only a
///     certificate "serial" is refused: the ledger revokes keys, not serials.
///   - A revoked author's cutoff is the smallest N among the revocations of it
///     that count (-1 for "all"); its entries with seq > N do not count, its
///     admissions included.
///
/// Each admission's certificate is checked once, when it is observed; the
/// answer is cached by entry hash. Not thread-safe (const calls refresh a
/// cache).

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/hash.hpp"
#include "ledger/authority.hpp"
#include "ledger/entry.hpp"

namespace hydra::ledger {

class role_book {
 public:
  /// `auth` must outlive the book; nullptr makes a book in which nobody holds
  /// a role (callers check `enabled()` and skip role rules then).
  explicit role_book(const authority* auth = nullptr) : auth_(auth) {}

  /// Records `e` (whose entry_hash is `hash`) when it is an admission or a
  /// revocation; other kinds are ignored, and so is a hash seen before.
  void observe(const entry& e, const digest256& hash);
  void observe(const entry& e) { observe(e, entry_hash(e)); }

  bool enabled() const { return auth_ != nullptr; }
  const authority* source() const { return auth_; }

  /// The author's role bits (all_roles for an operator, 0 for a stranger).
  std::uint32_t roles(const public_key& author) const;
  /// Whether `author` holds at least one of the bits of `any_of`.
  bool holds_any(const public_key& author, std::uint32_t any_of) const { return (roles(author) & any_of) != 0; }

  /// nullopt when no counting revocation cuts the author's entry `seq`; else
  /// the reason, "author 1a2b3c4d5e6f7a8b revoked after seq 12" (or "revoked
  /// (all entries)").
  std::optional<std::string> revoked(const public_key& author, std::uint64_t seq) const;

  /// For an observed admission or revocation: why the entry itself does not
  /// count (its revocation cut aside, see `revoked`); nullopt when it counts
  /// or was not observed.
  std::optional<std::string> refusal_of(const digest256& hash) const;

  /// Revoked keys -> the seq after which their entries stop counting (-1: all).
  const std::map<public_key, std::int64_t>& cutoffs() const;

 private:
  struct admission_rec {
    public_key author{};
    std::uint64_t seq = 0;
    std::uint32_t roles = 0;
    std::string problem;  ///< empty: the certificate was accepted
  };
  struct revocation_rec {
    public_key subject{};
    std::int64_t after_seq = -1;
    std::string problem;  ///< empty: the revocation counts
  };
  admission_rec check_admission(const entry& e) const;
  revocation_rec check_revocation(const entry& e) const;
  void refresh() const;

  const authority* auth_;
  std::map<digest256, admission_rec> admissions_;
  std::map<digest256, revocation_rec> revocations_;
  mutable bool dirty_ = false;
  mutable std::map<public_key, std::int64_t> cut_;
  mutable std::map<public_key, std::uint32_t> roles_;
};

}  // namespace hydra::ledger
