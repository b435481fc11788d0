#pragma once
/// `hydra ledger`: inspect and extend a node's ledger log (DIR/ledger.log).
///   ledger verify --state DIR [--cluster FILE]
///                                        check every record, signature and chain;
///                                        list entries the role rules refuse
///                                        (FILE default DIR/cluster.pub)
///   ledger balances --state DIR [--json] [--cluster FILE]
///                                        credits per subject (with FILE: by
///                                        the role rules of docs/ledger.md)
///   ledger show --state DIR ID           one entry (ID = hash hex prefix) as JSON
///   ledger append-test --state DIR --kind K --subject S --amount A [--payload J]
///                                        append an entry signed by DIR's identity

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <span>

#include "ledger/authority.hpp"
#include "trust/cert.hpp"

namespace hydra::apps {

/// The ledger's authority for a real cluster (ledger/authority.hpp): the
/// operators of `c`, and the roles of its membership certificates
/// (trust::decode_cert: structure and issuer signature; plus this cluster's
/// id, the author as subject, an operator as issuer, known roles). Expiry and
/// revocation lists are not consulted: the ledger applies revocation entries
/// itself. Immutable, so safe to share between threads.
class cluster_authority final : public ledger::authority {
 public:
  explicit cluster_authority(trust::cluster c) : cluster_(std::move(c)) {}
  bool is_operator(const wire::public_key& pk) const override;
  std::optional<std::uint32_t> cert_roles(const wire::public_key& author,
                                          std::span<const std::uint8_t> cert) const override;

 private:
  trust::cluster cluster_;
};

CLI::App* add_ledger_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
