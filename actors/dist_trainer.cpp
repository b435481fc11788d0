#include "actors/dist_trainer.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/allreduce.hpp"
#include "common/checkpoint_file.hpp"
#include "common/duty_cycle.hpp"
#include "common/env.hpp"
#include "common/hash.hpp"
#include "data/batcher.hpp"
#include "data/idx.hpp"
#include "data/standardize.hpp"
#include "kernels/model.hpp"
#include "kernels/optimizer.hpp"
#include "placement/policy.hpp"

namespace hydra::actors {
namespace {

/// A fast 64-bit fingerprint of the weights for the per-round agreement
/// check (4 independent multiply-xor lanes: ~10 GB/s); the final
/// weights_hash is BLAKE2b.
std::uint64_t fingerprint(std::span<const float> v) {
  std::uint64_t h[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull, 0x27d4eb2f165667c5ull};
  const auto* w = reinterpret_cast<const std::uint32_t*>(v.data());
  const std::size_t n = v.size();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) h[k] = (h[k] ^ w[i + k]) * 0x100000001b3ull;
  for (; i < n; ++i) h[0] = (h[0] ^ w[i]) * 0x100000001b3ull;
  return h[0] ^ (h[1] << 1) ^ (h[2] << 2) ^ (h[3] << 3);
}

}  // namespace

namespace {

/// Everything a rank needs to continue the job from another rank's point.
struct job_state {
  std::uint64_t step = 0;  ///< global steps done (sync) / at the last sync (local)
  kernels::model* m = nullptr;
  kernels::optimizer* inner = nullptr;
  kernels::optimizer* outer = nullptr;
  std::vector<float>* anchor = nullptr;

  std::size_t bytes() const {
    std::size_t b = 3 * sizeof(std::uint64_t) + m->standardization_state().size_bytes() + m->params().size_bytes() +
                    inner->state().size_bytes();
    if (outer) b += outer->state().size_bytes() + anchor->size() * sizeof(float);
    return b;
  }
  void save(std::vector<std::byte>& out) const {
    out.resize(bytes());
    std::byte* p = out.data();
    auto put = [&](const void* src, std::size_t n) {
      std::memcpy(p, src, n);
      p += n;
    };
    const std::uint64_t head[3] = {step, inner->steps(), outer ? outer->steps() : 0};
    put(head, sizeof head);
    put(m->standardization_state().data(), m->standardization_state().size_bytes());
    put(m->params().data(), m->params().size_bytes());
    put(inner->state().data(), inner->state().size_bytes());
    if (outer) {
      put(outer->state().data(), outer->state().size_bytes());
      put(anchor->data(), anchor->size() * sizeof(float));
    }
  }
  void load(const std::vector<std::byte>& in) {
    const std::byte* p = in.data();
    auto get = [&](void* dst, std::size_t n) {
      std::memcpy(dst, p, n);
      p += n;
    };
    std::uint64_t head[3];
    get(head, sizeof head);
    step = head[0];
    inner->set_steps(head[1]);
    get(m->standardization_state().data(), m->standardization_state().size_bytes());
    get(m->params().data(), m->params().size_bytes());
    get(inner->state().data(), inner->state().size_bytes());
    if (outer) {
      outer->set_steps(head[2]);
      get(outer->state().data(), outer->state().size_bytes());
      get(anchor->data(), anchor->size() * sizeof(float));
    }
  }
};

// Checkpoint file: common/checkpoint_file.hpp frames the payload
// (job_state::save) with a magic, its size and its BLAKE2b; the write is
// atomic (temporary file, fsync, rename, folder fsync).
status save_checkpoint(const std::string& path, const job_state& js) {
  std::vector<std::byte> blob;
  js.save(blob);
  return write_checkpoint_file(path, blob);
}

/// Loads a checkpoint made for the same model and optimizer; any damage or
/// mismatch is an error naming the file (the job then starts from scratch).
status load_checkpoint(const std::string& path, job_state& js) {
  auto blob = read_checkpoint_file(path, js.bytes());
  if (!blob) return blob.err();
  js.load(*blob);
  return {};
}

/// A new group agrees on the state: every rank announces its step, the
/// most advanced whose claim holds (choose_state_source) broadcasts its state.
status agree_on_state(collective& l, job_state& js, std::uint64_t total, std::uint64_t lead) {
  if (l.size() == 1) return {};
  std::vector<std::uint64_t> claims(static_cast<std::size_t>(l.size()));
  for (int r = 0; r < l.size(); ++r) {
    std::uint64_t v = js.step;
    if (auto st = l.broadcast(std::as_writable_bytes(std::span(&v, 1)), r); !st) return st;
    claims[static_cast<std::size_t>(r)] = v;
  }
  const auto choice = choose_state_source(claims, total, lead);
  const int source = choice.source;
  for (int r : choice.refused)
    spdlog::warn("rank {} claims step {}, too far ahead of the group (total {}, lead {}): not adopted; the group "
                 "continues from rank {}'s step {}",
                 r, claims[static_cast<std::size_t>(r)], total, lead, source, claims[static_cast<std::size_t>(source)]);
  std::vector<std::byte> blob;
  js.save(blob);
  if (auto st = l.broadcast(blob, source); !st) return st;
  if (source != l.rank()) js.load(blob);
  return {};
}

}  // namespace

