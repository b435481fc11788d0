#pragma once
/// `hydra ledger`: inspect and extend a node's ledger log (DIR/ledger.log).
///   ledger verify --state DIR            check every record, signature and chain
///   ledger balances --state DIR [--json] credits per subject
///   ledger show --state DIR ID           one entry (ID = hash hex prefix) as JSON
///   ledger append-test --state DIR --kind K --subject S --amount A [--payload J]
///                                        append an entry signed by DIR's identity

#include <CLI/CLI.hpp>

namespace hydra::apps {

CLI::App* add_ledger_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
