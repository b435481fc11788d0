#include "apps/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

namespace hydra::apps {
namespace {

/// CLI11 option group -> TOML section: "Training" -> train, else the group's
/// name in lower case ("Node" -> node, a new "Guest" -> guest). CLI11's
/// default group ("Options") and hidden options ("") have none.
std::string section_of_group(const std::string& group) {
  if (group == "Training") return "train";
  if (group.empty() || group == "Options") return "";
  std::string s;
  for (char c : group) s += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  return s;
}

/// The kind of value an option takes, from its CLI11 type name and counts.
config_kind kind_of(const CLI::Option& op) {
  if (op.get_expected_max() == 0) return config_kind::flag;
  if (op.get_items_expected_max() > 1) return config_kind::list;
  std::string type = op.get_type_name();
  type = type.substr(0, type.find(':'));  // "FLOAT:FLOAT in [1 - 100]": drop the checks
  if (type == "INT") return config_kind::integer;
  if (type == "UINT") return config_kind::count;
  if (type == "FLOAT") return config_kind::number;
  if (type == "SECONDS") return config_kind::duration;
  if (type == "TEXT") return config_kind::text;
  return config_kind::any;  // a custom type name ("PCT", "HH:MM-HH:MM"): CLI11 converts
}

bool is_help(CLI::App& cmd, const CLI::Option* op) {
  return op == cmd.get_help_ptr() || op == cmd.get_help_all_ptr() || op == cmd.get_config_ptr();
}

config_key make_key(CLI::Option* op, std::string section) {
  return config_key{std::move(section), op->get_lnames().front(), kind_of(*op), op};
}

std::string shortest(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

const char* toml_type(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

error wrong_type(const char* expected, const toml::node& n) {
  return make_error(errc::invalid_input, std::string("expected ") + expected + ", got " + toml_type(n));
}

/// The value of `n` as the strings CLI11 gets for `key`, or why it cannot be.
result<std::vector<std::string>> to_strings(const config_key& key, const toml::node& n) {
  switch (key.kind) {
    case config_kind::flag:
      if (auto b = n.as_boolean()) return std::vector<std::string>{b->get() ? "true" : "false"};
      return wrong_type("a boolean (true or false)", n);
    case config_kind::integer:
      if (auto i = n.as_integer()) return std::vector<std::string>{std::to_string(i->get())};
      return wrong_type("an integer", n);
    case config_kind::count:
      if (auto i = n.as_integer(); i && i->get() >= 0) return std::vector<std::string>{std::to_string(i->get())};
      return wrong_type("a non-negative integer", n);
    case config_kind::number:
      if (auto i = n.as_integer()) return std::vector<std::string>{std::to_string(i->get())};
      if (auto f = n.as_floating_point()) return std::vector<std::string>{shortest(f->get())};
      return wrong_type("a number", n);
    case config_kind::duration: {
      if (auto s = n.as_string()) {
        auto d = parse_duration(s->get());
        if (!d) return d.err();
        return std::vector<std::string>{shortest(*d)};
      }
      double secs = -1;
      if (auto i = n.as_integer()) secs = static_cast<double>(i->get());
      else if (auto f = n.as_floating_point()) secs = f->get();
      else return wrong_type("a duration (\"250ms\", \"30s\", \"2m\", \"1h30m\") or a number of seconds", n);
      if (!(secs >= 0)) return make_error(errc::invalid_input, "a duration cannot be negative");
      return std::vector<std::string>{shortest(secs)};
    }
    case config_kind::text:
      if (auto s = n.as_string()) return std::vector<std::string>{s->get()};
      return wrong_type("a string", n);
    case config_kind::any:
      if (auto s = n.as_string()) return std::vector<std::string>{s->get()};
      if (auto i = n.as_integer()) return std::vector<std::string>{std::to_string(i->get())};
      if (auto f = n.as_floating_point()) return std::vector<std::string>{shortest(f->get())};
      if (auto b = n.as_boolean()) return std::vector<std::string>{b->get() ? "true" : "false"};
      return wrong_type("a string or a number", n);
    case config_kind::list: {
      if (auto s = n.as_string()) return std::vector<std::string>{s->get()};
      auto a = n.as_array();
      if (!a) return wrong_type("an array of strings", n);
      std::vector<std::string> out;
      for (const auto& item : *a) {
        auto s = item.as_string();
        if (!s) return wrong_type("an array of strings", *a);
        out.push_back(s->get());
      }
      return out;
    }
  }
  return make_error(errc::internal, "unknown kind");
}

const config_key* find_key(const config_schema& s, const std::string& section, const std::string& name) {
  auto it = std::find_if(s.begin(), s.end(), [&](const config_key& k) { return k.section == section && k.name == name; });
  return it == s.end() ? nullptr : &*it;
}

/// Edit distance, for "did you mean" on a misspelt key.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_key(const config_schema& schema, const config_schema& other, const std::string& section,
                        const std::string& name) {
  std::string msg = section + "." + name + ": unknown key";
  const config_key* best = nullptr;
  std::size_t best_d = 3;  // suggest only near misses
  for (const auto* s : {&schema, &other})
    for (const auto& k : *s)
      if (std::size_t d = distance(name, k.name); d < best_d && (k.section == section || d == 0)) {
        best = &k;
        best_d = d;
      }
  if (best) msg += " (did you mean " + best->path() + "?)";
  return msg;
}

struct problem {
  int line;
  std::string what;
};

/// One section's keys into `out`, problems into `problems`.
void read_section(const std::string& section, const toml::table& t, const config_schema& schema,
                  const config_schema& other, std::vector<config_setting>& out, std::vector<problem>& problems) {
  for (auto&& [k, v] : t) {
    const std::string name(k.str());
    const int line = static_cast<int>(k.source().begin.line);
    bool is_other = false;
    const config_key* key = find_key(schema, section, name);
    if (!key && (key = find_key(other, section, name))) is_other = true;
    if (!key) {
      problems.push_back({line, unknown_key(schema, other, section, name)});
      continue;
    }
    auto values = to_strings(*key, v);
    if (!values) {
      problems.push_back({line, key->path() + ": " + values.err().message});
      continue;
    }
    if (values->empty()) continue;  // `join = []`: as if unset
    out.push_back(config_setting{key, std::move(*values), line, is_other});
  }
}

/// Drops CLI11's "--name: " in front of its message: the prefix names the key.
std::string cli11_message(const CLI::Error& e, const CLI::Option& op) {
  std::string msg = e.what();
  const std::string own = "--" + op.get_lnames().front() + ": ";
  if (msg.rfind(own, 0) == 0) msg.erase(0, own.size());
  return msg;
}

/// Reads --config FILE for the subcommand that runs (see add_config_option).
class config_reader final : public CLI::Config {
 public:
  config_reader(CLI::App* app, CLI::App* node) : app_(app), node_(node) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }

  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    CLI::App* train = nullptr;
    try {
      train = app_->get_subcommand("train");
    } catch (const CLI::OptionNotFound&) {
    }
    const bool for_train = train && train->parsed();
    const config_schema node_keys = node_config_schema(*node_);
    const config_schema train_keys = train ? section_config_schema(*train, "train") : config_schema{};
    auto file = for_train ? read_config(text, path(), train_keys, node_keys) : read_config(text, path(), node_keys, train_keys);
    if (!file) throw config_error(file.err().message);
    if (for_train || node_->parsed())
      if (auto applied = apply_config(*file); !applied) throw config_error(applied.err().message);
    return {};  // applied already: nothing for CLI11 to do
  }