state_choice choose_state_source(const std::vector<std::uint64_t>& claims, std::uint64_t total, std::uint64_t lead) {
  const int n = static_cast<int>(claims.size());
  auto at = [&](int r) { return claims[static_cast<std::size_t>(r)]; };
  auto vouched = [&](int r) {
    for (int q = 0; q < n; ++q)
      if (q != r && at(q) > 0 && at(q) <= total && at(q) <= at(r) && at(r) - at(q) <= lead) return true;
    return false;
  };
  std::uint64_t ceiling = total;
  bool any = false;
  for (int r = 0; r < n; ++r)
    if (at(r) > 0 && at(r) <= total && vouched(r)) {
      ceiling = any ? std::max(ceiling, at(r)) : at(r);
      any = true;
    }
  state_choice out;
  out.source = -1;
  for (int r = 0; r < n; ++r)
    if (at(r) <= ceiling && (out.source < 0 || at(r) > at(out.source))) out.source = r;
  if (out.source < 0) out.source = 0;  // every claim is past the job's end: rank 0's state
  for (int r = 0; r < n; ++r)
    if (at(r) > ceiling) out.refused.push_back(r);
  return out;
}

double max_round_weight(const dist_train_options& o) {
  const double extra = o.pool ? std::max(1, o.batch / 4) : 0;
  return (std::max(o.batch, 1) + extra) * (o.mode == "local" ? std::max(o.local_steps, 1) : 1);
}

