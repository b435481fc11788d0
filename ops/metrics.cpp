#include "ops/metrics.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

namespace hydra::ops {
namespace {

using labels = std::vector<std::pair<std::string, std::string>>;

/// Writes families in the text format: HELP and TYPE once, then samples.
class exposition {
 public:
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + escape_help(help) + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, double v, const labels& ls = {}) {
    out_ += name;
    if (!ls.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < ls.size(); ++i) {
        if (i) out_ += ',';
        out_ += ls[i].first + "=\"" + escape_label(ls[i].second) + "\"";
      }
      out_ += '}';
    }
    out_ += ' ' + number(v) + '\n';
  }
  /// A family with one unlabelled sample.
  void one(const std::string& name, const char* type, const std::string& help, double v) {
    family(name, type, help);
    sample(name, v);
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char b[40];
    if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15)
      std::snprintf(b, sizeof b, "%.0f", v);
    else
      std::snprintf(b, sizeof b, "%.9g", v);
    return b;
  }
  /// Backslash and newline escaped; quotes too in label values (the text
  /// format escapes `"` only there).
  static std::string escape(const std::string& s, bool quotes) {
    std::string o;
    for (char c : s) {
      if (c == '\\') o += "\\\\";
      else if (c == '"' && quotes) o += "\\\"";
      else if (c == '\n') o += "\\n";
      else o += c;
    }
    return o;
  }
  static std::string escape_label(const std::string& s) { return escape(s, true); }
  static std::string escape_help(const std::string& s) { return escape(s, false); }
  std::string out_;
};

double num(const nlohmann::json& j, const char* key, double dflt = 0) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return dflt;
  return j[key].get<double>();
}

nlohmann::json curve(const bounded_history& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : h.points()) a.push_back({p.t, p.step, p.samples, p.value});
  return a;
}

}  // namespace

std::string link_class_of(const std::string& address) {
  std::string host = address;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  if (host == "localhost") return "loopback";
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    const std::uint32_t a = ntohl(v4.s_addr);
    if ((a >> 24) == 127) return "loopback";
    if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 || (a >> 16) == 0xA9FE) return "lan";
    return "wan";
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    static const in6_addr loop = IN6ADDR_LOOPBACK_INIT;
    if (std::equal(v6.s6_addr, v6.s6_addr + 16, loop.s6_addr)) return "loopback";
    if ((v6.s6_addr[0] & 0xFE) == 0xFC) return "lan";                             // fc00::/7
    if (v6.s6_addr[0] == 0xFE && (v6.s6_addr[1] & 0xC0) == 0x80) return "lan";   // fe80::/10
    return "wan";
  }
  return "wan";  // a name: not known to be local
}