 private:
  /// CLI11 reads the --config files last to first, one call each.
  std::string path() const {
    const auto& files = app_->get_config_ptr()->results();
    if (files.empty()) return "config";
    return files[files.size() - 1 - std::min(calls_++, files.size() - 1)];
  }

  CLI::App* app_;
  CLI::App* node_;
  mutable std::size_t calls_ = 0;
};

}  // namespace

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> s = {"node", "cluster", "train", "sites"};
  return s;
}

config_schema node_config_schema(CLI::App& node) {
  config_schema keys;
  for (CLI::Option* op : node.get_options()) {
    const std::string section = section_of_group(op->get_group());
    if (is_help(node, op) || op->get_lnames().empty() || section.empty()) continue;
    keys.push_back(make_key(op, section));
  }
  // Printed and documented section by section: config_sections() first, then
  // any other group in the order its first option was added.
  const auto sections = schema_sections(keys);
  std::stable_sort(keys.begin(), keys.end(), [&](const config_key& a, const config_key& b) {
    return std::find(sections.begin(), sections.end(), a.section) < std::find(sections.begin(), sections.end(), b.section);
  });
  return keys;
}

std::vector<std::string> schema_sections(const config_schema& schema, const config_schema& other) {
  std::vector<std::string> s = config_sections();
  for (const auto* keys : {&schema, &other})
    for (const auto& k : *keys)
      if (std::find(s.begin(), s.end(), k.section) == s.end()) s.push_back(k.section);
  return s;
}

