// `hydra demo`: N node processes on 127.0.0.1, each joined through the one
// started before it; waits until every node sees every other alive, prints
// the membership table, and cleans up every process on exit or Ctrl-C.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "actors/collector.hpp"
#include "actors/credentials.hpp"
#include "actors/ctl_client.hpp"
#include "trust/cert.hpp"
#include "common/rng.hpp"
#include "data/contribution.hpp"
#include "data/idx.hpp"
#include "ledger/log.hpp"
#include "ledger/quorum.hpp"
#include "wire/identity.hpp"
#include "apps/ledger_cmd.hpp"
#include "apps/node_cmd.hpp"
#include "apps/progress.hpp"
#include "ops/plot.hpp"
#include "common/env.hpp"

namespace hydra::apps {
namespace {

namespace fs = std::filesystem;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// ---- the demo's own cluster ------------------------------------------------------
// The demo is its own operator: it creates DIR/operator (key + cluster.pub)
// and admits every node's state folder and every contributor key before
// starting them, exactly as `hydra operator init` / `admit` would.

struct demo_cluster {
  std::string dir;  ///< DIR/operator
  wire::identity op;
  trust::cluster cluster;
  actors::credentials creds;  ///< the operator's, for ctl requests
};
demo_cluster* g_cluster = nullptr;

result<demo_cluster> make_demo_cluster(const std::string& base) {
  demo_cluster d;
  d.dir = base + "/operator";
  fs::create_directories(d.dir);
  fs::permissions(d.dir, fs::perms::owner_all, fs::perm_options::replace);
  auto op = wire::load_or_create_key_file(d.dir + "/operator.key");
  if (!op) return op.err();
  d.op = *op;
  const std::string pub = d.dir + "/cluster.pub";
  if (fs::exists(pub)) {
    auto cl = trust::load_cluster(pub);
    if (!cl) return cl.err();
    d.cluster = *cl;
  } else {
    d.cluster = trust::make_cluster("demo", d.op.pk);
    auto bytes = trust::encode_cluster(d.cluster, d.op);
    if (!bytes) return bytes.err();
    if (auto st = trust::write_file_atomic(pub, *bytes, 0644); !st) return st.err();
  }
  auto creds = actors::load_client_credentials(d.dir);
  if (!creds) return creds.err();
  d.creds = std::move(*creds);
  return d;
}

/// Writes CERT_PATH (and cluster.pub into FOLDER) for `pk` with `roles`.
status demo_admit(const wire::public_key& pk, const std::string& cert_path, const std::string& folder,
                  std::uint32_t roles) {
  if (!g_cluster) return {};
  const auto now = default_env().unix_seconds();
  auto cert = trust::issue_cert(g_cluster->op, g_cluster->cluster, pk, roles, now - 60, now + 30 * 86400);
  if (!cert) return cert.err();
  if (auto st = trust::write_file_atomic(cert_path, *cert, 0644); !st) return st.err();
  std::error_code ec;
  fs::copy_file(g_cluster->dir + "/cluster.pub", folder + "/cluster.pub", fs::copy_options::overwrite_existing, ec);
  if (ec) return make_error(errc::io, folder + "/cluster.pub: " + ec.message());
  return {};
}

status admit_node_dir(const std::string& dir) {
  auto id = wire::load_or_create_identity(dir);
  if (!id) return id.err();
  return demo_admit(id->pk, dir + "/membership.cert", dir, trust::all_node_roles);
}

result<std::string> demo_ctl(const std::string& address, const std::string& command,
                             const std::vector<std::string>& args = {}, double timeout = 5.0) {
  if (!g_cluster) return make_error(errc::internal, "no demo cluster");
  return actors::ctl_request(g_cluster->creds, address, command, args, timeout);
}

struct demo_options {
  int nodes = 4;
  std::string state;
  double duration = -1;  // < 0: until Ctrl-C
  bool json = false;
  bool no_train = false;          // membership only
  bool churn = false;             // kill -9 node 1 at 30%, fresh node at 50%, node 1 back at 60%
  std::string backend = "p2p";
  std::vector<double> cpu_limits;  // one per node (the last repeats); empty = 100
  std::vector<std::string> train;  // flags passed to every `hydra node --train`
  std::string contributors;        // "honest:3,label-flip:1,duplicate:1,garbage:1"
  std::string attack;              // node 1 poisons its updates: sign-flip or scale
  bool lying_scorer = false;       // the last node reports inverted scores
  int per_contributor = 4;         // contributions each simulated contributor makes
  int contribution_size = 250;     // samples per contribution
  bool no_metrics = false;         // nodes serve no status page / metrics
  std::string plot;                // training curves written here at the end ("-" = none)
};

// ---- simulated contributors ---------------------------------------------------

pid_t spawn(std::vector<std::string> args, const std::string& log);

struct contributor_sim {
  std::string name, kind, key, log;
  std::vector<std::string> files;
  pid_t pid = -1;
  bool started = false;
  std::string account;
};

/// Holdout used when contributors run: the last 1000 training samples are the
/// scorers' validation set, the 11000 before them the contributors' pool.
constexpr std::size_t contributor_holdout = 12000;

/// Writes every simulated contributor's files (and key) under base/contributors.
result<std::vector<contributor_sim>> prepare_contributors(const demo_options& o, const std::string& base,
                                                         const std::string& data_dir) {
  std::vector<std::pair<std::string, int>> spec;
  std::string text = o.contributors;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(at, comma - at);
    at = comma + 1;
    const auto colon = item.find(':');
    const std::string kind = item.substr(0, colon);
    int count = 1;
    if (colon != std::string::npos) {
      try {
        count = std::stoi(item.substr(colon + 1));
      } catch (...) {
        count = -1;
      }
    }
    if (kind != "honest" && kind != "label-flip" && kind != "duplicate" && kind != "garbage")
      return make_error(errc::invalid_input, "--contributors: unknown kind '" + kind +
                                                 "' (honest, label-flip, duplicate, garbage)");
    if (count < 1 || count > 16) return make_error(errc::invalid_input, "--contributors: bad count in '" + item + "'");
    spec.emplace_back(kind, count);
  }
  auto loaded = data::load_dir(data_dir);
  if (!loaded) return loaded.err();
  const data::dataset& train = loaded->train;
  if (train.size() <= contributor_holdout) return make_error(errc::invalid_input, "training set too small for contributors");
  const std::size_t pool_from = train.size() - contributor_holdout, pool_to = train.size() - 1000;
  std::size_t next = pool_from;
  const std::size_t per = static_cast<std::size_t>(o.contribution_size);
  std::vector<contributor_sim> out;
  std::vector<std::string> honest_files;  // what duplicators copy
  rng random(42);
  const std::string dir = base + "/contributors";
  fs::create_directories(dir);
  auto write = [](const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
  };
  // Honest and label-flip data first (duplicators need the honest files).
  for (const char* pass : {"honest", "label-flip", "duplicate", "garbage"}) {
    for (auto& [kind, count] : spec) {
      if (kind != pass) continue;
      for (int c = 0; c < count; ++c) {
        contributor_sim sim;
        sim.kind = kind;
        sim.name = kind + "-" + std::to_string(c);
        sim.key = dir + "/" + sim.name + ".key";
        sim.log = dir + "/" + sim.name + ".log";
        auto id = wire::load_or_create_key_file(sim.key);
        if (!id) return id.err();
        if (auto st = demo_admit(id->pk, sim.key + ".cert", dir, trust::role_contributor); !st) return st.err();
        sim.account = actors::account_of(id->pk);
        for (int k = 0; k < o.per_contributor; ++k) {
          const std::string f = dir + "/" + sim.name + "-" + std::to_string(k) + ".csv";
          if (kind == "honest" || kind == "label-flip") {
            if (next + per > pool_to) return make_error(errc::invalid_input, "too many contributions for the held-out pool");
            data::dataset part = train;
            if (kind == "label-flip") {
              part.labels.assign(train.labels.begin(), train.labels.end());
              for (std::size_t i = next; i < next + per; ++i)
                part.labels[i] = static_cast<std::uint8_t>((train.labels[i] + 1 + random.below(9)) % 10);
            }
            write(f, data::to_csv(part, next, next + per));
            next += per;
            if (kind == "honest") honest_files.push_back(f);
          } else if (kind == "duplicate") {
            if (honest_files.empty()) return make_error(errc::invalid_input, "duplicate contributors need honest ones");
            // Copies of honest contributions — those of the next honest
            // contributor, which went to another collector — byte-exact or
            // with a little noise.
            std::ifstream in(honest_files[((c + 1) * o.per_contributor + k) % honest_files.size()], std::ios::binary);
            std::string csv((std::istreambuf_iterator<char>(in)), {});
            if (k % 2 == 1) {
              auto d = data::parse_contribution("csv", {{"x.csv", csv}});
              if (d) {
                for (auto& v : d->images) {
                  const int px = static_cast<int>(std::lround(v * 255)) + static_cast<int>(random.below(9)) - 4;
                  v = std::clamp(px, 0, 255) / 255.0f;
                }
                csv = data::to_csv(*d, 0, d->size());
              }
            }
            write(f, csv);
          } else {
            // Malformed files, a different fault each time.
            std::string bad;
            switch (k % 4) {
              case 0: bad = data::to_csv(train, pool_to, pool_to + 5); bad.resize(bad.size() / 2); break;
              case 1: bad = "label,p0\n3," + std::string(783, '1') + "\n"; break;
              case 2: {
                // Good lines, then one with a label out of range and one with a pixel of 300.
                bad = data::to_csv(train, pool_to, pool_to + 3);
                bad += "12";
                for (int px = 0; px < 784; ++px) bad += ",0";
                bad += "\n4";
                for (int px = 0; px < 784; ++px) bad += px == 400 ? ",300" : ",7";
                bad += "\n";
                break;
              }
              default:
                for (int b = 0; b < 4096; ++b) bad.push_back(static_cast<char>(random.below(256)));
            }
            write(f, bad);
          }
          sim.files.push_back(f);
        }
        out.push_back(std::move(sim));
      }
    }
  }
  return out;
}

pid_t start_contributor(const std::string& exe, contributor_sim& c, const std::string& collector) {
  std::vector<std::string> args = {exe, "contribute", "--connect", collector, "--as", c.key, "--json",
                                   "--every", "0.5", "--timeout", "120"};
  args.insert(args.end(), c.files.begin(), c.files.end());
  c.started = true;
  return c.pid = spawn(std::move(args), c.log);
}

/// The contributors' standing as one ledger replica records it.
nlohmann::json contributor_report(const std::vector<contributor_sim>& sims, const std::vector<ledger::entry>& entries,
                                  const std::map<std::string, std::int64_t>& balances) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : sims) {
    std::uint64_t contributions = 0, accepted = 0, rejected = 0, acc_samples = 0, rej_samples = 0, submitted = 0;
    double score_sum = 0;
    int scored = 0;
    for (const auto& e : entries) {
      if (e.subject != c.account) continue;
      auto pay = nlohmann::json::parse(e.payload, nullptr, false);
      if (!pay.is_object()) continue;
      if (e.k == ledger::kind::contribution) {
        ++contributions;
        submitted += pay.value("submitted", 0);
        if (pay.value("status", "") != "validated") ++rejected;  // invalid or duplicate flood
      } else if (e.k == ledger::kind::reward && pay.value("status", "") == "accepted") {
        ++accepted;
        acc_samples += pay.value("samples", 0);
        score_sum += pay.value("score", 0.0);
        ++scored;
      } else if (e.k == ledger::kind::penalty) {
        const std::string st = pay.value("status", "");
        if (st == "rejected" || st == "undecided") {
          ++rejected;
          if (pay.contains("score")) {
            score_sum += pay.value("score", 0.0);
            ++scored;
          }
        }
        rej_samples += pay.value("samples", 0);
      }
    }
    const auto b = balances.find(c.account);
    const std::int64_t milli = b == balances.end() ? 0 : b->second;
    list.push_back({{"name", c.name},
                    {"kind", c.kind},
                    {"account", c.account},
                    {"contributions", contributions},
                    {"accepted", accepted},
                    {"rejected", rejected},
                    {"submitted_samples", submitted},
                    {"accepted_samples", acc_samples},
                    {"rejected_samples", rej_samples},
                    {"mean_score", scored ? nlohmann::json(score_sum / scored) : nlohmann::json(nullptr)},
                    {"balance", double(milli) / 1000.0}});
  }
  return list;
}

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("hydra") : p.string();
}

