#pragma once
/// `hydra operator`: the cluster identity and its membership certificates
/// (trust/cert.hpp), from an operator's folder OPDIR (operator.key, cluster.pub,
/// revoked).
///   operator init --dir OPDIR [--name NAME]         new cluster, this key its operator
///   operator add-operator --dir OPDIR (--key F | --pub HEX)   another operator key
///   operator admit --dir OPDIR (--node STATE | --key KEYFILE) [--roles R] [--days N]
///                  [--not-after UNIX] [--site NAME]   sign a membership certificate
///   operator revoke --dir OPDIR (--node STATE | --pub HEX | --key KEYFILE)
///   operator show FILE [--cluster PATH]              a cluster.pub or certificate as JSON
/// Exit status: 0 done, 2 bad input (flags, role names, malformed files), 1 otherwise.

#include <CLI/CLI.hpp>

namespace hydra::apps {

CLI::App* add_operator_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
