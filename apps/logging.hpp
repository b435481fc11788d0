#pragma once
/// How `hydra node` logs: level, text or JSON lines (one event per line,
/// each with the node id), stderr or a rotating file.

#include <string>

#include <CLI/CLI.hpp>

namespace hydra::apps {

struct log_options {
  std::string level = "info";   ///< trace, debug, info, warn, error, critical, off
  std::string format = "text";  ///< text or json
  std::string file;             ///< "" = stderr; else a rotating file (10 MiB x 5)
};

/// Adds --log-level, --log-format and --log-file to `cmd` (in `group`).
void add_log_options(CLI::App& cmd, log_options& o, const std::string& group);

/// Makes the default spdlog logger follow `o`; `node` (a short id, may be
/// empty until the identity is loaded) goes on every line. Call again once
/// the id is known. Returns an error message, or "" on success.
std::string setup_logging(const log_options& o, const std::string& node);

}  // namespace hydra::apps