/// Starts `args` (args[0] looked up on PATH) with stdout and stderr appended
/// to `log`; the child dies with the demo even if the demo is killed -9.
pid_t spawn(std::vector<std::string> args, const std::string& log) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  _exit(127);
}

pid_t start_node(const std::string& exe, const std::string& dir, const std::string& join,
                 const std::vector<std::string>& extra) {
  fs::create_directories(dir);
  if (auto st = admit_node_dir(dir); !st) {
    std::fprintf(stderr, "hydra demo: error: admitting %s: %s\n", dir.c_str(), st.err().message.c_str());
    return -1;
  }
  std::error_code ec;
  fs::remove(dir + "/address", ec);  // a killed run's address is stale
  std::vector<std::string> args = {exe, "node", "--listen", "127.0.0.1:0", "--state", dir};
  if (!join.empty()) {
    args.push_back("--join");
    args.push_back(join);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return spawn(std::move(args), dir + "/node.log");
}

std::string wait_for_address(const std::string& dir, pid_t pid, double timeout) {
  env& e = default_env();
  const auto t0 = e.now();
  while (seconds_between(t0, e.now()) < timeout && !g_stop) {
    std::ifstream f(dir + "/address");
    std::string a;
    if (f && std::getline(f, a) && !a.empty()) return a;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

int alive_count(const std::string& json_text) {
  int n = 0;
  const auto view = nlohmann::json::parse(json_text);  // not a temporary: the loop outlives it
  for (auto& p : view["peers"]) n += p["state"] == "alive";
  return n;
}

/// Training demo: every node trains and exits; collect their results.
/// The nodes' result.json files folded into the demo's answer.
struct job_results {
  nlohmann::json first;  // the first result read: the job's figures
  std::uint64_t bytes = 0, restarts = 0, finished = 0;
  bool agree = true;

  /// Reads one node's result; false when it left none (or a broken one).
  bool add(const std::string& path) {
    std::ifstream f(path);
    if (!f) return false;
    std::string text((std::istreambuf_iterator<char>(f)), {});
    auto r = nlohmann::json::parse(text, nullptr, false);
    if (r.is_discarded() || !r.contains("weights_hash")) return false;
    if (first.is_null()) first = r;
    ++finished;
    bytes += r["bytes_sent"].get<std::uint64_t>();
    restarts = std::max(restarts, r["restarts"].get<std::uint64_t>());
    agree &= r["weights_hash"] == first["weights_hash"];
    return true;
  }

  /// The fields every backend reports.
  nlohmann::json summary(int nodes, const char* backend, double seconds) const {
    const auto& r0 = first;
    const double samples = r0["samples"].get<double>();
    return {{"nodes", nodes},
            {"backend", backend},
            {"mode", r0["mode"]},
            {"compress", r0["compress"]},
            {"test_accuracy", r0["test_accuracy"]},
            {"final_loss", r0["final_loss"]},
            {"rounds", r0["rounds"]},
            {"samples", r0["samples"]},
            {"bytes_sent", bytes},
            {"bytes_per_sample", bytes / std::max(samples, 1.0)},
            {"seconds", seconds},
            {"weights_hash", r0["weights_hash"]},
            {"replicas_agree", agree},
            {"restarts", restarts},
            {"failed_rounds", r0["failed_rounds"]},
            {"peers_lost", r0["peers_lost"]}};
  }
};

double progress_of(const std::string& dir) {
  std::ifstream f(dir + "/progress");
  double step = 0, total = 0;
  if (f >> step >> total && total > 0) return step / total;
  return 0;
}

template <class Cleanup>
int finish_training(const demo_options& o, const std::string& base, std::vector<pid_t>& pids,
                    const std::vector<std::string>& addrs, Cleanup& cleanup, std::vector<contributor_sim>& sims) {
  env& e = default_env();
  const auto t0 = e.now();
  int failed = 0;
  int nodes = o.nodes;
  // Churn script: which processes are expected to be killed.
  std::vector<bool> killed(pids.size(), false);
  bool did_kill = false, did_join = false, did_restart = false;
  const std::string exe = self_exe();
  auto alive = [&] {
    for (std::size_t i = 0; i < pids.size(); ++i)
      if (pids[i] > 0) return true;
    return false;
  };
  progress_bar bar(e, "train", 1000, !o.json);
  auto all_results = [&] {
    for (int i = 0; i < nodes; ++i)
      if (!fs::exists(base + "/node-" + std::to_string(i) + "/result.json")) return false;
    return true;
  };
  // With contributors the nodes stay after the job (--stay) to finish
  // scoring; the demo stops them once the results are in.
  while (!g_stop && alive() && !(!sims.empty() && all_results())) {
    // Contributors: honest and label-flip at once, duplicators once the
    // honest contributor they copy has finished, garbage at 10 %.
    if (!sims.empty()) {
      const double p = progress_of(base + "/node-0");
      bool honest_done = true;
      for (auto& c : sims)
        if (c.kind == "honest" && (!c.started || c.pid > 0)) honest_done = false;
      for (std::size_t i = 0; i < sims.size(); ++i) {
        auto& c = sims[i];
        if (c.started) continue;
        if (c.kind == "honest" || c.kind == "label-flip" || (c.kind == "garbage" && p >= 0.1) ||
            (c.kind == "duplicate" && honest_done))
          start_contributor(exe, c, addrs[i % addrs.size()]);
      }
      for (auto& c : sims) {
        int status;
        if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == c.pid) c.pid = -1;
      }
    }
    {
      std::ifstream f(base + "/node-0/progress");
      double step = 0, total = 0, loss = 0, sps = 0, peers = 0;
      if (f >> step >> total >> loss >> sps >> peers && total > 0) {
        char status[160];
        std::snprintf(status, sizeof status, "round %.0f/%.0f  loss %.4f  %.0f samples/s  %.0f peers", step, total,
                      loss, sps, peers);
        bar.update(static_cast<std::size_t>(1000 * step / total), status);
      }
    }
    for (std::size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      if (pids[i] <= 0 || waitpid(pids[i], &status, WNOHANG) != pids[i]) continue;
      if (!killed[i] && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        std::fprintf(stderr, "hydra demo: a node failed (see %s/node-*/node.log)\n", base.c_str());
        ++failed;
      }
      pids[i] = -1;
    }
    if (o.churn && nodes >= 2) {
      const double p = progress_of(base + "/node-0");
      // The group size node 0 trains in now (5th field of its progress):
      // each step of the drill waits for the previous one to show, so two
      // events never fold into one re-formed group.
      double group = 0;
      {
        std::ifstream f(base + "/node-0/progress");
        double a, b, c, d;
        if (!(f >> a >> b >> c >> d >> group)) group = 0;
      }
      if (!did_kill && p >= 0.3) {
        did_kill = true;
        kill(pids[1], SIGKILL);
        killed[1] = true;
        if (!o.json) std::fprintf(stderr, "churn: kill -9 node 1 at %.0f%%\n", 100 * p);
      }
      if (did_kill && !did_join && p >= 0.5 && group > 0 && group < o.nodes) {
        did_join = true;
        const std::string dir = base + "/node-" + std::to_string(nodes);
        pids.push_back(start_node(exe, dir, addrs.front(), o.train));
        killed.push_back(false);
        ++nodes;
        if (!o.json) std::fprintf(stderr, "churn: fresh node %d joins at %.0f%%\n", nodes - 1, 100 * p);
      }
      if (did_join && !did_restart && p >= 0.6 && group >= o.nodes) {
        did_restart = true;
        pids.push_back(start_node(exe, base + "/node-1", "", o.train));  // rejoins from its snapshot
        killed.push_back(false);
        if (!o.json) std::fprintf(stderr, "churn: node 1 restarts at %.0f%%\n", 100 * p);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  bar.finish("done");
  nlohmann::json contributors_json, ledger_json;
  if (!sims.empty() && !g_stop && !failed) {
    // Contributors still submitting finish (the nodes keep scoring); then the
    // ledger replicas converge by anti-entropy.
    for (std::size_t i = 0; i < sims.size(); ++i)
      if (!sims[i].started) start_contributor(exe, sims[i], addrs[i % addrs.size()]);
    const auto t1 = e.now();
    for (auto& c : sims) {
      int status;
      while (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == 0 && seconds_between(t1, e.now()) < 180 && !g_stop)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == 0) kill(c.pid, SIGKILL), waitpid(c.pid, &status, 0);
      c.pid = -1;
    }
    bool converged = false;
    std::size_t entries = 0;
    const auto t2 = e.now();
    while (!g_stop && seconds_between(t2, e.now()) < 30) {
      std::set<std::string> views;
      std::size_t answered = 0;
      for (std::size_t i = 0; i < addrs.size(); ++i) {
        auto r = demo_ctl(addrs[i], "ledger", {"summary"}, 3.0);
        if (!r) continue;
        auto j = nlohmann::json::parse(*r, nullptr, false);
        if (!j.is_object()) continue;
        ++answered;
        entries = j["entries"].get<std::size_t>();
        views.insert(j["heads"].dump());
      }
      if (answered == addrs.size() && views.size() == 1) {
        converged = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    // Node 0's replica, read once: contributors' standing, nodes' compute
    // credits, scorers' trust (ledger/quorum.hpp).
    std::vector<ledger::entry> stored;
    if (auto all = ledger::read_log(base + "/node-0/ledger.log")) stored = std::move(*all);
    std::map<std::string, std::int64_t> balances;
    const cluster_authority auth(g_cluster->cluster);
    if (auto folded = ledger::fold(stored, &auth)) balances = folded->balances();
    contributors_json = contributor_report(sims, stored, balances);
    ledger::trust_table tt(ledger::quorum_rule{}.tolerance, &auth);
    for (const auto& en : stored) tt.observe(en);
    nlohmann::json node_credits = nlohmann::json::object(), trust = nlohmann::json::object();
    for (int i = 0; i < nodes; ++i) {
      auto id = wire::load_or_create_identity(base + "/node-" + std::to_string(i));
      if (!id) continue;
      const std::string name = "node-" + std::to_string(i);
      const auto b = balances.find(id_hex(id->id));
      node_credits[name] = b == balances.end() ? 0.0 : double(b->second) / 1000.0;
      trust[name] = {{"trust", tt.trust(id->pk)}, {"agreed", tt.agreed(id->pk)}, {"outvoted", tt.outvoted(id->pk)}};
    }
    ledger_json = {{"entries", entries}, {"replicas", addrs.size()}, {"replicas_agree", converged},
                   {"compute_credits", node_credits}, {"scorers", trust}};
    if (!o.json) {
      std::printf("%-14s %-10s %8s %8s %10s %10s %12s\n", "CONTRIBUTOR", "KIND", "ACCEPTED", "REJECTED", "SAMPLES OK",
                  "MEAN SCORE", "BALANCE");
      for (auto& c : contributors_json)
        std::printf("%-14s %-10s %8llu %8llu %10llu %10s %12.3f\n", c["name"].get<std::string>().c_str(),
                    c["kind"].get<std::string>().c_str(), (unsigned long long)c["accepted"].get<std::uint64_t>(),
                    (unsigned long long)c["rejected"].get<std::uint64_t>(),
                    (unsigned long long)c["accepted_samples"].get<std::uint64_t>(),
                    c["mean_score"].is_null() ? "-" : std::to_string(c["mean_score"].get<double>()).substr(0, 5).c_str(),
                    c["balance"].get<double>());
      std::printf("ledger: %zu entries on %zu replicas, %s\n", entries, addrs.size(),
                  converged ? "identical" : "NOT converged");
    }
  }
  std::erase(pids, -1);
  if (g_stop || failed) {
    cleanup();
    return 1;
  }
  job_results res;
  for (int i = 0; i < nodes; ++i) {
    if (!res.add(base + "/node-" + std::to_string(i) + "/result.json")) {
      std::fprintf(stderr, "hydra demo: a node left no result\n");
      cleanup();
      return 1;
    }
  }
  const auto& r0 = res.first;
  const bool agree = res.agree;
  const double samples = r0["samples"].get<double>();
  const std::uint64_t bytes = res.bytes;
  nlohmann::json j = res.summary(o.nodes, "p2p", seconds_between(t0, e.now()));
  j["train_seconds"] = r0["seconds"];
  j["resumed_from_step"] = r0.value("resumed_from_step", 0);
  j["policy"] = r0.value("policy", "uniform");
  j["mean_round_seconds"] = r0.value("mean_round_seconds", 0.0);
  j["ideal_round_seconds"] = r0.value("ideal_round_seconds", 0.0);
  j["groups"] = r0["groups"];
  j["peers_joined"] = r0["peers_joined"];
  j["aggregate"] = r0.value("aggregate", "mean");
  j["attack"] = o.attack.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.attack);
  if (!sims.empty()) {
    j["contributors"] = contributors_json;
    j["ledger"] = ledger_json;
    std::uint64_t trained = 0;
    for (int i = 0; i < nodes; ++i) {
      std::ifstream f(base + "/node-" + std::to_string(i) + "/result.json");
      auto r = nlohmann::json::parse(f, nullptr, false);
      if (r.is_object()) trained += r.value("contributed_samples_trained", 0);
    }
    j["contributed_samples_trained"] = trained;
  }
  // The training curves of every node, as `hydra plot` draws them.
  std::string plot_note;
  // (--json without --plot or --state: no file appears in the working folder.)
  if (o.plot != "-" && (!o.plot.empty() || !o.state.empty() || !o.json)) {
    const std::string out = !o.plot.empty() ? o.plot : !o.state.empty() ? base + "/training.svg" : "hydra-demo-training.svg";
    auto fmt = ops::format_for_path(out);
    auto drawn = fmt ? ops::plot_files({base}, *fmt, ops::figure_options{.title = "hydra demo: " + std::to_string(o.nodes) + " nodes"})
                     : result<ops::plot_summary>(fmt.err());
    if (drawn) {
      const std::string tmp = out + ".tmp";
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << drawn->bytes;
      f.close();
      if (f && std::rename(tmp.c_str(), out.c_str()) == 0) {
        j["plot"] = fs::absolute(out).string();
        plot_note = "training curves: " + fs::absolute(out).string();
      } else {
        std::remove(tmp.c_str());
        plot_note = "could not write the plot to " + out;
      }
    } else {
      plot_note = "no plot: " + drawn.err().message;
    }
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%d nodes trained %s mode (%s): test accuracy %.2f%%, %llu rounds, %.0f samples, %.1f MB sent, "
                "replicas %s\n",
                o.nodes, r0["mode"].get<std::string>().c_str(), r0["compress"].get<std::string>().c_str(),
                100 * r0["test_accuracy"].get<double>(), (unsigned long long)r0["rounds"].get<std::uint64_t>(),
                samples, bytes / 1e6, agree ? "agree" : "DISAGREE");
    if (!plot_note.empty()) std::printf("%s\n", plot_note.c_str());
  }
  cleanup();
  return agree ? 0 : 1;
}

/// `--backend mpi`: the nodes are the ranks of one mpirun job on loopback.
int run_mpi_demo(const demo_options& o, const std::string& base) {
  std::vector<std::string> args = {"mpirun", "--allow-run-as-root", "--oversubscribe", "--enable-recovery", "-np",
                                   std::to_string(o.nodes), "--mca", "pml", "ob1", "--mca", "btl", "tcp,self",
                                   "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
                                   self_exe(), "node", "--backend", "mpi", "--state", base};
  for (std::size_t i = 0; i < o.train.size(); ++i) {
    if (o.train[i] == "--world") {
      ++i;  // the world is mpirun's -np
      continue;
    }
    args.push_back(o.train[i]);
  }
  const pid_t pid = spawn(std::move(args), base + "/mpirun.log");
  env& e = default_env();
  const auto t0 = e.now();
  progress_bar bar(e, "train", 1000, !o.json);
  bool killed = false;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (g_stop) {
      kill(pid, SIGTERM);
      waitpid(pid, &status, 0);
      return 1;
    }
    std::ifstream f(base + "/rank-0/progress");
    double step = 0, total = 0, loss = 0, sps = 0, ranks = 0;
    if (f >> step >> total >> loss >> sps >> ranks && total > 0) {
      char line[160];
      std::snprintf(line, sizeof line, "round %.0f/%.0f  loss %.4f  %.0f ranks", step, total, loss, ranks);
      bar.update(static_cast<std::size_t>(1000 * step / total), line);
      if (o.churn && !killed && step / total >= 0.3 && o.nodes >= 2) {
        std::ifstream pf(base + "/rank-1/pid");
        pid_t victim = 0;
        if (pf >> victim && victim > 0) {
          kill(victim, SIGKILL);
          killed = true;
          if (!o.json) std::fprintf(stderr, "churn: kill -9 rank 1 at %.0f%%\n", 100 * step / total);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  bar.finish("done");
  // mpirun's exit status hides rank failures: trust the ranks' result files.
  job_results res;
  for (int r = 0; r < o.nodes; ++r) res.add(base + "/rank-" + std::to_string(r) + "/result.json");
  if (!res.finished) {
    std::fprintf(stderr, "hydra demo: no rank finished (see %s/mpirun.log)\n", base.c_str());
    return 1;
  }
  const auto& r0 = res.first;
  const bool agree = res.agree;
  const std::uint64_t finished = res.finished;
  nlohmann::json j = res.summary(o.nodes, "mpi", seconds_between(t0, e.now()));
  j["ranks_finished"] = finished;
  j["peers_joined"] = 0;
  if (o.json)
    std::printf("%s\n", j.dump().c_str());
  else
    std::printf("%llu of %d MPI ranks finished: test accuracy %.2f%%, %llu rounds, replicas %s\n",
                (unsigned long long)finished, o.nodes, 100 * r0["test_accuracy"].get<double>(),
                (unsigned long long)r0["rounds"].get<std::uint64_t>(), agree ? "agree" : "DISAGREE");
  return agree ? 0 : 1;
}

int run_demo(const demo_options& o) {
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  const bool temp = o.state.empty();
  std::string base = o.state;
  if (temp) {
    char tmpl[] = "/tmp/hydra-demo-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::fprintf(stderr, "hydra demo: error: cannot create a temporary folder\n");
      return 1;
    }
    base = tmpl;
  }
  fs::create_directories(base);
  auto cluster = make_demo_cluster(base);
  if (!cluster) {
    std::fprintf(stderr, "hydra demo: error: setting up the demo cluster in %s/operator: %s\n", base.c_str(),
                 cluster.err().message.c_str());
    if (temp) fs::remove_all(base);
    return 1;
  }
  g_cluster = &*cluster;
  if (o.backend == "mpi" && !o.no_train) {
    const int rc = run_mpi_demo(o, base);
    if (temp) fs::remove_all(base);
    return rc;
  }
  const std::string exe = self_exe();
  std::vector<pid_t> pids;
  std::vector<std::string> addrs;
  int rc = 0;
  auto cleanup = [&] {
    for (pid_t p : pids) kill(p, SIGTERM);
    env& e = default_env();
    const auto t0 = e.now();
    for (pid_t p : pids) {
      int status;
      while (waitpid(p, &status, WNOHANG) == 0) {
        if (seconds_between(t0, e.now()) > 5) {
          kill(p, SIGKILL);
          waitpid(p, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (temp) fs::remove_all(base);
  };

  std::vector<contributor_sim> sims;
  demo_options job = o;
  if (!o.contributors.empty() && !o.no_train) {
    std::string data_dir = data::default_data_dir();
    for (std::size_t i = 0; i + 1 < o.train.size(); ++i)
      if (o.train[i] == "--data") data_dir = o.train[i + 1];
    auto made = prepare_contributors(o, base, data_dir);
    if (!made) {
      std::fprintf(stderr, "hydra demo: error: %s\n", made.err().message.c_str());
      cleanup();
      return 1;
    }
    sims = std::move(*made);
    job.train.insert(job.train.end(), {"--holdout", std::to_string(contributor_holdout), "--stay"});
  }
  progress_bar bar(default_env(), "start", o.nodes, !o.json);
  for (int i = 0; i < o.nodes && !g_stop; ++i) {
    const std::string dir = base + "/node-" + std::to_string(i);
    std::vector<std::string> extra = o.no_train ? std::vector<std::string>{} : job.train;
    if (!o.attack.empty() && i == 1 && !o.no_train) {
      extra.push_back("--attack");
      extra.push_back(o.attack);
    }
    if (o.lying_scorer && i == o.nodes - 1 && !o.no_train) extra.push_back("--lie-scores");
    if (!o.no_metrics) extra.insert(extra.end(), {"--metrics", "127.0.0.1:0"});
    if (!o.cpu_limits.empty()) {
      extra.push_back("--cpu-limit");
      extra.push_back(std::to_string(o.cpu_limits[std::min<std::size_t>(i, o.cpu_limits.size() - 1)]));
    }
    const pid_t pid = start_node(exe, dir, addrs.empty() ? "" : addrs.back(), extra);
    pids.push_back(pid);
    const std::string a = wait_for_address(dir, pid, 30);
    if (a.empty()) {
      std::fprintf(stderr, "hydra demo: error: node %d did not start (see %s/node.log)\n", i, dir.c_str());
      cleanup();
      return 1;
    }
    addrs.push_back(a);
    bar.update(i + 1, "node " + std::to_string(i) + " at " + a);
  }
  bar.finish(std::to_string(addrs.size()) + " nodes started");
  if (!o.no_metrics && !o.json) {
    // The node writes STATE/metrics_address once its port is bound, right
    // after STATE/address.
    std::string pages;
    for (int i = 0; i < o.nodes; ++i) {
      std::ifstream f(base + "/node-" + std::to_string(i) + "/metrics_address");
      std::string a;
      if (f >> a) pages += (pages.empty() ? "" : "  ") + std::string("http://") + a + "/";
    }
    if (!pages.empty()) std::printf("status pages (and /metrics): %s\n", pages.c_str());
    std::fflush(stdout);
  }

  env& e = default_env();
  if (!o.no_train) return finish_training(job, base, pids, addrs, cleanup, sims);

  // Wait until every node lists every node alive.
  const auto t0 = e.now();
  bool converged = false;
  std::string view;
  while (!g_stop && seconds_between(t0, e.now()) < 60) {
    int ok = 0;
    for (auto& a : addrs) {
      auto r = demo_ctl(a, "peers", {}, 2.0);
      if (r && alive_count(*r) == o.nodes) ++ok;
      if (r && &a == &addrs.front()) view = *r;
    }
    if (ok == o.nodes) {
      converged = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double seconds = seconds_between(t0, e.now());
  if (!converged) {
    std::fprintf(stderr, "hydra demo: error: membership did not converge in %.0f s\n", seconds);
    rc = 1;
  } else if (o.json) {
    nlohmann::json j = {{"nodes", o.nodes}, {"converged_seconds", seconds}, {"addresses", addrs},
                        {"view_of_node_0", nlohmann::json::parse(view)}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("all %d nodes see each other (%.2f s); membership as node 0 sees it:\n", o.nodes, seconds);
    auto r = demo_ctl(addrs.front(), "peers");
    if (r) {
      auto j = nlohmann::json::parse(*r);
      for (auto& p : j["peers"])
        std::printf("  %s  %-21s %-7s %7.1f GFLOP/s  %s\n", p["id"].get<std::string>().substr(0, 16).c_str(),
                    p["address"].get<std::string>().c_str(), p["state"].get<std::string>().c_str(),
                    p["capabilities"]["gflops"].get<double>(), p["self"].get<bool>() ? "(node 0)" : "");
    }
    std::printf("state in %s%s; Ctrl-C stops every node\n", base.c_str(), temp ? " (removed on exit)" : "");
    std::fflush(stdout);
  }
  if (converged) {
    const auto t1 = e.now();
    while (!g_stop && (o.duration < 0 || seconds_between(t1, e.now()) < o.duration)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (std::size_t i = 0; i < pids.size(); ++i) {
        int status;
        if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
          std::fprintf(stderr, "hydra demo: node %zu exited\n", i);
          pids[i] = -1;
        }
      }
    }
  }
  std::erase(pids, -1);
  cleanup();
  return rc;
}

}  // namespace

CLI::App* add_demo_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<demo_options>();
  auto* cmd = app.add_subcommand("demo", "Start N local node processes that find each other and train one model together");
  cmd->add_option("--nodes", o->nodes, "Number of node processes")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--state", o->state, "Keep node i's state in DIR/node-i (default: a temporary folder)");
  cmd->add_option("--duration", o->duration, "Stop after this many seconds (default: run until Ctrl-C)");
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->add_option("--plot", o->plot,
                  "Write the training curves here at the end (.svg or .png; default DIR/training.svg with --state, "
                  "else ./hydra-demo-training.svg, none with --json; '-' = none)");
  cmd->add_flag("--no-metrics", o->no_metrics, "Nodes serve no status page or /metrics (default: each on a free loopback port)");
  cmd->add_flag("--no-train", o->no_train, "Only start the nodes and show the membership (no training)");
  cmd->add_option("--cpu-limit", o->cpu_limits,
                  "Duty-cycle cap per node in percent, comma-separated (e.g. 100,100,50,25; the last value repeats)")
      ->delimiter(',')
      ->check(CLI::Range(1.0, 100.0));
  cmd->add_flag("--churn", o->churn,
                "Fault drill: kill -9 node 1 at 30% of the job, start a fresh node at 50% (once the loss shows), restart node 1 at 60% (once the newcomer is in)");
  // Training settings, passed to every node (see `hydra node --help`).
  auto train = std::make_shared<std::map<std::string, std::string>>();
  for (auto [flag, help] : std::vector<std::pair<const char*, const char*>>{
           {"--model", "mlp or cnn"},
           {"--epochs", "Epochs"},
           {"--batch", "Global batch"},
           {"--lr", "Learning rate"},
           {"--optimizer", "sgd or adam"},
           {"--seed", "Seed"},
           {"--limit", "Train on the first N samples"},
           {"--mode", "sync or local"},
           {"--local-steps", "H, local mode"},
           {"--outer-lr", "Outer learning rate, local mode"},
           {"--compress", "none, fp16, int8 or topk"},
           {"--policy", "job sizing: uniform, model or adaptive"},
           {"--aggregate", "mean, or Byzantine-robust trimmed-mean, median, mean-around-median, filtered-mean"},
           {"--data", "IDX folder"}}) {
    cmd->add_option_function<std::string>(flag, [train, flag = std::string(flag)](const std::string& v) {
      (*train)[flag] = v;
    }, help);
  }
  auto raw = std::make_shared<bool>(false);
  cmd->add_flag("--no-standardize", *raw, "Train on pixels in [0, 1] (default: standardised with the training set's mean and std)");
  cmd->add_option("--contributors", o->contributors,
                  "Simulated contributors submitting data while the nodes train, e.g. "
                  "honest:3,label-flip:1,duplicate:1,garbage:1 (real `hydra contribute` processes, own keys)");
  cmd->add_option("--contributions", o->per_contributor, "Contributions per simulated contributor")
      ->check(CLI::Range(1, 40))
      ->capture_default_str();
  cmd->add_option("--contribution-size", o->contribution_size, "Samples per contribution")
      ->check(CLI::Range(1, 5000))
      ->capture_default_str();
  cmd->add_flag("--lying-scorer", o->lying_scorer,
                "Drill: the last node reports inverted quality scores (the quorum outvotes it, its trust falls)");
  cmd->add_option("--attack", o->attack, "Drill: node 1 poisons its updates (sign-flip or scale x-10)")
      ->check(CLI::IsMember({"sign-flip", "scale"}));
  cmd->add_option("--backend", o->backend, "p2p (TCP between the nodes) or mpi (the nodes are mpirun ranks)")
      ->check(CLI::IsMember({"p2p", "mpi"}));
  cmd->parse_complete_callback([o, train, raw] {
    o->train = {"--train", "--world", std::to_string(o->nodes), "--threads", "1"};
    for (auto& [k, v] : *train) {
      o->train.push_back(k);
      o->train.push_back(v);
    }
    if (*raw) o->train.push_back("--no-standardize");
  });
  cmd->callback([o, &exit_code] { exit_code = run_demo(*o); });
  return cmd;
}

}  // namespace hydra::apps
