#pragma once
/// What an admitted peer may do: the roles its membership certificate grants
/// (or an operator key's full authority), shared by the certificate code
/// (trust/cert.hpp) and the channel handshake (trust/channel.hpp).

#include <cstdint>
#include <string>

#include "common/node_id.hpp"
#include "wire/identity.hpp"

namespace hydra::trust {

/// Role bits of a membership certificate.
enum role : std::uint32_t {
  role_trainer = 1u << 0,
  role_collector = 1u << 1,
  role_scorer = 1u << 2,
  role_ledger = 1u << 3,
  role_admin = 1u << 4,
  role_contributor = 1u << 5,
};
inline constexpr std::uint32_t all_node_roles = role_trainer | role_collector | role_scorer | role_ledger;
inline constexpr std::uint32_t all_roles = all_node_roles | role_admin | role_contributor;

/// The peer a channel was opened with, as its credentials say.
struct peer_grant {
  wire::public_key pk{};
  node_id id{};                 ///< BLAKE2b-256(pk), as wire::id_of
  std::uint32_t roles = 0;      ///< role bits
  bool is_operator = false;     ///< pk is one of the cluster's operator keys (all roles)
  std::int64_t not_after = 0;   ///< unix seconds the certificate expires (operators: 0 = never)
  std::uint64_t serial = 0;     ///< certificate serial (0 for operators)
  std::string site;             ///< from the certificate ("" = none)

  bool has(std::uint32_t r) const { return is_operator || (roles & r) == r; }
};

}  // namespace hydra::trust
