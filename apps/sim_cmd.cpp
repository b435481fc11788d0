// `hydra sim`: per policy, mean round seconds against the ideal, the ratio
// and the time to compute a plan. The only I/O here is reading the trace.

#include "apps/sim_cmd.hpp"

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "placement/sim.hpp"

namespace hydra::apps {
namespace {

struct sim_options {
  placement::sim_config config;
  std::string trace, generate, policy = "all";
  bool json = false;
};

result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, path + ": cannot open trace file");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return make_error(errc::io, path + ": read failed");
  return s.str();
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "hydra sim: %s\n", msg.c_str());
  return 1;
}

void print(const std::vector<placement::sim_report>& reps, bool json) {
  if (json) {
    auto arr = nlohmann::json::array();
    for (auto& r : reps)
      arr.push_back({{"policy", r.policy}, {"rounds", r.rounds}, {"failed_rounds", r.failed_rounds},
                     {"mean_round_seconds", r.mean_round_seconds},
                     {"ideal_round_seconds", r.mean_ideal_seconds}, {"ratio", r.ratio},
                     {"mean_plan_ms", 1e3 * r.mean_plan_seconds}, {"max_plan_ms", 1e3 * r.max_plan_seconds},
                     {"joins", r.joins}, {"leaves", r.leaves}, {"simulated_seconds", r.simulated_seconds}});
    std::printf("%s\n", arr.dump(2).c_str());
    return;
  }
  std::printf("%-9s %12s %12s %7s %10s %10s %7s\n", "policy", "round_s", "ideal_s", "ratio",
              "plan_ms", "plan_max", "failed");
  for (auto& r : reps)
    std::printf("%-9s %12.4f %12.4f %7.3f %10.3f %10.3f %7zu\n", r.policy.c_str(), r.mean_round_seconds,
                r.mean_ideal_seconds, r.ratio, 1e3 * r.mean_plan_seconds, 1e3 * r.max_plan_seconds,
                r.failed_rounds);
}

int run_sim(sim_options o, bool drift_given, double drift) {
  if (!o.generate.empty())
    if (auto s = placement::apply_spec(o.generate, o.config); !s) return fail(s.err().message);
  if (drift_given) o.config.drift = drift;
  std::vector<placement::trace_event> trace;
  if (!o.trace.empty()) {
    auto text = read_file(o.trace);
    if (!text) return fail(text.err().message);
    auto t = placement::parse_trace(*text);
    if (!t) return fail(o.trace + ": " + t.err().message);
    if (t->empty()) return fail(o.trace + ": trace has no events");
    trace = std::move(*t);
  }
  std::vector<std::string> names;
  if (o.policy == "all")
    for (auto n : placement::policy_names()) names.emplace_back(n);
  else
    names.push_back(o.policy);
  std::vector<placement::sim_report> reps;
  for (auto& n : names) {
    auto p = placement::make_policy(n);
    if (!p) return fail(p.err().message);
    reps.push_back(o.trace.empty() ? placement::simulate(o.config, **p)
                                   : placement::simulate(o.config, **p, trace));
  }
  print(reps, o.json);
  return 0;
}

}  // namespace

CLI::App* add_sim_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("sim", "Simulate batch placement policies on a heterogeneous cluster");
  auto o = std::make_shared<sim_options>();
  auto drift = std::make_shared<double>(0);
  cmd->add_option("--nodes", o->config.nodes, "Nodes in a generated cluster")->check(CLI::Range(1, 10000000));
  cmd->add_option("--rounds", o->config.rounds, "Rounds to simulate")->check(CLI::Range(1, 10000000));
  auto* trace = cmd->add_option("--trace", o->trace, "CSV trace: node_id,time_s,event(join|leave|speed),value");
  auto* gen = cmd->add_option("--generate", o->generate,
                              "Generated cluster, e.g. spread=20,churn=5 (keys: nodes rounds spread "
                              "churn drift noise seed batch model_bytes)");
  trace->excludes(gen);
  gen->excludes(trace);
  cmd->add_option("--policy", o->policy, "uniform, model, adaptive or all")
      ->check(CLI::IsMember({"uniform", "model", "adaptive", "all"}));
  auto* drift_opt = cmd->add_option("--drift", *drift, "Per-round log speed random walk sigma")
                        ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->config.seed, "Random seed");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o, drift, drift_opt, &exit_code] { exit_code = run_sim(*o, drift_opt->count() > 0, *drift); });
  return cmd;
}

}  // namespace hydra::apps
