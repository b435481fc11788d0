#include "apps/node_cmd.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <nlohmann/json.hpp>

#include "actors/capabilities.hpp"
#include "actors/guest.hpp"
#include "actors/dist_trainer.hpp"
#include "comm/tcp_link.hpp"
#include "kernels/codec.hpp"
#include "comm/allreduce.hpp"
#include "data/idx.hpp"
#include "mpi/mpi_group.hpp"
#include "actors/ctl_client.hpp"
#include "actors/credentials.hpp"
#include "apps/ledger_cmd.hpp"
#include "apps/logging.hpp"
#include "actors/node.hpp"
#include "actors/transport.hpp"
#include "ops/service.hpp"
#include "ops/status_server.hpp"
#include "wire/identity.hpp"

namespace hydra::apps {
namespace {

struct node_options {
  std::string listen = "127.0.0.1:7400";
  std::vector<std::string> join;
  std::string state = "hydra-state";
  std::string cluster;  ///< cluster.pub (default STATE/cluster.pub)
  double cpu_limit = 100;
  double gossip_interval = 0.25;
  bool train = false;  ///< take part in a training job, then exit
  std::string backend = "p2p";  ///< p2p: TCP between peers; mpi: under mpirun
  int world = 1;       ///< train once this many trainers are alive
  std::string compress = "none";
  std::string aggregate = "mean";
  std::string watch;      ///< folder whose new files are taken in as contributions
  bool stay = false;      ///< keep serving (ledger, scoring) after the job is done
  bool lie_scores = false;  ///< drill: a dishonest scorer
  std::string scheduler = "sharing";  ///< CAF scheduler policy: sharing or stealing
  std::size_t holdout = 0;  ///< last N training samples: not trained on (validation + contributions)
  std::string metrics;    ///< HOST:PORT for /metrics and the status page ("" = none)
  log_options log;
  actors::dist_train_options job;
  actors::guest_config guest;  ///< when the trainer steps aside for the machine's owner (all off by default)
  std::string guest_input_irqs = actors::default_input_irqs;
};

void write_file_atomic(const std::string& path, const std::string& text);

/// Many peers, many connections: use the hard limit on descriptors.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

/// The trainer's side of a node: waits until `world` trainers are alive in
/// the membership view, forms the group (ranks = ids in order), trains, and
/// writes DIR/result.json. Returns the exit code.
int run_trainer(caf::actor_system& sys, actors::node_actor node, const node_options& o,
                const actors::credentials& creds, int data_fd, double own_gflops, bool* drained = nullptr) {
  const wire::identity& id = creds.id;
  env& e = default_env();
  caf::scoped_actor self{sys};
  const std::string me = id_hex(id.id);
  // The live trainers as this node's membership view has them: (id, data address).
  std::map<std::string, wire::public_key> keys;  // id hex -> key, from the signed records
  auto live_trainers = [&] {
    std::vector<std::pair<std::string, std::string>> members;
    std::string view;
    self->request(node, std::chrono::seconds(5), actors::peers_atom::value)
        .receive([&](const std::string& v) { view = v; }, [&](caf::error&) {});
    if (view.empty()) return members;
    const auto j = nlohmann::json::parse(view);
    for (auto& p : j["peers"])
      // A node whose guest policy paused its trainer is not in the group.
      if (p["state"] == "alive" && !p["data_address"].get<std::string>().empty() &&
          p["capabilities"].value("paused", "").empty() &&
          (p["self"].get<bool>() || p["roles"].get<std::string>().find("trainer") != std::string::npos ||
           p["roles"] == "operator")) {
        const auto key = actors::parse_key_hex(p.value("public_key", ""));
        if (!key) continue;
        keys[p["id"].get<std::string>()] = *key;
        members.emplace_back(p["id"].get<std::string>(), p["data_address"].get<std::string>());
      }
    std::sort(members.begin(), members.end());
    return members;
  };
  std::vector<std::pair<std::string, std::string>> current;
  bool first = true;
  actors::group_source groups;
  groups.form = [&](const comm::allreduce_options& copt) -> result<std::unique_ptr<actors::collective>> {
    const auto t0 = e.now();
    while (seconds_between(t0, e.now()) < 120) {
      if (o.job.stop && o.job.stop->load()) return make_error(errc::unavailable, "draining");
      auto members = live_trainers();
      const bool enough = static_cast<int>(members.size()) >= (first ? o.world : 1);
      auto self_it = std::find_if(members.begin(), members.end(), [&](auto& m) { return m.first == me; });
      if (enough && self_it != members.end()) {
        std::vector<std::string> addrs;
        std::vector<wire::public_key> member_keys;
        std::string ids;
        for (auto& m : members) {
          addrs.push_back(m.second);
          member_keys.push_back(keys[m.first]);
          ids += m.first;
        }
        const int rank = static_cast<int>(self_it - members.begin());
        // Each rank's channel must prove the key of the member at that rank;
        // the group id only tells formations apart (it is not a secret).
        auto link = comm::tcp_link::open(rank, addrs, data_fd, creds.channel(), member_keys,
                                         std::hash<std::string>{}(ids), comm::clock::now() + std::chrono::seconds(5));
        if (link) {
          if (!first && members.size() != current.size())
            spdlog::info("group re-formed: {} trainers (was {})", members.size(), current.size());
          current = members;
          first = false;
          spdlog::info("training as rank {} of {} (round deadline {} ms)", rank, members.size(),
                       std::chrono::duration_cast<std::chrono::milliseconds>(copt.timeout).count());
          return actors::make_p2p_collective(std::move(*link), copt);
        }
        spdlog::info("forming a group of {} failed ({}); retrying", members.size(), link.err().message);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return make_error(errc::deadline, "no training group could be formed in 120 s");
  };
  groups.bandwidth = [&] {
    // The slowest link this node has measured to a live trainer.
    double slowest = 0;
    std::string view;
    self->request(node, std::chrono::seconds(5), actors::peers_atom::value)
        .receive([&](const std::string& v) { view = v; }, [&](caf::error&) {});
    if (view.empty()) return 0.0;
    const auto j = nlohmann::json::parse(view);
    for (auto& p : j["peers"])
      if (!p["self"].get<bool>() && p["state"] == "alive" && !p["data_address"].get<std::string>().empty() &&
          p.contains("bandwidth_mbps") && !p["bandwidth_mbps"].is_null()) {
        const double bps = p["bandwidth_mbps"].get<double>() * 1e6 / 8;
        if (slowest == 0 || bps < slowest) slowest = bps;
      }
    return slowest;
  };
  auto last_check = e.now();
  groups.members = [&] {
    std::vector<std::string> ids;
    for (auto& m : current) ids.push_back(m.first);
    return ids;
  };
  groups.changed = [&] {
    if (seconds_between(last_check, e.now()) < 0.5) return false;
    last_check = e.now();
    auto members = live_trainers();
    // Only growth re-forms the group between rounds; a loss shows up as a
    // failed round.
    for (auto& m : members)
      if (std::find(current.begin(), current.end(), m) == current.end()) return true;
    return false;
  };
  spdlog::info("waiting for {} trainers ({} mode, codec {})", o.world, o.job.mode, o.compress);
  actors::dist_train_options job = o.job;
  job.cpu_limit = o.cpu_limit;
  job.own_gflops = own_gflops;
  job.credit = [&sys, node](const std::vector<std::string>& accounts, const std::vector<std::uint64_t>& samples,
                            std::uint64_t from, std::uint64_t to) {
    nlohmann::json j = {{"accounts", accounts}, {"samples", samples}, {"from_step", from}, {"to_step", to}};
    caf::anon_send(node, actors::credit_atom::value, j.dump());
    (void)sys;
  };
  if (job.checkpoint.empty()) job.checkpoint = o.state + "/checkpoint.bin";
  if (job.round_log.empty()) job.round_log = o.state + "/rounds.log";
  if (job.train_log.empty()) job.train_log = o.state + "/train.log";
  std::uint64_t last_pct = 101, first_step = ~0ull;
  const auto t_start = e.now();
  actors::elastic_stats stats;
  auto res = actors::run_dist_training(groups, job, stats, [&](std::uint64_t step, std::uint64_t total, double loss) {
    const std::uint64_t pct = 100 * step / std::max<std::uint64_t>(total, 1);
    if (pct != last_pct) {
      last_pct = pct;
      // step, total, loss, samples/s (global), trainers in the group: read by `hydra demo`.
      const double secs = seconds_between(t_start, e.now());
      const double sps = secs > 0 ? (step - first_step) * job.batch / secs : 0;
      if (first_step == ~0ull) first_step = step;
      char line[160];
      std::snprintf(line, sizeof line, "%llu %llu %.4f %.0f %zu", (unsigned long long)step,
                    (unsigned long long)total, loss, first_step == ~0ull ? 0.0 : sps, current.size());
      write_file_atomic(o.state + "/progress", line);
      if (pct % 10 == 0) spdlog::info("step {}/{} loss {:.4f}", step, total, loss);
    }
  });
  if (!res) {
    spdlog::error("training failed: {}", res.err().message);
    return 1;
  }
  if (res->drained) {
    if (drained) *drained = true;
    spdlog::info("trainer drained at step {}: the job goes on without this node; restarting it resumes from {}",
                 res->step, job.checkpoint);
    return 0;
  }
  nlohmann::json j = {{"world", current.size()},
                      {"model", o.job.model},
                      {"optimizer", o.job.optimizer},
                      {"epochs", o.job.epochs},
                      {"batch", o.job.batch},
                      {"mode", o.job.mode},
                      {"compress", o.compress},
                      {"test_accuracy", res->test_accuracy},
                      {"final_loss", res->final_loss},
                      {"rounds", res->rounds},
                      {"samples", res->samples},
                      {"bytes_sent", res->bytes_sent},
                      {"seconds", res->seconds},
                      {"groups", stats.groups},
                      {"failed_rounds", stats.failed_rounds},
                      {"peers_joined", stats.joined},
                      {"peers_lost", stats.lost},
                      {"restarts", stats.restarts},
                      {"resumed_from_step", stats.resumed_from},
                      {"policy", job.policy},
                      {"mean_round_seconds", res->mean_round_seconds},
                      {"ideal_round_seconds", res->ideal_round_seconds},
                      {"weights_hash", res->weights_hash},
                      {"aggregate", o.aggregate},
                      {"attack", job.attack},
                      {"contributed_samples_trained", stats.contributed_samples}};
  write_file_atomic(o.state + "/result.json", j.dump());
  spdlog::info("done: test accuracy {:.4f}, weights {}", res->test_accuracy, res->weights_hash);
  return 0;
}

int fail(const char* cmd, const std::string& what) {
  std::fprintf(stderr, "hydra %s: error: %s\n", cmd, what.c_str());
  return 1;
}

/// Writes `text` to `path` atomically (temp file + rename).
void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

/// `--backend mpi`: this process is one rank of an mpirun job. The group is
/// MPI_COMM_WORLD; a rank that dies is detected by the deadline, the
/// survivors agree on who is left (mpi_group's probe) and shrink the
/// communicator, and the job goes on. Nobody joins an MPI job (machines that
/// join use p2p). State and results go to STATE/rank-R.
int run_mpi_trainer(const node_options& o) {
  if (auto err = setup_logging(o.log, ""); !err.empty()) return fail("node", err);
  if (!o.train) return fail("node", "--backend mpi needs --train (the mpi backend only trains)");
  if (o.aggregate != "mean")
    return fail("node", "--aggregate " + o.aggregate + " needs the p2p backend (MPI_Allreduce only sums)");
  auto g = mpi::mpi_group::init(nullptr, nullptr);
  if (!g) return fail("node", g.err().message);
  mpi::mpi_group& group = **g;
  setup_logging(o.log, "rank-" + std::to_string(group.world_rank()));
  const std::string dir = o.state + "/rank-" + std::to_string(group.world_rank());
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/pid", std::to_string(getpid()));
  actors::dist_train_options job = o.job;
  job.cpu_limit = o.cpu_limit;
  job.codec = *kernels::parse_codec(o.compress);
  if (job.checkpoint.empty()) job.checkpoint = dir + "/checkpoint.bin";
  std::size_t formed = 0;
  actors::group_source groups;
  groups.form = [&](const comm::allreduce_options& copt) -> result<std::unique_ptr<actors::collective>> {
    if (formed++ > 0 && !group.healthy()) {
      const auto survivors = group.last_view().survivors;
      if (survivors.empty()) return make_error(errc::unavailable, "no survivor view to shrink to");
      if (auto st = group.shrink(survivors, std::chrono::seconds(10)); !st) return st.err();
      spdlog::info("communicator shrunk to {} ranks", group.size());
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(copt.timeout);
    return actors::make_mpi_collective(group, ms);
  };
  groups.changed = [] { return false; };
  actors::elastic_stats stats;
  std::uint64_t last_pct = 101;
  auto res = actors::run_dist_training(groups, job, stats, [&](std::uint64_t step, std::uint64_t total, double loss) {
    const std::uint64_t pct = 100 * step / std::max<std::uint64_t>(total, 1);
    if (pct == last_pct) return;
    last_pct = pct;
    write_file_atomic(dir + "/progress", std::to_string(step) + " " + std::to_string(total) + " " +
                                             std::to_string(loss) + " 0 " + std::to_string(group.size()));
    if (pct % 10 == 0) spdlog::info("rank {}: step {}/{} loss {:.4f}", group.world_rank(), step, total, loss);
  });
  int rc = 0;
  if (!res) {
    spdlog::error("training failed: {}", res.err().message);
    rc = 1;
  } else {
    nlohmann::json j = {{"world", group.size()},           {"mode", o.job.mode},
                        {"compress", o.compress},          {"backend", "mpi"},
                        {"test_accuracy", res->test_accuracy}, {"final_loss", res->final_loss},
                        {"rounds", res->rounds},           {"samples", res->samples},
                        {"bytes_sent", res->bytes_sent},   {"seconds", res->seconds},
                        {"groups", stats.groups},          {"failed_rounds", stats.failed_rounds},
                        {"peers_joined", stats.joined},    {"peers_lost", stats.lost},
                        {"restarts", stats.restarts},      {"resumed_from_step", stats.resumed_from},
                        {"weights_hash", res->weights_hash}};
    write_file_atomic(dir + "/result.json", j.dump());
    spdlog::info("rank {} done: test accuracy {:.4f}", group.world_rank(), res->test_accuracy);
  }
  if (!group.finalize(std::chrono::seconds(5))) std::_Exit(rc);  // MPI is stuck after a failure
  return rc;
}

/// A node's trainer thread, which the guest policy may drain (on pause) and
/// start again (on resume); each start gets a fresh stop flag. `mu` guards
/// `thread`, `stop` and `stopping`.
struct trainer_slot {
  std::mutex mu;
  std::condition_variable cv;  ///< wakes the guest monitor once `stopping`
  std::thread thread;
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
  bool stopping = false;              ///< the node is shutting down: nothing starts again
  std::atomic<bool> job_over{false};  ///< a trainer ended other than by draining: never restart
};

/// The polite guest (actors/guest.hpp): samples the machine once a second.
/// On pause it advertises why (peers then re-form without this node),
/// drains the trainer and joins it; once every condition has stayed clear
/// for --guest-resume-after it clears the advert and calls `start` (with
/// slot.mu held) for a new trainer, which resumes from its checkpoint and
/// rejoins the group. Returns when the node stops or the job is over.
void run_guest_monitor(trainer_slot& slot, const node_options& o, actors::node_actor node,
                       const std::function<void()>& start) {
  env& e = default_env();
  auto probe = actors::make_machine_probe(e, o.guest_input_irqs);
  if (o.guest.idle_seconds > 0 && !probe->sample().input_events)
    spdlog::warn("guest: no keyboard/mouse interrupts in /proc/interrupts (names {}): --guest-idle-seconds never pauses",
                 o.guest_input_irqs);
  actors::guest_policy policy(o.guest);
  std::string advertised;
  bool running = false;
  while (!slot.job_over) {
    const auto d = policy.update(e.now(), probe->sample());
    if (d.reason != advertised) {
      advertised = d.reason;
      caf::anon_send(node, actors::guest_atom::value, advertised);
      if (!running && !d.run) spdlog::info("guest: trainer paused: {}", d.detail);
    }
    if (!d.run && running) {
      spdlog::info("guest: pausing the trainer: {}", d.detail);
      std::thread t;
      {
        // A few gossip rounds first, so the peers' next re-form leaves this
        // node out instead of waiting for it to answer.
        std::unique_lock lock(slot.mu);
        slot.cv.wait_for(lock, std::chrono::duration<double>(std::max(1.0, 4 * o.gossip_interval)),
                         [&] { return slot.stopping; });
        slot.stop->store(true);
        t = std::move(slot.thread);
      }
      if (t.joinable()) t.join();
      running = false;
      spdlog::info("guest: trainer paused ({}); it resumes once every condition has been clear for {} s", d.reason,
                   o.guest.resume_after);
    } else if (d.run && !running) {
      std::lock_guard lock(slot.mu);
      if (slot.stopping) break;
      spdlog::info("guest: starting the trainer (no guest condition holds)");
      start();
      running = true;
    }
    std::unique_lock lock(slot.mu);
    if (slot.cv.wait_for(lock, std::chrono::seconds(1), [&] { return slot.stopping; })) break;
  }
}

int run_node(const node_options& o) {
  if (o.backend == "mpi") return run_mpi_trainer(o);
  auto addr = actors::parse_address(o.listen);
  if (!addr) return fail("node", addr.err().message);
  for (auto& j : o.join)
    if (auto a = actors::parse_address(j); !a) return fail("node", "--join: " + a.err().message);
  // stdout is for results: logs go to stderr (or --log-file).
  if (auto err = setup_logging(o.log, ""); !err.empty()) return fail("node", err);

  // Who we are on the cluster: key, certificate, cluster identity.
  auto loaded = actors::load_node_credentials(o.state, o.cluster);
  if (!loaded) return fail("node", loaded.err().message);
  const actors::credentials creds = std::move(*loaded);
  auto own = creds.own_grant();
  if (!own) return fail("node", "this node's certificate (" + o.state + "/membership.cert): " + own.err().message);
  const wire::identity* id = &creds.id;
  setup_logging(o.log, id_hex(id->id).substr(0, 16));
  raise_fd_limit();
  auto inc = actors::bump_incarnation(o.state);
  if (!inc) return fail("node", inc.err().message);

  // Block the stop signals before any thread starts, so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  actors::transport tp;
  tp.set_channel(creds.channel());
  auto port = tp.listen(addr->first, addr->second);
  if (!port) return fail("node", port.err().message);
  const std::string host = addr->first.find(':') != std::string::npos ? "[" + addr->first + "]" : addr->first;
  const std::string listen_address = host + ":" + std::to_string(*port);

  int data_fd = -1;
  std::string data_address;
  if (o.train) {
    auto codec = kernels::parse_codec(o.compress);
    if (!codec) return fail("node", codec.err().message);
    auto l = comm::tcp_link::listen_on(addr->first, 0);
    if (!l) return fail("node", l.err().message);
    data_fd = l->first;
    data_address = host + ":" + std::to_string(l->second);
  }

  actors::node_config cfg;
  std::size_t train_size = 0;
  std::shared_ptr<actors::model_board> board;
  cfg.identity = *id;
  cfg.listen_address = listen_address;
  cfg.data_address = data_address;
  cfg.join = o.join;
  cfg.state_dir = o.state;
  cfg.incarnation = *inc;
  cfg.gossip_interval = o.gossip_interval;
  cfg.duty = std::make_shared<duty_cycle>(default_env(), o.cpu_limit);
  cfg.caps.cpu_limit = static_cast<float>(o.cpu_limit);
  // The machine's speed is measured once a day per machine (not per node
  // process: a box running 100 nodes runs one benchmark) and scaled by this
  // node's cap.
  {
    duty_cycle full(default_env(), 100);
    const double machine = actors::cached_machine_gflops(actors::default_capability_cache(), 86400.0,
                                                         [&] { return actors::measure_gflops(0.3, full); });
    cfg.caps.gflops = machine * o.cpu_limit / 100.0;
  }
  actors::read_os_state(cfg.caps);

  if (o.train) {
    // The trainer publishes its weights for scoring and takes accepted
    // contributions from the pool; scoring uses held-out training samples.
    // The training set's size (for --holdout) from the IDX header alone;
    // the scorer's held-out samples load in the background.
    const std::string dir = o.job.data.empty() ? data::default_data_dir() : o.job.data;
    auto count = data::count_train_samples(dir);
    if (!count) return fail("node", count.err().message);
    train_size = *count;
    if (o.holdout >= train_size) return fail("node", "--holdout must be below the training set size");
    board = std::make_shared<actors::model_board>();
    cfg.pool = std::make_shared<actors::sample_pool>();
    const std::size_t holdout = o.holdout;
    cfg.scorer_role = std::make_shared<actors::scorer>(
        [dir, holdout]() -> result<data::dataset> {
          auto loaded = data::load_dir(dir);
          if (!loaded) return loaded.err();
          auto& train = loaded->train;
          const std::size_t val_n = std::min<std::size_t>(1000, holdout > 0 ? holdout : 1000);
          data::dataset val;
          val.rows = train.rows;
          val.cols = train.cols;
          val.num_classes = train.num_classes;
          const std::size_t from = train.size() - val_n;
          val.images.assign(train.images.begin() + from * train.sample_size(), train.images.end());
          val.labels.assign(train.labels.begin() + from, train.labels.end());
          return val;
        },
        board);
  }
  cfg.watch_dir = o.watch;
  cfg.lie_scores = o.lie_scores;
  cfg.cert = creds.cert;
  cfg.verify_peer = creds.verifier();
  cfg.ledger_authority = std::make_shared<cluster_authority>(creds.cluster);
  cfg.apply_revocation = [cl = creds.cluster, revoked = creds.revoked](const ledger::entry& e) {
    auto r = trust::parse_revocation(cl, e.author, e.subject, e.payload);
    if (!r) {
      spdlog::warn("ignoring revocation entry by {}: {}", ledger::author_short(e), r.err().message);
      return false;
    }
    return static_cast<bool>(revoked->add(*r));
  };

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", 2);
  // CAF's default work-stealing workers poll between jobs: 6.8 % of a core
  // per idle node (N = 4, bench/idle_cpu.sh); the sharing policy's workers
  // block on a condition variable: 0.6 %. Work-stealing with polling cut to
  // 50 ms sleeps measured 0.85 %.
  sys_cfg.set("scheduler.policy", o.scheduler == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
  sys_cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{sys_cfg};
  auto node = actors::spawn_node(sys, cfg, tp);
  tp.set_events(actors::forward_to(sys, node));
  tp.start();
  spdlog::info("node {} (incarnation {}) listening on {}, {:.1f} GFLOP/s at cpu-limit {}%", id_hex(id->id), *inc,
               listen_address, cfg.caps.gflops, o.cpu_limit);
  spdlog::info("cluster '{}': admitted as {}{}, certificate valid for {} more days", creds.cluster.name,
               own->is_operator ? "operator" : trust::roles_to_string(own->roles),
               own->site.empty() ? "" : " at site " + own->site,
               own->is_operator ? std::string("unlimited") : std::to_string(trust::days_left(*own, default_env().unix_seconds())));
  write_file_atomic(o.state + "/address", listen_address);

  // --metrics: /metrics, /api/status and the status page.
  auto train_figures = o.train ? std::make_shared<train_metrics>() : nullptr;
  std::unique_ptr<ops::status_server> status_http;
  if (!o.metrics.empty()) {
    ops::status_sources src;
    src.facts = {"0.1.0", id_hex(id->id), own->site, o.train ? "p2p" : "",
                 ops::link_class_of(listen_address), ops::link_class_of(data_address)};
    src.train = train_figures;
    src.node_status = [&sys, node]() -> nlohmann::json {
      caf::scoped_actor self{sys};
      nlohmann::json out;
      self->request(node, std::chrono::seconds(2), actors::status_atom::value)
          .receive([&](const std::string& s) { out = nlohmann::json::parse(s, nullptr, false); },
                   [&](caf::error&) {});
      return out.is_discarded() ? nlohmann::json() : out;
    };
    auto started = ops::status_server::start(o.metrics, std::move(src));
    if (!started) {
      spdlog::error("{}", started.err().message);
      caf::anon_send(node, actors::stop_atom::value);
      sys.await_all_actors_done();
      tp.stop();
      std::filesystem::remove(o.state + "/address");
      return fail("node", started.err().message);
    }
    status_http = std::move(*started);
    write_file_atomic(o.state + "/metrics_address", status_http->address());
    spdlog::info("status page on http://{}/ (metrics on /metrics)", status_http->address());
  }

  // The service manager (systemd Type=notify): READY once joined (at once
  // for a first node), then WATCHDOG while the node actor answers.
  std::mutex service_mu;
  std::condition_variable service_cv;
  bool service_done = false;
  std::thread service([&, train_figures] {
    const auto wd = ops::watchdog_interval();
    const auto every = wd.count() > 0 ? std::min<std::chrono::microseconds>(wd / 3, std::chrono::seconds(5))
                                      : std::chrono::microseconds(std::chrono::seconds(5));
    bool ready = false;
    caf::scoped_actor self{sys};
    while (true) {
      std::string view;
      self->request(node, std::chrono::seconds(2), actors::peers_atom::value)
          .receive([&](const std::string& v) { view = v; }, [&](caf::error&) {});
      std::size_t alive = 0;
      if (!view.empty()) {
        auto j = nlohmann::json::parse(view, nullptr, false);
        if (j.is_object())
          for (auto& p : j["peers"])
            if (!p.value("self", false) && p.value("state", "") == "alive") ++alive;
        std::string status = std::to_string(alive) + " peers alive";
        if (train_figures && train_figures->training)
          status += "; training step " + std::to_string(train_figures->step.load()) + "/" +
                    std::to_string(train_figures->total_steps.load());
        if (!ready && (o.join.empty() || alive > 0)) {
          ready = true;
          ops::notify_ready(status);
          spdlog::info("ready: {}", status);
        } else if (ready) {
          ops::notify_status(status);
        }
        if (ready) ops::notify_watchdog();  // the node actor answered: alive
      }
      std::unique_lock lock(service_mu);
      if (service_cv.wait_for(lock, ready ? every : std::chrono::microseconds(std::chrono::milliseconds(200)),
                              [&] { return service_done; }))
        break;
    }
  });
  auto stop_service = [&] {
    {
      std::lock_guard lock(service_mu);
      service_done = true;
    }
    service_cv.notify_all();
    if (service.joinable()) service.join();
  };

  int rc = 0;
  trainer_slot trainer;
  node_options job = o;
  if (o.train) {
    job.job.metrics = train_figures;
    job.job.codec = *kernels::parse_codec(o.compress);
    job.job.duty = cfg.duty.get();
    job.job.board = board;
    job.job.pool = cfg.pool;
    job.job.aggregate = *comm::parse_reduce_op(o.aggregate);
    if (o.holdout > 0) job.job.limit = job.job.limit > 0 ? std::min(job.job.limit, train_size - o.holdout)
                                                         : train_size - o.holdout;
  }
  // Starts a trainer with a fresh stop flag (trainer.mu held, or no other thread yet).
  auto start_trainer = [&] {
    trainer.stop = std::make_shared<std::atomic<bool>>(false);
    job.job.stop = trainer.stop;
    trainer.thread = std::thread([&, job] {
      bool drained = false;
      rc = run_trainer(sys, node, job, creds, data_fd, cfg.caps.gflops, &drained);
      if (drained) return;  // a signal or the guest policy: not the end of the job
      // The job is over: stop the node, unless it stays to serve the
      // ledger and score contributions (--stay; then a signal stops it).
      trainer.job_over = true;
      if (!job.stay) kill(getpid(), SIGTERM);
    });
  };
  std::thread guest;
  if (o.train && o.guest.enabled())
    guest = std::thread([&] { run_guest_monitor(trainer, o, node, start_trainer); });
  else if (o.train)
    start_trainer();
  else if (o.guest.enabled())
    spdlog::warn("the --guest-* conditions pause a trainer: without --train they do nothing");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("stopping on signal {}", sig);
  // Drain: the trainer finishes its round, checkpoints and leaves the group.
  ops::notify_stopping(o.train ? "draining: checkpointing the trainer" : "stopping");
  std::thread draining;
  {
    std::lock_guard lock(trainer.mu);
    trainer.stopping = true;
    trainer.stop->store(true);
    draining = std::move(trainer.thread);
  }
  trainer.cv.notify_all();
  if (guest.joinable()) guest.join();
  if (draining.joinable()) draining.join();
  stop_service();
  status_http.reset();
  std::filesystem::remove(o.state + "/metrics_address");
  caf::anon_send(node, actors::stop_atom::value);
  sys.await_all_actors_done();
  tp.stop();
  std::filesystem::remove(o.state + "/address");
  if (data_fd >= 0) ::close(data_fd);
  return rc;
}

std::string table(const std::string& json_text) {
  auto j = nlohmann::json::parse(json_text);
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %-22s %-8s %8s %6s %9s %10s %s\n", "ID", "ADDRESS", "STATE", "GFLOP/s",
                "CORES", "RTT ms", "HEARD s", "PAUSED");
  out += line;
  for (auto& p : j["peers"]) {
    const std::string id = p["id"].get<std::string>().substr(0, 16) + (p["self"].get<bool>() ? " *" : "");
    const std::string rtt = p.contains("rtt_ms") && !p["rtt_ms"].is_null()
                                ? std::to_string(p["rtt_ms"].get<double>()).substr(0, 6)
                                : "-";
    std::snprintf(line, sizeof line, "%-18s %-22s %-8s %8.1f %6d %9s %10.1f ", id.c_str(),
                  p["address"].get<std::string>().c_str(), p["state"].get<std::string>().c_str(),
                  p["capabilities"]["gflops"].get<double>(), p["capabilities"]["cores"].get<int>(), rtt.c_str(),
                  p["last_heard_seconds"].get<double>());
    const std::string paused = p["capabilities"].value("paused", "");
    out += line + (paused.empty() ? std::string("-") : paused) + "\n";
  }
  return out;
}

}  // namespace

CLI::App* add_node_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<node_options>();
  auto* cmd = app.add_subcommand("node", "Run a Hydra peer: join the cluster, advertise capabilities, keep membership");
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (port 0 = any free port)")->capture_default_str()
      ->group("Node");
  cmd->add_option("--join", o->join, "HOST:PORT of any live peer (repeatable)")
      ->group("Cluster");
  cmd->add_option("--state", o->state, "State directory: identity key, membership.cert, incarnation, snapshot")
      ->capture_default_str()
      ->group("Node");
  cmd->add_option("--cluster", o->cluster, "The cluster's public identity (cluster.pub; default STATE/cluster.pub)")
      ->group("Cluster");
  cmd->add_option("--cpu-limit", o->cpu_limit, "Compute at most this percent of the time")
      ->check(CLI::Range(1.0, 100.0))
      ->capture_default_str()
      ->group("Node");
  cmd->add_option("--gossip-interval", o->gossip_interval, "Seconds between gossip rounds")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.05, 10.0))
      ->capture_default_str()
      ->group("Node");
  auto& j = o->job;
  cmd->add_flag("--train", o->train, "Train (with --world trainers) and exit when the job is done")
      ->group("Training");
  cmd->add_option("--backend", o->backend, "p2p (TCP between peers) or mpi (this process is an mpirun rank)")
      ->check(CLI::IsMember({"p2p", "mpi"}))
      ->group("Training");
  cmd->add_option("--world", o->world, "Trainers the job waits for")->check(CLI::Range(1, 1024))
      ->group("Training");
  cmd->add_option("--model", j.model, "Model")->check(CLI::IsMember({"mlp", "cnn"}))
      ->group("Training");
  cmd->add_option("--epochs", j.epochs, "Epochs")->check(CLI::Range(1, 10000))
      ->group("Training");
  cmd->add_option("--batch", j.batch, "Global batch (sum over trainers)")->check(CLI::Range(1, 65536))
      ->group("Training");
  cmd->add_option("--lr", j.lr, "Learning rate")->check(CLI::PositiveNumber)
      ->group("Training");
  cmd->add_option("--optimizer", j.optimizer, "sgd or adam")->check(CLI::IsMember({"sgd", "adam"}))
      ->group("Training");
  cmd->add_option("--seed", j.seed, "Seed (same on every trainer)")
      ->group("Training");
  cmd->add_option("--data", j.data, "IDX folder")
      ->group("Training");
  cmd->add_option("--limit", j.limit, "Train on the first N samples")
      ->group("Training");
  cmd->add_flag("--standardize,!--no-standardize", j.standardize,
                "Standardise inputs with the training set's pixel mean and std (default on)")
      ->group("Training");
  cmd->add_option("--threads", j.threads, "Compute threads")->check(CLI::Range(1, 1024))
      ->group("Training");
  cmd->add_option("--mode", j.mode, "sync or local")->check(CLI::IsMember({"sync", "local"}))
      ->group("Training");
  cmd->add_option("--local-steps", j.local_steps, "H: local steps between syncs (local mode)")->check(CLI::Range(1, 100000))
      ->group("Training");
  cmd->add_option("--outer-lr", j.outer_lr, "Outer learning rate (local mode)")->check(CLI::PositiveNumber)
      ->group("Training");
  cmd->add_option("--policy", j.policy, "Job sizing: uniform, model or adaptive")
      ->check(CLI::IsMember({"uniform", "model", "adaptive"}))
      ->group("Training");
  cmd->add_option("--checkpoint-every", j.checkpoint_every, "Steps between checkpoints (state dir/checkpoint.bin)")
      ->check(CLI::Range(1, 1000000))
      ->group("Training");
  cmd->add_option("--compress", o->compress, "none, fp16, int8 or topk")
      ->check(CLI::IsMember({"none", "fp16", "int8", "topk"}))
      ->group("Training");
  cmd->add_option("--aggregate", o->aggregate,
                  "How updates are combined: mean, or the Byzantine-robust trimmed-mean, median, mean-around-median or filtered-mean (p2p, codec none)")
      ->check(CLI::IsMember({"mean", "trimmed-mean", "median", "mean-around-median", "filtered-mean"}))
      ->capture_default_str()
      ->group("Training");
  cmd->add_option("--attack", j.attack, "Drill: this trainer poisons its updates (sign-flip or scale)")
      ->check(CLI::IsMember({"sign-flip", "scale"}))
      ->group("Training");
  cmd->add_option("--holdout", o->holdout,
                  "Hold back the last N training samples (scorers validate on the last 1000 of them)")
      ->group("Training");
  cmd->add_option("--metrics", o->metrics,
                  "HOST:PORT to serve Prometheus /metrics and the status page on (plain HTTP, read-only: "
                  "bind it to loopback or a management network; port 0 = any free port, written to STATE/metrics_address)")
      ->group("Node");
  cmd->add_option("--watch", o->watch, "Take in contributions dropped into this folder (as this node)")
      ->group("Node");
  cmd->add_flag("--stay", o->stay, "With --train: keep serving the ledger and scoring after the job")
      ->group("Node");
  cmd->add_option("--scheduler", o->scheduler,
                  "CAF scheduler: sharing (workers sleep when idle) or stealing (CAF's default; polls)")
      ->check(CLI::IsMember({"sharing", "stealing"}))
      ->envname("HYDRA_SCHEDULER")
      ->capture_default_str()
      ->group("Node");
  cmd->add_flag("--lie-scores", o->lie_scores, "Drill: report inverted quality scores (to watch scorer trust work)")
      ->group("Node");
  // Guest: the node trains only while the machine's owner does not need it
  // (BOINC's computing preferences). Each condition is off until set.
  auto& g = o->guest;
  cmd->add_option("--guest-idle-seconds", g.idle_seconds,
                  "Pause training while the machine is in use: train only once the keyboard and mouse have been idle "
                  "this long (their interrupts in /proc/interrupts; the node starts paused); 0 = off")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group("Guest");
  cmd->add_option("--guest-input-irqs", o->guest_input_irqs,
                  "Comma list of /proc/interrupts names that count as keyboard/mouse for --guest-idle-seconds. "
                  "(Tests and drills: $HYDRA_GUEST_PROBE_FILE names a JSON file whose facts override the machine's, "
                  "see actors/guest.hpp)")
      ->capture_default_str()
      ->group("Guest");
  cmd->add_option("--guest-max-other-cpu", g.max_other_cpu,
                  "Pause training while other processes use more than this percent of the machine's CPU "
                  "(all cores = 100, averaged over 10 s; this node's own use does not count); 0 = off")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str()
      ->group("Guest");
  cmd->add_flag("--guest-on-battery", g.on_battery, "Pause training while the machine runs on battery")
      ->group("Guest");
  cmd->add_option("--guest-hours", g.hours,
                  "Train only within these local hours, e.g. 18:00-07:00 (may wrap midnight; a comma list for several "
                  "windows); default any time")
      ->type_name("HH:MM-HH:MM")
      ->check([](const std::string& s) {
        auto h = actors::parse_hours(s);
        return h ? std::string() : h.err().message;
      })
      ->group("Guest");
  cmd->add_option("--guest-resume-after", g.resume_after,
                  "Resume a paused trainer once every guest condition has been clear this long (it rejoins the group "
                  "from its checkpoint)")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group("Guest");
  add_log_options(*cmd, o->log, "Node");
  cmd->callback([o, &exit_code] { exit_code = run_node(*o); });
  return cmd;
}

CLI::App* add_ctl_command(CLI::App& app, int& exit_code) {
  struct opts {
    std::string connect;
    std::string as, cluster;
    bool json = false;
    double timeout = 5;
    result<std::string> ask(const std::string& command, const std::vector<std::string>& args) const {
      auto creds = actors::load_client_credentials(as, cluster);
      if (!creds) return creds.err();
      return actors::ctl_request(*creds, connect, command, args, timeout);
    }
  };
  auto o = std::make_shared<opts>();
  auto* cmd = app.add_subcommand("ctl", "Ask a running node (admin commands)");
  cmd->add_option("--connect", o->connect, "HOST:PORT of the node")->required();
  cmd->add_option("--as", o->as,
                  "Who asks: an operator folder (hydra operator init), a node's state folder, or a key file with "
                  "KEYFILE.cert; changing commands need an operator or an admin certificate")
      ->envname("HYDRA_AS");
  cmd->add_option("--cluster", o->cluster, "cluster.pub (default: the one in the --as folder)");
  cmd->add_option("--timeout", o->timeout, "Seconds to wait for the answer")->capture_default_str();
  cmd->require_subcommand(1);
  auto setting = std::make_shared<std::pair<std::string, std::string>>();
  auto* set = cmd->add_subcommand("set", "Steer the node: set cpu-limit PCT");
  set->add_option("name", setting->first, "Setting (cpu-limit)")->required()->check(CLI::IsMember({"cpu-limit"}));
  set->add_option("value", setting->second, "New value")->required();
  set->callback([o, setting, &exit_code] {
    auto r = o->ask("set", {setting->first, setting->second});
    if (!r) {
      exit_code = fail("ctl", r.err().message);
      return;
    }
    std::printf("%s\n", r->c_str());
    exit_code = 0;
  });
  auto largs = std::make_shared<std::vector<std::string>>();
  auto* led = cmd->add_subcommand("ledger", "The node's ledger replica: summary, balances, append KIND SUBJECT AMOUNT [PAYLOAD]");
  led->add_option("args", *largs, "summary | balances | append KIND SUBJECT AMOUNT [PAYLOAD]")->required();
  led->callback([o, largs, &exit_code] {
    auto r = o->ask("ledger", *largs);
    if (!r) {
      exit_code = fail("ctl", r.err().message);
      return;
    }
    std::printf("%s\n", r->c_str());
    exit_code = 0;
  });
  auto* contrib = cmd->add_subcommand("contributions", "The node's collector: pending, decided, scorer trust");
  contrib->callback([o, &exit_code] {
    auto r = o->ask("contributions", {});
    if (!r) {
      exit_code = fail("ctl", r.err().message);
      return;
    }
    std::printf("%s\n", r->c_str());
    exit_code = 0;
  });
  auto* peers = cmd->add_subcommand("peers", "The node's membership view: id, address, state, capabilities");
  peers->add_flag("--json", o->json, "Print the raw JSON");
  peers->callback([o, &exit_code] {
    auto r = o->ask("peers", {});
    if (!r) {
      exit_code = fail("ctl", r.err().message);
      return;
    }
    std::fputs(o->json ? (*r + "\n").c_str() : table(*r).c_str(), stdout);
    exit_code = 0;
  });
  return cmd;
}

}  // namespace hydra::apps
