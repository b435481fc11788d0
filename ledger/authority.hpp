#pragma once
/// Who may write what: the seam through which cluster membership reaches the
/// ledger. The ledger stays pure and independent of the trust module: it sees
/// only this interface, and the role bits below.
///
/// With an authority, an entry counts (for balances, the quorum and scorer
/// trust) only when its author held the right role; see docs/ledger.md and
/// ledger/roles.hpp for the rules. Entries that are stored but do not count
/// are reported as `refusal`s, never dropped from the chain: every replica
/// stores the same entries and reaches the same verdicts.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/hash.hpp"
#include "ledger/entry.hpp"

namespace hydra::ledger {

// Role bits. They mirror trust/grant.hpp (trust::role_*) value for value; the
// ledger does not include trust headers, so a change there must be made here
// too.
inline constexpr std::uint32_t role_trainer = 1u << 0;
inline constexpr std::uint32_t role_collector = 1u << 1;
inline constexpr std::uint32_t role_scorer = 1u << 2;
inline constexpr std::uint32_t role_ledger = 1u << 3;
inline constexpr std::uint32_t role_admin = 1u << 4;
inline constexpr std::uint32_t role_contributor = 1u << 5;
/// Every role: what an operator key holds.
inline constexpr std::uint32_t all_roles =
    role_trainer | role_collector | role_scorer | role_ledger | role_admin | role_contributor;

/// "trainer,collector"; "none" for 0; unknown bits as "0x..".
std::string role_names(std::uint32_t roles);

/// The cluster's view of keys, as the ledger needs it. Implementations must
/// be deterministic (the same answer on every replica and every call) and
/// must outlive every ledger_state / trust_table that holds a pointer to
/// them. The ledger calls `cert_roles` once per stored admission entry and
/// caches the answer.
struct authority {
  virtual ~authority() = default;
  /// True iff `pk` is one of the cluster's operator keys (all roles).
  virtual bool is_operator(const public_key& pk) const = 0;
  /// Role bits a certificate (raw bytes) grants to `author` in this cluster,
  /// ignoring its expiry and revocation (nullopt when the bytes are not a
  /// valid certificate of this cluster for that key).
  virtual std::optional<std::uint32_t> cert_roles(const public_key& author,
                                                  std::span<const std::uint8_t> cert) const = 0;
};

/// A stored entry that does not count, and why.
struct refusal {
  digest256 hash{};  ///< entry_hash of the entry
  public_key author{};
  std::uint64_t seq = 0;
  kind k = kind::contribution;
  std::string reason;  ///< e.g. "author 1a2b3c4d5e6f7a8b holds no collector or ledger role"
  bool operator==(const refusal&) const = default;
};

}  // namespace hydra::ledger