std::string render_prometheus(const node_facts& f, const nlohmann::json& status, const train_metrics* t) {
  exposition x;
  x.family("hydra_build_info", "gauge", "Always 1; the labels name the build.");
  x.sample("hydra_build_info", 1, {{"version", f.version}});
  const bool up = status.is_object() && status.contains("view");
  x.one("hydra_node_up", "gauge", "1 when the node actor answered this scrape.", up ? 1 : 0);

  if (up) {
    const auto& view = status["view"];
    std::map<std::string, double> by_state = {{"alive", 0}, {"suspect", 0}, {"dead", 0}};
    double cert_left = NAN;
    if (view.contains("peers") && view["peers"].is_array())
      for (const auto& p : view["peers"]) {
        if (p.value("self", false)) {
          if (p.contains("cert_days_left") && p["cert_days_left"].is_number())
            cert_left = p["cert_days_left"].get<double>() * 86400.0;
          continue;
        }
        const std::string s = p.value("state", "");
        if (by_state.count(s)) by_state[s] += 1;
      }
    x.family("hydra_peers", "gauge", "Other members in this node's membership view, by failure-detector state.");
    for (const auto& [s, n] : by_state) x.sample("hydra_peers", n, {{"state", s}});
    x.one("hydra_routing_table_contacts", "gauge", "Contacts in the Kademlia routing table.",
          num(view, "routing_table_size"));
    x.one("hydra_cpu_limit_ratio", "gauge", "The node's duty-cycle cap (1 = no cap).", num(status, "cpu_limit", 100) / 100);
    if (!std::isnan(cert_left))
      x.one("hydra_certificate_expiry_seconds", "gauge", "Seconds until this node's membership certificate expires.",
            cert_left);

    x.family("hydra_network_transmit_bytes_total", "counter", "Payload bytes sent, by backend and link class.");
    x.sample("hydra_network_transmit_bytes_total", num(status, "control_bytes_sent"),
             {{"backend", "control"}, {"link_class", f.control_link_class}});
    if (t && !f.backend.empty())
      x.sample("hydra_network_transmit_bytes_total", double(t->bytes_sent.load()),
               {{"backend", f.backend}, {"link_class", f.data_link_class}});
    x.family("hydra_network_receive_bytes_total", "counter", "Payload bytes received, by backend and link class.");
    x.sample("hydra_network_receive_bytes_total", num(status, "control_bytes_received"),
             {{"backend", "control"}, {"link_class", f.control_link_class}});
    if (t && !f.backend.empty())
      x.sample("hydra_network_receive_bytes_total", double(t->bytes_received.load()),
               {{"backend", f.backend}, {"link_class", f.data_link_class}});

    const auto& c = status.contains("contributions") ? status["contributions"] : nlohmann::json();
    if (c.is_object()) {
      x.family("hydra_contributions_total", "counter", "Contributions this node's collector decided, by verdict.");
      x.sample("hydra_contributions_total", num(c, "accepted"), {{"verdict", "accepted"}});
      x.sample("hydra_contributions_total", num(c, "rejected"), {{"verdict", "rejected"}});
      x.one("hydra_contributions_pending", "gauge", "Contributions taken in and waiting for their verdict.",
            num(c, "pending"));
      x.one("hydra_contribution_pool_samples", "gauge", "Accepted contributed samples the trainer draws from.",
            num(c, "pool"));
    }
    const auto& l = status.contains("ledger") ? status["ledger"] : nlohmann::json();
    if (l.is_object()) {
      x.one("hydra_ledger_entries", "gauge", "Entries in this node's ledger replica.", num(l, "entries"));
      x.one("hydra_ledger_authors", "gauge", "Distinct authors in this node's ledger replica.", num(l, "authors"));
      x.one("hydra_ledger_rejected_entries_total", "counter", "Ledger entries this replica refused.", num(l, "rejected"));
      x.one("hydra_ledger_pending_acks", "gauge", "Entries this node authored still short of their replicas.",
            num(l, "pending_acks"));
      x.one("hydra_ledger_replicas", "gauge", "Replicas an authored entry must reach to count as durable.",
            num(status, "ledger_replicas"));
    }
  }

  if (t) {
    x.one("hydra_train_active", "gauge", "1 while the trainer is in a job.", t->training ? 1 : 0);
    x.one("hydra_train_step", "gauge", "Global steps done.", double(t->step.load()));
    x.one("hydra_train_steps", "gauge", "Global steps in the job.", double(t->total_steps.load()));
    x.one("hydra_train_samples_total", "counter", "Global samples trained (all ranks).", double(t->samples.load()));
    x.one("hydra_train_job_samples", "gauge", "Global samples in the whole job.", double(t->total_samples.load()));
    x.one("hydra_train_samples_per_second", "gauge", "Global samples per second since this rank started.",
          t->samples_per_second.load());
    x.one("hydra_train_loss", "gauge", "Mean training loss so far.", t->loss.load());
    if (t->test_accuracy.load() >= 0)
      x.one("hydra_train_test_accuracy_ratio", "gauge", "Test-set accuracy at the last evaluation.",
            t->test_accuracy.load());
    x.one("hydra_train_world", "gauge", "Trainers in the current group.", double(t->world.load()));
    x.one("hydra_train_rounds_total", "counter", "Rounds completed.", double(t->rounds.load()));
    x.one("hydra_train_round_seconds", "gauge", "Wall time of the last round.", t->last_round_seconds.load());
    x.one("hydra_train_round_seconds_total", "counter", "Wall time of all completed rounds.",
          t->round_seconds_sum.load());
    x.one("hydra_allreduce_seconds_total", "counter", "Time spent in all-reduces and round agreement.",
          t->allreduce_seconds_sum.load());
    x.one("hydra_train_failed_rounds_total", "counter", "Rounds abandoned because a member failed.",
          double(t->failed_rounds.load()));
    const auto g = t->groups.load();
    x.one("hydra_train_group_reforms_total", "counter", "Times the training group re-formed after the first.",
          double(g > 0 ? g - 1 : 0));
  }
  return x.take();
}

nlohmann::json status_document(const node_facts& f, const nlohmann::json& status, const train_metrics* t) {
  nlohmann::json d = status.is_object() ? status : nlohmann::json::object();
  d["version"] = f.version;
  d["node_up"] = status.is_object() && status.contains("view");
  d["site"] = f.site;
  if (t) {
    const double sps = t->samples_per_second.load();
    const double left = double(t->total_samples.load()) - double(t->samples.load());
    d["train"] = {{"active", t->training.load()},
                  {"done", t->done.load()},
                  {"backend", f.backend},
                  {"step", t->step.load()},
                  {"total_steps", t->total_steps.load()},
                  {"samples", t->samples.load()},
                  {"total_samples", t->total_samples.load()},
                  {"samples_per_second", sps},
                  {"eta_seconds", t->training && sps > 0 ? nlohmann::json(left / sps) : nlohmann::json(nullptr)},
                  {"loss", t->loss.load()},
                  {"test_accuracy", t->test_accuracy.load() >= 0 ? nlohmann::json(t->test_accuracy.load())
                                                                  : nlohmann::json(nullptr)},
                  {"world", t->world.load()},
                  {"rank", t->rank.load()},
                  {"rounds", t->rounds.load()},
                  {"failed_rounds", t->failed_rounds.load()},
                  {"round_seconds", t->last_round_seconds.load()},
                  {"bytes_sent", t->bytes_sent.load()},
                  {"bytes_received", t->bytes_received.load()},
                  // [unix seconds, step, samples, value]
                  {"loss_curve", curve(t->loss_curve)},
                  {"accuracy_curve", curve(t->accuracy_curve)},
                  {"round_curve", curve(t->round_curve)}};
  } else {
    d["train"] = nullptr;
  }
  return d;
}

}  // namespace hydra::ops
