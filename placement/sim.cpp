#include "placement/sim.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <unordered_map>

#include "common/rng.hpp"

namespace hydra::placement {
namespace {

constexpr double k_sqrt3 = 1.7320508075688772;

struct cluster {
  std::vector<node_caps> caps;  ///< advertised (speed stays stale)
  std::vector<double> speed;    ///< true speed
};

/// Unit-variance, zero-mean uniform draw.
double unit_noise(rng& r) { return (2.0 * r.uniform01() - 1.0) * k_sqrt3; }

node_caps fresh_node(rng& r, std::uint64_t id, double speed) {
  node_caps n;
  n.id = id;
  n.samples_per_second = speed;
  n.bandwidth_bytes_per_second = 1e8 * std::pow(10.0, r.uniform01());
  n.latency_seconds = 0.001 + 0.049 * r.uniform01();
  n.max_batch = 1024 + r.below(7168);
  n.availability = 0.5 + 0.5 * r.uniform01();
  n.on_battery = r.uniform01() < 0.1f;
  n.alive = true;
  return n;
}

double random_speed(rng& r, double spread) { return 10.0 * std::pow(spread, r.uniform01()); }

/// Ideal: all work spread over the true capacity of every alive node.
double ideal_seconds(const cluster& c, const job& j) {
  double cap = 0;
  std::vector<std::size_t> alive(c.caps.size(), 0);
  for (std::size_t i = 0; i < c.caps.size(); ++i)
    if (c.caps[i].alive) {
      cap += c.speed[i];
      alive[i] = 1;
    }
  if (cap <= 0) return 0;
  return static_cast<double>(j.global_batch) / cap + allreduce_seconds(c.caps, alive, j.model_bytes);
}

/// Runs `rounds` rounds; `between(round_seconds, clock)` mutates the cluster.
sim_report run(const sim_config& cfg, policy& p, cluster& c, const job& j,
               const std::function<void(double, double)>& between) {
  sim_report rep;
  rep.policy = p.name();
  rng noise = rng::derive(cfg.seed, 2);
  double clock = 0, sum_round = 0, sum_ideal = 0, sum_plan = 0;
  std::vector<double> step, transfer;
  for (std::size_t r = 0; r < cfg.rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto pl = p.make(j, c.caps);
    const double plan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sum_plan += plan_s;
    rep.max_plan_seconds = std::max(rep.max_plan_seconds, plan_s);
    double round_s = 1.0;  // a failed round waits a second for the cluster to change
    const std::size_t n = c.caps.size();
    step.assign(n, 0);
    transfer.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {  // same draws whatever the plan: fair across policies
      const double e = 1.0 + cfg.noise * unit_noise(noise);
      if (pl && pl->samples[i] > 0) step[i] = static_cast<double>(pl->samples[i]) / c.speed[i] * e;
    }
    if (pl) {
      double compute = 0;
      for (std::size_t i = 0; i < n; ++i) {
        compute = std::max(compute, step[i]);
        if (pl->samples[i] > 0)
          transfer[i] = 2.0 * j.model_bytes / c.caps[i].bandwidth_bytes_per_second +
                        2.0 * c.caps[i].latency_seconds;
      }
      round_s = compute + allreduce_seconds(c.caps, pl->samples, j.model_bytes);
      sum_round += round_s;
      sum_ideal += ideal_seconds(c, j);
      p.observe(step, transfer);
    } else {
      ++rep.failed_rounds;
    }
    clock += round_s;
    between(round_s, clock);
  }
  rep.rounds = cfg.rounds;
  const double ok = static_cast<double>(cfg.rounds - rep.failed_rounds);
  if (ok > 0) {
    rep.mean_round_seconds = sum_round / ok;
    rep.mean_ideal_seconds = sum_ideal / ok;
    rep.ratio = rep.mean_ideal_seconds > 0 ? rep.mean_round_seconds / rep.mean_ideal_seconds : 0;
  }
  rep.mean_plan_seconds = cfg.rounds ? sum_plan / static_cast<double>(cfg.rounds) : 0;
  rep.simulated_seconds = clock;
  return rep;
}

job make_job(const sim_config& cfg, std::size_t nodes) {
  job j;
  j.global_batch = cfg.global_batch ? cfg.global_batch : 256 * nodes;
  j.model_bytes = cfg.model_bytes;
  return j;
}

}  // namespace

sim_report simulate(const sim_config& cfg, policy& p) {
  rng gen = rng::derive(cfg.seed, 0), dyn = rng::derive(cfg.seed, 1);
  cluster c;
  for (std::size_t i = 0; i < cfg.nodes; ++i) {
    const double s = random_speed(gen, cfg.speed_spread);
    c.caps.push_back(fresh_node(gen, i, s));
    c.speed.push_back(s);
  }
  std::uint64_t next_id = cfg.nodes;
  std::size_t joins = 0, leaves = 0;
  auto between = [&](double round_s, double) {
    const double leave_p = cfg.churn_per_hour / 100.0 * round_s / 3600.0;
    for (std::size_t i = 0; i < c.caps.size(); ++i) {
      const double u = dyn.uniform01(), g = unit_noise(dyn);
      if (c.caps[i].alive && u < leave_p) {
        c.caps[i].alive = false;
        ++leaves;
      } else if (!c.caps[i].alive && u < 0.5) {
        c.speed[i] = random_speed(gen, cfg.speed_spread);
        c.caps[i] = fresh_node(gen, next_id++, c.speed[i]);
        ++joins;
      }
      if (cfg.drift > 0) c.speed[i] *= std::exp(cfg.drift * g);
    }
  };
  auto rep = run(cfg, p, c, make_job(cfg, cfg.nodes), between);
  rep.joins = joins;
  rep.leaves = leaves;
  return rep;
}

sim_report simulate(const sim_config& cfg, policy& p, std::span<const trace_event> trace) {
  rng gen = rng::derive(cfg.seed, 0);
  cluster c;
  std::unordered_map<std::uint64_t, std::size_t> slot;
  for (auto& e : trace) slot.try_emplace(e.node_id, slot.size());
  c.caps.resize(slot.size());
  c.speed.assign(slot.size(), 1.0);
  std::size_t next = 0, joins = 0, leaves = 0;
  auto apply_until = [&](double clock) {
    for (; next < trace.size() && trace[next].time_s <= clock; ++next) {
      const auto& e = trace[next];
      const std::size_t i = slot.at(e.node_id);
      if (e.what == trace_event::kind::join) {
        c.caps[i] = fresh_node(gen, e.node_id, e.value);
        c.speed[i] = e.value;
        ++joins;
      } else if (e.what == trace_event::kind::leave) {
        leaves += c.caps[i].alive;
        c.caps[i].alive = false;
      } else {
        c.speed[i] = e.value;
      }
    }
  };
  apply_until(0);
  auto rep = run(cfg, p, c, make_job(cfg, slot.size()),
                 [&](double, double clock) { apply_until(clock); });
  rep.joins = joins;
  rep.leaves = leaves;
  return rep;
}

}  // namespace hydra::placement
