#pragma once
/// `hydra node`, `hydra ctl` and `hydra demo`: run a peer, ask a peer, run a
/// local cluster of peers.

#include <CLI/CLI.hpp>

namespace hydra::apps {

CLI::App* add_node_command(CLI::App& app, int& exit_code);
CLI::App* add_ctl_command(CLI::App& app, int& exit_code);
CLI::App* add_demo_command(CLI::App& app, int& exit_code);
/// `hydra contribute`: submit samples to a collector (apps/contribute_cmd.cpp).
CLI::App* add_contribute_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
