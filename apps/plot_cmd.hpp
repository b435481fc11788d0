#pragma once
/// `hydra plot STATE_DIR... --out FILE.svg|.png [--title T]`: training
/// curves (loss, test accuracy, round time against samples and wall time)
/// from nodes' train.log / rounds.log / result.json, one line per node.

#include <CLI/CLI.hpp>

namespace hydra::apps {

/// Registers the `plot` subcommand; sets `exit_code` when it runs.
void add_plot_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