result<dist_train_result> run_dist_training(group_source& groups, const dist_train_options& o,
                                            elastic_stats& stats, round_callback cb) {
  env& e = default_env();
  auto loaded = data::load_dir(o.data.empty() ? data::default_data_dir() : o.data);
  if (!loaded) return loaded.err();
  data::dataset& train = loaded->train;
  if (o.limit > 0 && o.limit < train.size()) {
    train.labels.resize(o.limit);
    train.images.resize(o.limit * train.sample_size());
  }
  kernels::context ctx(o.threads);
  auto made = kernels::model::make(o.model, ctx);
  if (!made) return made.err();
  kernels::model& m = **made;
  m.init(o.seed);  // same seed on every rank: identical start
  if (o.standardize) {
    const auto ps = data::compute_pixel_stats(train);
    const float mean[] = {static_cast<float>(ps.mean)}, sd[] = {static_cast<float>(ps.stddev)};
    if (auto st = m.set_standardization(mean, sd); !st) return st.err();
    spdlog::info("inputs standardised: pixel mean {:.4f}, std {:.4f} (training set)", ps.mean, ps.stddev);
  }
  kernels::optimizer_config oc;
  oc.kind = o.optimizer;
  oc.lr = o.lr > 0 ? o.lr : (o.optimizer == "adam" ? 0.001f : 0.1f);
  oc.momentum = o.momentum;
  auto opt_made = kernels::make_optimizer(oc, m.params().size());
  if (!opt_made) return opt_made.err();
  kernels::optimizer& opt = **opt_made;
  const bool local = o.mode == "local";
  if (!local && o.mode != "sync") return make_error(errc::invalid_input, "mode must be sync or local");
  if (o.local_steps < 1) return make_error(errc::invalid_input, "local steps must be >= 1");
  std::unique_ptr<kernels::optimizer> outer;
  std::vector<float> anchor, delta;
  if (local) {
    auto made_outer = kernels::make_optimizer(
        {.kind = "sgd", .lr = o.outer_lr, .momentum = o.outer_momentum, .nesterov = true}, m.params().size());
    if (!made_outer) return made_outer.err();
    outer = std::move(*made_outer);
    anchor.assign(m.params().begin(), m.params().end());
    delta.resize(anchor.size());
  }
  job_state js{0, &m, &opt, outer.get(), local ? &anchor : nullptr};
  duty_cycle own_duty(e, o.cpu_limit);
  duty_cycle& duty = o.duty ? *o.duty : own_duty;
  auto policy_made = placement::make_policy(o.policy);
  if (!policy_made) return policy_made.err();
  placement::policy& sizing = **policy_made;
  double round_time_sum = 0, comm_time_sum = 0, ideal_sum = 0, last_ideal = 0;
  std::ofstream round_log;
  if (!o.round_log.empty()) round_log.open(o.round_log, std::ios::app);
  std::uint64_t timed_rounds = 0, ideal_samples = 0;
  if (!o.checkpoint.empty()) {
    if (auto st = load_checkpoint(o.checkpoint, js); st) {
      stats.resumed_from = js.step;
      spdlog::info("resumed from checkpoint {} at step {}", o.checkpoint, js.step);
    } else if (st.err().code != errc::not_found) {
      spdlog::warn("ignoring checkpoint: {}", st.err().message);
      js.step = 0;
    }
  }

  comm::allreduce_options copt;
  copt.codec = o.codec;
  // No rank's claimed sample count may exceed what any rank's slice can
  // hold (the per-rank plan is made after the group forms; see
  // allreduce_options::max_weights), and a non-finite update is dropped.
  copt.max_weight = max_round_weight(o);
  copt.on_dropped = [](int rank, const std::string& why) {
    spdlog::warn("all-reduce left rank {} out of the round: {}", rank, why);
  };
  data::batcher order(train, o.batch, o.seed);
  const std::size_t steps_per_epoch = order.batches_per_epoch();
  const std::uint64_t total = steps_per_epoch * o.epochs;
  const std::size_t sample = train.sample_size();
  // Room for this rank's slice plus the contributed samples mixed in (at
  // most a quarter of the global batch on top).
  const int extra_max = o.pool ? std::max(1, o.batch / 4) : 0;
  std::vector<float> x(std::size_t(o.batch + extra_max) * sample);
  std::vector<std::int32_t> y(o.batch + extra_max);
  copt.op = o.aggregate;
  // Verified work since the last credit report, per rank of the current group.
  std::vector<std::uint64_t> credit_samples;
  std::vector<std::string> credit_accounts;
  std::uint64_t credit_from = 0, last_sync_step = 0;
  bool credit_rank0 = false;
  auto report_credits = [&] {
    if (o.credit && credit_rank0 && !credit_accounts.empty() && credit_accounts.size() == credit_samples.size()) {
      bool any = false;
      for (auto v : credit_samples) any |= v > 0;
      if (any) o.credit(credit_accounts, credit_samples, credit_from, js.step);
    }
    std::fill(credit_samples.begin(), credit_samples.end(), 0);
    credit_from = js.step;
  };

  dist_train_result out;
  double loss_sum = 0;
  std::size_t loss_n = 0;
  int last_size = 0, epoch_loaded = -1;
  const auto t0 = e.now();
  // Test accuracy of the current weights (the whole test set).
  const auto& test = loaded->test;
  auto test_accuracy = [&] {
    data::batcher tb(test, 1000, 0);
    tb.start_epoch(0, false);
    std::vector<float> tx(1000 * sample);
    std::vector<std::int32_t> ty(1000);
    std::size_t correct = 0;
    while (int k = tb.next(tx.data(), ty.data())) correct += m.evaluate(k, tx.data(), ty.data()).correct;
    return test.size() ? double(correct) / test.size() : 0.0;
  };
  // Global samples trained once `step` steps are done (a short last batch
  // counts what it holds).
  auto samples_at = [&](std::uint64_t step) {
    const std::uint64_t n = train.size();
    return (step / steps_per_epoch) * n + std::min<std::uint64_t>((step % steps_per_epoch) * o.batch, n);
  };
  train_metrics* tm = o.metrics.get();
  std::ofstream train_log;
  if (!o.train_log.empty()) train_log.open(o.train_log, std::ios::app);
  std::uint64_t logged_step = 0;
  auto log_line = [&](const nlohmann::json& j) {
    if (!train_log.is_open()) return;
    train_log << j.dump() << '\n';
    train_log.flush();
  };
  std::uint64_t bytes_received_before = 0;  // by the groups formed before this one
  // Wall-clock stamps for the curves: the env's unix time at the start plus
  // the env's monotonic time since.
  const double unix0 = double(e.unix_seconds());
  auto wall = [&] { return unix0 + seconds_between(t0, e.now()); };
  if (tm) {
    tm->total_steps = total;
    tm->total_samples = static_cast<std::uint64_t>(train.size()) * o.epochs;
    tm->step = js.step;
    tm->samples = samples_at(js.step);
    tm->started_at = double(e.unix_seconds());
    tm->training = true;
  }
  std::unique_ptr<collective> link;
  auto draining = [&] { return o.stop && o.stop->load(); };
  // Drain: checkpoint where the job stands; the next start resumes there.
  auto drain = [&]() -> result<dist_train_result> {
    report_credits();
    if (!o.checkpoint.empty())
      if (auto st = save_checkpoint(o.checkpoint, js); !st) spdlog::warn("checkpoint: {}", st.err().message);
    out.drained = true;
    out.step = js.step;
    out.seconds = seconds_between(t0, e.now());
    out.final_loss = loss_n ? loss_sum / loss_n : 0.0;
    out.weights_hash = hash_floats(m.params());
    if (tm) tm->training = false;
    spdlog::info("drained at step {} of {}{}", js.step, total, o.checkpoint.empty() ? "" : ", checkpoint written");
    return out;
  };
  while (js.step < total) {
    if (draining()) return drain();
    // (Re)form the group and agree on where the job stands.
    if (link) bytes_received_before += link->bytes_received();
    if (tm) tm->failed_rounds = stats.failed_rounds;
    link.reset();
    report_credits();
    // The round deadline: a fixed allowance for the ranks' compute skew and
    // scheduling, plus ten times the transfer time on the slowest link the
    // node layer has measured (2 MB/s assumed when nothing is measured yet).
    const double bw = groups.bandwidth ? groups.bandwidth() : 0.0;
    const double transfer = double(m.params().size_bytes()) / (bw > 0 ? bw : 2e6);
    copt.timeout = std::chrono::milliseconds(2000 + static_cast<long>(1000 * (bw > 0 ? 10 * transfer : transfer)));
    auto formed = groups.form(copt);
    if (!formed && draining()) return drain();
    if (!formed) return formed.err();
    link = std::move(*formed);
    ++stats.groups;
    if (last_size && link->size() > last_size) ++stats.joined;
    if (last_size && link->size() < last_size) ++stats.lost;
    last_size = link->size();
    if (tm) {
      tm->groups = stats.groups;
      tm->world = link->size();
      tm->rank = link->rank();
    }
    const std::uint64_t before = js.step;
    if (auto st = agree_on_state(*link, js, total, local ? static_cast<std::uint64_t>(o.local_steps) : 1); !st) {
      ++stats.failed_rounds;
      continue;
    }
    if (js.step < before) ++stats.restarts;
    if (local) std::copy(anchor.begin(), anchor.end(), m.params().begin());
    const int rank = link->rank(), n = link->size();
    std::size_t since_sync = 0;
    credit_accounts = groups.members ? groups.members() : std::vector<std::string>{};
    if (static_cast<int>(credit_accounts.size()) != n) credit_accounts.clear();
    credit_samples.assign(n, 0);
    credit_from = last_sync_step = js.step;
    // Every member reports the same credits: the ledger counts a compute
    // credit only when two trainers attest it (ledger/roles.hpp).
    credit_rank0 = true;
    bool reform = false;
    // Job sizing: every member learns every member's number, then runs the
    // same policy on the same inputs, so all compute the same plan.
    auto gather = [&](double mine) -> result<std::vector<double>> {
      std::vector<double> v(n, 0.0);
      for (int r = 0; r < n; ++r) {
        double x = r == rank ? mine : 0.0;
        if (n > 1)
          if (auto st = link->broadcast(std::as_writable_bytes(std::span(&x, 1)), r); !st) return st.err();
        v[r] = r == rank ? mine : x;
      }
      return v;
    };
    const double per_sample_flops = m.train_flops_per_sample();
    auto advertised = gather(o.own_gflops > 0 ? o.own_gflops * 1e9 / per_sample_flops : 0.0);
    if (!advertised) {
      ++stats.failed_rounds;
      continue;
    }
    std::vector<placement::node_caps> caps(n);
    for (int r = 0; r < n; ++r)
      caps[r] = {static_cast<std::uint64_t>(r), (*advertised)[r] > 0 ? (*advertised)[r] : 1.0, 1e9, 0.0,
                 static_cast<std::size_t>(o.batch), 1.0, false, true};
    const placement::job pjob{static_cast<std::size_t>(o.batch), 1, double(m.params().size_bytes())};
    std::vector<std::size_t> share(n, 0);
    auto replan = [&] {
      auto p = sizing.make(pjob, caps);
      if (p) {
        share = p->samples;
      } else {
        for (int r = 0; r < n; ++r) share[r] = o.batch / n + (r < o.batch % n);
      }
    };
    // Each rank may claim at most its planned slice (plus the pooled
    // contributions it mixes in, over H steps in local mode): a rank that
    // claims more weight than the plan gave it is dropped from the round.
    auto bound_weights = [&] {
      std::vector<double> bound(n);
      const int h = local ? std::max(o.local_steps, 1) : 1;
      for (int r = 0; r < n; ++r)
        bound[r] = double(h) * (double(share[r]) + 1 + (o.pool ? std::max<std::size_t>(1, share[r] / 4) : 0));
      link->set_max_weights(std::move(bound));
    };
    replan();
    bound_weights();
    double window_busy = 0, window_comm = 0;
    std::size_t window_rounds = 0;
    while (js.step < total && !reform) {
      if (draining()) return drain();
      const int epoch = static_cast<int>(js.step / steps_per_epoch);
      const std::size_t s = js.step % steps_per_epoch;
      if (epoch != epoch_loaded) {
        order.start_epoch(epoch);
        epoch_loaded = epoch;
      }
      const auto& perm = order.order();
      // This rank's slice of global batch s, as the plan sizes it (a short
      // last batch is cut in the same proportions).
      const std::size_t b0 = s * o.batch, b1 = std::min(perm.size(), b0 + o.batch), len = b1 - b0;
      std::size_t before = 0;
      for (int r = 0; r < rank; ++r) before += share[r];
      const std::size_t lo = b0 + len * before / o.batch, hi = b0 + len * (before + share[rank]) / o.batch;
      const auto round_from = e.now();
      const int mine = static_cast<int>(hi - lo);
      for (int i = 0; i < mine; ++i) {
        const std::uint32_t idx = perm[lo + i];
        std::memcpy(x.data() + std::size_t(i) * sample, train.images.data() + std::size_t(idx) * sample,
                    sample * sizeof(float));
        y[i] = train.labels[idx];
      }
      // Accepted contributions join from the round after they were accepted.
      int extra = 0;
      if (o.pool && mine > 0) {
        extra = o.pool->take(std::min(extra_max, std::max(1, mine / 4)), epoch, sample,
                             x.data() + std::size_t(mine) * sample, y.data() + mine);
        stats.contributed_samples += extra;
      }
      const int trained = mine + extra;
      const auto busy_from = e.now();
      if (trained > 0) {
        auto r = m.compute_gradients(trained, x.data(), y.data());
        if (!std::isfinite(r.loss)) return make_error(errc::invalid_input, "training diverged (try a smaller --lr)");
        loss_sum += r.loss * trained;
        loss_n += trained;
      } else {
        std::fill(m.grads().begin(), m.grads().end(), 0.0f);
      }
      since_sync += trained;
      duty.pace(seconds_between(busy_from, e.now()));  // --cpu-limit: a polite guest
      const double busy = seconds_between(busy_from, e.now());
      window_busy += busy;
      const auto comm_from = e.now();
      std::uint64_t next = js.step + 1;
      auto poison = [&](std::span<float> v) {
        if (o.attack.empty()) return;
        const float f = o.attack == "scale" ? -10.0f : -1.0f;
        for (auto& g : v) g *= f;
      };
      if (!local) {
        poison(m.grads());
        auto res = link->allreduce(m.grads(), trained);
        if (!res) {
          ++stats.failed_rounds;
          break;  // a peer failed: re-form with the survivors, redo this step
        }
        out.bytes_sent += *res;
        opt.step(m.params(), m.grads());
        js.step = next;
      } else {
        if (trained > 0) opt.step(m.params(), m.grads());
        if (next % o.local_steps != 0 && next != total) {
          js.step = next;  // a local step: nothing to agree on yet
          continue;
        }
        for (std::size_t i = 0; i < delta.size(); ++i) delta[i] = anchor[i] - m.params()[i];
        poison(delta);
        auto res = link->allreduce(delta, static_cast<double>(since_sync));
        if (!res) {
          ++stats.failed_rounds;
          js.step = next - ((next - 1) % o.local_steps) - 1;  // back to the last sync point
          break;
        }
        out.bytes_sent += *res;
        outer->step(anchor, delta);
        std::copy(anchor.begin(), anchor.end(), m.params().begin());
        since_sync = 0;
        js.step = next;
      }
      ++out.rounds;
      // Rank 0 tells everyone its weights' fingerprint and whether the
      // group must re-form (a trainer joined).
      std::uint64_t msg[2] = {fingerprint(m.params()), 0};
      if (rank == 0 && groups.changed && groups.changed()) msg[1] = 1;
      const std::uint64_t mine_fp = msg[0];
      if (n > 1) {
        if (auto st = link->broadcast(std::as_writable_bytes(std::span(msg)), 0); !st) {
          ++stats.failed_rounds;
          break;
        }
      }
      if (msg[0] != mine_fp)
        return make_error(errc::internal, "rank " + std::to_string(rank) + ": weights differ from rank 0 after step " +
                                              std::to_string(js.step));
      reform = msg[1] != 0;
      // The round completed and every replica agrees: the work is verified.
      const std::uint64_t round_steps = std::max<std::uint64_t>(1, js.step - last_sync_step);
      last_sync_step = js.step;
      for (int r = 0; r < n && r < static_cast<int>(credit_samples.size()); ++r)
        credit_samples[r] += share[r] * round_steps;
      if (out.rounds % 100 == 0) report_credits();
      if (o.board && (out.rounds % 5 == 0 || js.step == total)) o.board->publish(o.model, m.params(), js.step, m.standardization_state());
      const double round = seconds_between(round_from, e.now());
      round_time_sum += round;
      if (round_log.is_open()) round_log << js.step << ' ' << round << ' ' << last_ideal << '\n';
      const double comm_secs = seconds_between(comm_from, e.now());
      window_comm += comm_secs;
      comm_time_sum += comm_secs;
      if (train_log.is_open() &&
          (js.step - logged_step >= std::max<std::uint64_t>(1, total / 200) || js.step == total)) {
        logged_step = js.step;
        const double since = seconds_between(t0, e.now());
        log_line({{"t", wall()},
                  {"step", js.step},
                  {"total", total},
                  {"epoch", js.step / steps_per_epoch},
                  {"loss", loss_n ? loss_sum / loss_n : 0.0},
                  {"samples", samples_at(js.step)},
                  {"samples_per_s", since > 0 ? double(samples_at(js.step) - samples_at(stats.resumed_from)) / since : 0.0},
                  {"round_s", round},
                  {"world", n}});
      }
      if (tm) {
        const double now = wall();
        const std::uint64_t done = samples_at(js.step);
        const double loss_now = loss_n ? loss_sum / loss_n : 0.0;
        tm->step = js.step;
        tm->samples = done;
        tm->loss = loss_now;
        tm->rounds = out.rounds;
        tm->last_round_seconds = round;
        train_metrics::add(tm->round_seconds_sum, round);
        train_metrics::add(tm->allreduce_seconds_sum, comm_secs);
        tm->bytes_sent = out.bytes_sent;
        tm->bytes_received = bytes_received_before + link->bytes_received();
        tm->failed_rounds = stats.failed_rounds;
        const double since = now - unix0;
        tm->samples_per_second = since > 0 ? double(done - samples_at(stats.resumed_from)) / since : 0.0;
        tm->loss_curve.add({now, js.step, done, loss_now});
        tm->round_curve.add({now, js.step, done, round});
      }
      // The end of an epoch (not the last: the final evaluation covers it).
      if ((tm || train_log.is_open()) && js.step % steps_per_epoch == 0 && js.step < total) {
        const double acc = test_accuracy();
        if (tm) {
          tm->test_accuracy = acc;
          tm->accuracy_curve.add({wall(), js.step, samples_at(js.step), acc});
        }
        log_line({{"t", wall()}, {"step", js.step}, {"samples", samples_at(js.step)}, {"test_accuracy", acc}});
      }
      ++timed_rounds;
      // Periodically: everyone's measured compute speed, for the adaptive
      // policy and for the ideal round time (total work / total capacity).
      // Adaptive measures every round (4 tiny broadcasts), the others every 3.
      if (++window_rounds == (o.policy == "adaptive" ? 1u : 3u)) {
        const double mine_speed = window_busy > 0 ? double(share[rank]) * window_rounds / window_busy : 0.0;
        auto speeds = gather(mine_speed);
        if (!speeds) {
          ++stats.failed_rounds;
          break;
        }
        std::vector<double> step_secs(n), transfer(n, window_comm / window_rounds);
        double capacity = 0;
        for (int r = 0; r < n; ++r) {
          capacity += (*speeds)[r];
          step_secs[r] = (*speeds)[r] > 0 ? double(share[r]) / (*speeds)[r] : 0.0;
        }
        if (capacity > 0) {
          last_ideal = double(o.batch) / capacity + window_comm / window_rounds;
          ideal_sum += last_ideal * window_rounds;
          ideal_samples += window_rounds;
        }
        sizing.observe(step_secs, transfer);
        if (o.policy == "adaptive") {
          replan();
          bound_weights();
        }
        window_busy = window_comm = 0;
        window_rounds = 0;
      }
      if (!o.checkpoint.empty() && o.checkpoint_every > 0 &&
          (js.step / o.checkpoint_every != (js.step - 1) / o.checkpoint_every || js.step == total)) {
        if (auto st = save_checkpoint(o.checkpoint, js); !st) spdlog::warn("checkpoint: {}", st.err().message);
      }
      if (cb) cb(js.step, total, loss_n ? loss_sum / loss_n : 0.0);
    }
  }
  report_credits();
  if (o.board) o.board->publish(o.model, m.params(), js.step, m.standardization_state());
  if (!o.checkpoint.empty()) {
    // The job is done: a later job in this folder starts afresh.
    std::error_code ec;
    std::filesystem::rename(o.checkpoint, o.checkpoint + ".done", ec);
  }
  out.samples = static_cast<std::uint64_t>(train.size()) * o.epochs;
  out.seconds = seconds_between(t0, e.now());
  out.mean_round_seconds = timed_rounds ? round_time_sum / timed_rounds : 0.0;
  out.ideal_round_seconds = ideal_samples ? ideal_sum / ideal_samples : 0.0;
  (void)comm_time_sum;
  out.final_loss = loss_n ? loss_sum / loss_n : 0.0;
  out.test_accuracy = test_accuracy();
  out.weights_hash = hash_floats(m.params());
  out.step = js.step;
  log_line({{"t", wall()}, {"step", js.step}, {"samples", samples_at(js.step)}, {"test_accuracy", out.test_accuracy}});
  if (tm) {
    tm->step = js.step;
    tm->samples = samples_at(js.step);
    tm->bytes_sent = out.bytes_sent;
    if (link) tm->bytes_received = bytes_received_before + link->bytes_received();
    tm->failed_rounds = stats.failed_rounds;
    tm->test_accuracy = out.test_accuracy;
    tm->accuracy_curve.add({wall(), js.step, samples_at(js.step), out.test_accuracy});
    tm->training = false;
    tm->done = true;
  }
  return out;
}

result<dist_train_result> run_dist_training(comm::link& l, const dist_train_options& o, round_callback cb) {
  bool used = false;
  group_source g;
  g.form = [&](const comm::allreduce_options& opt) -> result<std::unique_ptr<collective>> {
    if (used) return make_error(errc::unavailable, "the fixed group failed");
    used = true;
    return make_p2p_collective(l, opt);
  };
  elastic_stats stats;
  return run_dist_training(g, o, stats, std::move(cb));
}

}  // namespace hydra::actors
