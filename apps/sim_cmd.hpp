#pragma once
/// `hydra sim`: runs the placement simulator (placement/sim.hpp) over a
/// generated cluster or a trace file and compares policies against ideal.

#include <CLI/CLI.hpp>

namespace hydra::apps {

CLI::App* add_sim_command(CLI::App& app, int& exit_code);

}  // namespace hydra::apps