config_schema section_config_schema(CLI::App& cmd, const std::string& section) {
  config_schema keys;
  for (CLI::Option* op : cmd.get_options())
    if (!is_help(cmd, op) && !op->get_lnames().empty()) keys.push_back(make_key(op, section));
  return keys;
}

result<double> parse_duration(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_input, quoted + ": " + why + " (write e.g. \"250ms\", \"30s\", \"2m\", \"1h30m\")");
  };
  if (text.empty()) return bad("an empty duration");
  if (text.front() == '-') return bad("a duration cannot be negative");
  double total = 0;
  std::size_t i = 0;
  bool had_unit = false;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    double n = 0;
    auto [end, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (start == i || ec != std::errc() || end != text.data() + i) return bad("not a duration");
    const std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      if (had_unit || i < text.size()) return bad("not a duration");
      return n;  // a plain number of seconds
    }
    double scale = 0;
    if (unit == "ms") scale = 0.001;
    else if (unit == "s") scale = 1;
    else if (unit == "m") scale = 60;
    else if (unit == "h") scale = 3600;
    else return bad("unknown unit \"" + std::string(unit) + "\" (units: ms, s, m, h)");
    total += n * scale;
    had_unit = true;
  }
  return total;
}

result<config_file> read_config(std::string_view text, const std::string& path, const config_schema& schema,
                                const config_schema& other) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return make_error(errc::invalid_input, path + ":" + std::to_string(e.source().begin.line) + ": " +
                                               std::string(e.description()));
  }
  config_file file{path, {}};
  std::vector<problem> problems;
  const auto sections = schema_sections(schema, other);
  std::string names;
  for (const auto& s : sections) names += (names.empty() ? "[" : ", [") + s + "]";
  for (auto&& [k, v] : root) {
    const std::string name(k.str());
    const int line = static_cast<int>(k.source().begin.line);
    if (!v.is_table())
      problems.push_back({line, name + ": a key outside any section (sections: " + names + ")"});
    else if (std::find(sections.begin(), sections.end(), name) == sections.end())
      problems.push_back({line, "[" + name + "]: unknown section (sections: " + names + ")"});
    else
      read_section(name, *v.as_table(), schema, other, file.settings, problems);
  }
  if (!problems.empty()) {
    std::stable_sort(problems.begin(), problems.end(), [](auto& a, auto& b) { return a.line < b.line; });
    std::string msg;
    for (auto& p : problems) msg += (msg.empty() ? "" : "\n") + path + ":" + std::to_string(p.line) + ": " + p.what;
    return make_error(errc::invalid_input, msg);
  }
  std::stable_sort(file.settings.begin(), file.settings.end(), [](auto& a, auto& b) { return a.line < b.line; });
  return file;
}

result<config_file> load_config(const std::string& path, const config_schema& schema, const config_schema& other) {
  std::ifstream in(path);
  if (!in) return make_error(errc::not_found, path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return read_config(text.str(), path, schema, other);
}

result<std::vector<const config_key*>> apply_config(const config_file& file) {
  std::vector<const config_key*> applied;
  for (const auto& s : file.settings) {
    CLI::Option& op = *s.key->option;
    if (s.other_command || op.count() > 0) continue;  // the command line wins
    const std::string env = op.get_envname();
    if (const char* v = env.empty() ? nullptr : std::getenv(env.c_str()); v && *v) continue;  // so does the environment
    try {
      if (s.key->kind == config_kind::flag)
        op.add_result(op.get_flag_value(s.key->name, s.values.at(0)));
      else
        op.add_result(s.values);
      op.run_callback();
    } catch (const CLI::Error& e) {
      op.clear();
      return make_error(errc::invalid_input,
                        file.path + ":" + std::to_string(s.line) + ": " + s.key->path() + ": " + cli11_message(e, op));
    }
    applied.push_back(s.key);
  }
  return applied;
}

void add_config_option(CLI::App& app, CLI::App* node) {
  app.set_config("--config", "",
                 "Read options from a TOML file: [node], [cluster], [train] for `hydra node`, [train] for "
                 "`hydra train` (docs/config.md); flags override it");
  app.config_formatter(std::make_shared<config_reader>(&app, node));
  node->fallthrough();  // `hydra node --config FILE`
  try {
    app.get_subcommand("train")->fallthrough();
  } catch (const CLI::OptionNotFound&) {
  }
  app.failure_message([](const CLI::App* a, const CLI::Error& e) -> std::string {
    if (dynamic_cast<const config_error*>(&e)) return std::string("hydra: error: ") + e.what() + "\n";
    return CLI::FailureMessage::simple(a, e);
  });
}

}  // namespace hydra::apps
