#pragma once
/// One config file for `hydra node` (and `hydra train`): TOML whose sections
/// [node], [cluster], [train] and [sites] hold the node's options under their
/// long flag names (`cpu-limit = 50`, `gossip-interval = "250ms"`).
///
/// The schema is read off the CLI11 options at run time: an option's group
/// ("Node", "Cluster", "Training", "Sites") names its section, its type name
/// its TOML type, so a new flag gets its key with no extra work. Values go
/// through CLI11 (its range and member checks run), and only into options the
/// command line and the environment left unset: flags override the file.
/// See docs/config.md.

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/result.hpp"

namespace hydra::apps {

/// What a key's TOML value must be.
enum class config_kind {
  flag,        ///< a boolean (`standardize = false` for --no-standardize)
  integer,     ///< CLI11 type INT
  count,       ///< CLI11 type UINT: a non-negative integer
  number,      ///< CLI11 type FLOAT: an integer or a float
  duration,    ///< CLI11 type SECONDS: "250ms", "30s", "1h30m", or seconds
  text,        ///< CLI11 type TEXT: a string
  any,         ///< a custom type name ("HH:MM-HH:MM"): a string, number or boolean
  list,        ///< a repeatable option (--join): an array of strings, or one
};

/// One key: where it lives and the option it feeds (owned by its CLI::App).
struct config_key {
  std::string section;  ///< node, cluster, train or sites
  std::string name;     ///< the long flag name without "--"
  config_kind kind = config_kind::text;
  CLI::Option* option = nullptr;
  std::string path() const { return section + "." + name; }
};

using config_schema = std::vector<config_key>;

/// The sections every node config may have, in the order they are printed
/// ([sites] has no keys yet).
const std::vector<std::string>& config_sections();

/// config_sections(), then any other section a key of `schema` or `other`
/// is in (a group added later, like "Guest" -> [guest]).
std::vector<std::string> schema_sections(const config_schema& schema, const config_schema& other = {});

/// The keys of `hydra node` (`node` is its CLI::App): every option but
/// --help, in the section its group names: "Training" -> [train], any
/// other group in lower case ("Node" -> [node], "Cluster" -> [cluster],
/// "Sites" -> [sites]). Options left in CLI11's default group ("Options")
/// have no key (a unit test checks that there are none).
config_schema node_config_schema(CLI::App& node);

/// Every option of `cmd` (but --help) as a key of `section`: `hydra train`
/// reads its options from [train].
config_schema section_config_schema(CLI::App& cmd, const std::string& section);

/// Seconds in a duration: "250ms", "30s", "2m", "1h", "1h30m" (units ms, s,
/// m, h, largest first or not), or a plain number of seconds ("10", "0.5").
/// Negative, empty and unit-less compound values are invalid input.
result<double> parse_duration(std::string_view text);

/// One key set in a file, as the strings CLI11 would get from a command line.
struct config_setting {
  const config_key* key = nullptr;  ///< into the schema passed to read_config
  std::vector<std::string> values;
  int line = 0;
  bool other_command = false;  ///< a key of the other command: checked, not applied
};

/// A file that parsed and whose every key is known and of the right type.
struct config_file {
  std::string path;
  std::vector<config_setting> settings;  ///< in file order
};

/// Parses TOML `text` (called `path` in messages) and checks every key
/// against `schema`. Keys only `other` has (`hydra train`'s momentum for a
/// node, a node's [cluster] for `hydra train`) are type-checked and kept with
/// `other_command` set. Every problem is one line "PATH:LINE: section.key:
/// what" (unknown section or key, key outside a section, wrong type, bad
/// duration). Both schemas must outlive the result.
result<config_file> read_config(std::string_view text, const std::string& path, const config_schema& schema,
                                const config_schema& other = {});

/// read_config of the file at `path` (not_found / io if it cannot be read).
result<config_file> load_config(const std::string& path, const config_schema& schema,
                                const config_schema& other = {});

/// Feeds each setting (but other_command ones) to its option through CLI11,
/// unless the command line set that option or its environment variable is
/// set. Returns the keys it applied; the first rejected value is an error
/// "PATH:LINE: section.key: CLI11's message" (and nothing after it applied).
result<std::vector<const config_key*>> apply_config(const config_file& file);

/// The error a bad config file ends a parse with (exit code 1; main prints
/// just the message).
class config_error : public CLI::ParseError {
 public:
  explicit config_error(std::string msg) : CLI::ParseError("ConfigError", std::move(msg), 1) {}
};

/// `--config FILE` on `app`, also accepted after `node` or `train` (they fall
/// through to `app`): reads FILE into `hydra node` (node_config_schema) or
/// `hydra train` ([train] keys it has; other valid node keys are ignored).
/// For any other subcommand the file is only checked. Replaces CLI11's own
/// config reader, which maps [train] to `hydra train` and [node] to `hydra
/// node` and knows neither [cluster] nor durations.
void add_config_option(CLI::App& app, CLI::App* node);

/// `hydra config check FILE [--json]`: checks FILE as `hydra node --config
/// FILE` would and prints every resolved setting (section.key = value, with
/// its source); exit 1 with the error otherwise.
CLI::App* add_config_command(CLI::App& app, CLI::App* node, int& exit_code);

}  // namespace hydra::apps
