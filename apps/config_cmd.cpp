// `hydra config check FILE [--json]`: the file as `hydra node --config FILE`
// would read it, every setting resolved.

#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/config.hpp"

namespace hydra::apps {
namespace {

/// One resolved key: its value (as CLI11 strings) and where it came from.
struct resolved {
  const config_key* key;
  std::vector<std::string> values;
  bool known = true;   ///< false: a flag's default (CLI11 does not record it)
  std::string source;  ///< file, environment, default, or "hydra train only"
  int line = 0;
};

/// CLI11 writes a vector's default as "[a,b]".
std::vector<std::string> default_values(const config_key& k) {
  std::string d = k.option->get_default_str();
  if (k.kind != config_kind::list) return {d};
  if (d.size() >= 2 && d.front() == '[' && d.back() == ']') d = d.substr(1, d.size() - 2);
  std::vector<std::string> out;
  for (std::size_t at = 0; !d.empty() && at <= d.size();) {
    const std::size_t comma = std::min(d.find(',', at), d.size());
    out.push_back(d.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

nlohmann::json as_json(const resolved& r) {
  if (!r.known) return nullptr;
  const std::string& v = r.values.empty() ? std::string() : r.values.front();
  switch (r.key->kind) {
    case config_kind::flag: return v == "true";
    case config_kind::integer:
    case config_kind::count:
    case config_kind::number:
    case config_kind::duration: {
      auto n = nlohmann::json::parse(v, nullptr, false);
      return n.is_number() ? n : nlohmann::json(v);
    }
    case config_kind::list: return r.values;
    case config_kind::text:
    case config_kind::any: break;
  }
  return v;
}

std::string as_text(const resolved& r) {
  std::string line = r.key->path();
  if (r.known) line += " = " + as_json(r).dump();
  std::string notes = r.key->kind == config_kind::duration && r.known ? "seconds" : "";
  if (r.source != "file") notes += (notes.empty() ? "" : ", ") + r.source;
  return line + (notes.empty() ? "" : " (" + notes + ")") + "\n";
}

/// Every key of the node schema, then the file's `hydra train`-only keys.
std::vector<resolved> resolve(const config_schema& keys, const config_file& file,
                              const std::vector<const config_key*>& applied) {
  std::vector<resolved> out;
  for (const auto& k : keys) {
    resolved r{&k, {}, true, "default", 0};
    auto set = std::find_if(file.settings.begin(), file.settings.end(), [&](auto& s) { return s.key == &k; });
    if (std::find(applied.begin(), applied.end(), &k) != applied.end()) {
      r.values = set->values;
      r.source = "file";
      r.line = set->line;
    } else if (k.option->count() > 0) {
      r.values = k.option->results();
      r.source = "environment " + k.option->get_envname();
    } else {
      r.values = default_values(k);
      r.known = !(k.kind == config_kind::flag && r.values.front().empty());
    }
    out.push_back(std::move(r));
  }
  for (const auto& s : file.settings)
    if (s.other_command) out.push_back(resolved{s.key, s.values, true, "hydra train only", s.line});
  return out;
}

int check(CLI::App& app, CLI::App& node, const std::string& path, bool json) {
  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "hydra config check: error: %s\n", msg.c_str());
    if (json) std::printf("%s\n", nlohmann::json{{"file", path}, {"ok", false}, {"error", msg}}.dump().c_str());
    return 1;
  };
  const config_schema keys = node_config_schema(node);
  config_schema train_keys;
  try {
    train_keys = section_config_schema(*app.get_subcommand("train"), "train");
  } catch (const CLI::OptionNotFound&) {
  }
  for (const auto& k : keys) k.option->capture_default_str();  // before the file changes the values
  auto file = load_config(path, keys, train_keys);
  if (!file) return fail(file.err().message);
  auto applied = apply_config(*file);
  if (!applied) return fail(applied.err().message);
  const auto settings = resolve(keys, *file, *applied);
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : settings) {
      nlohmann::json j = {{"key", r.key->path()}, {"value", as_json(r)}, {"source", r.source}};
      if (r.line > 0) j["line"] = r.line;
      list.push_back(std::move(j));
    }
    std::printf("%s\n", nlohmann::json{{"file", path}, {"ok", true}, {"settings", list}}.dump().c_str());
  } else {
    for (const auto& r : settings) std::fputs(as_text(r).c_str(), stdout);
  }
  return 0;
}

}  // namespace

CLI::App* add_config_command(CLI::App& app, CLI::App* node, int& exit_code) {
  auto* cmd = app.add_subcommand("config", "Config files (TOML; see docs/config.md)");
  cmd->require_subcommand(1);
  struct opts {
    std::string file;
    bool json = false;
  };
  auto o = std::make_shared<opts>();
  auto* chk = cmd->add_subcommand(
      "check", "Check FILE as `hydra node --config FILE` reads it; print every setting (section.key = value)");
  chk->add_option("file", o->file, "The TOML file")->required();
  chk->add_flag("--json", o->json, "Print one JSON object: file, ok, settings [{key, value, source, line}]");
  chk->callback([&app, node, o, &exit_code] { exit_code = check(app, *node, o->file, o->json); });
  return cmd;
}

}  // namespace hydra::apps
