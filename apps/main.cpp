// The one `hydra` binary: parse, configure, dispatch to a subcommand.

#include <CLI/CLI.hpp>

#include "apps/config.hpp"
#include "apps/export_cmd.hpp"
#include "apps/ledger_cmd.hpp"
#include "apps/node_cmd.hpp"
#include "apps/operator_cmd.hpp"
#include "apps/plot_cmd.hpp"
#include "apps/sim_cmd.hpp"
#include "apps/train.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Hydra: peer-to-peer distributed training and data collection"};
  app.set_version_flag("--version", "hydra 0.1.0");
  app.require_subcommand(1);
  int exit_code = 0;
  hydra::apps::train_options train;
  hydra::apps::add_train_command(app, train, exit_code);
  auto* node_cmd = hydra::apps::add_node_command(app, exit_code);
  hydra::apps::add_config_option(app, node_cmd);  // --config FILE: docs/config.md
  hydra::apps::add_config_command(app, node_cmd, exit_code);
  hydra::apps::add_ctl_command(app, exit_code);
  hydra::apps::add_demo_command(app, exit_code);
  hydra::apps::add_contribute_command(app, exit_code);
  hydra::apps::add_ledger_command(app, exit_code);
  hydra::apps::add_sim_command(app, exit_code);
  hydra::apps::add_operator_command(app, exit_code);
  hydra::apps::add_export_command(app, exit_code);
  hydra::apps::add_plot_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
