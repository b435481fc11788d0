#include "apps/ledger_cmd.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/chain.hpp"
#include "ledger/log.hpp"
#include "wire/identity.hpp"

namespace hydra::apps {

// The ledger keeps its own copy of the role bits (it must not include trust
// headers); this adapter sees both, so it checks they agree.
static_assert(ledger::role_trainer == trust::role_trainer && ledger::role_collector == trust::role_collector &&
              ledger::role_scorer == trust::role_scorer && ledger::role_ledger == trust::role_ledger &&
              ledger::role_admin == trust::role_admin && ledger::role_contributor == trust::role_contributor &&
              ledger::all_roles == trust::all_roles);

bool cluster_authority::is_operator(const wire::public_key& pk) const { return trust::is_operator(cluster_, pk); }

std::optional<std::uint32_t> cluster_authority::cert_roles(const wire::public_key& author,
                                                           std::span<const std::uint8_t> cert) const {
  auto m = trust::decode_cert(cert);  // structure and the issuer's signature
  if (!m || m->cluster != cluster_.id || m->subject != author || !trust::is_operator(cluster_, m->issuer))
    return std::nullopt;
  if (m->roles == 0 || (m->roles & ~trust::all_roles)) return std::nullopt;
  return m->roles;
}

namespace {

struct ledger_options {
  std::string state = "hydra-state";
  std::string cluster;  ///< verify: cluster.pub; "" = STATE/cluster.pub if present
  bool json = false;
  std::string id;
  std::string kind;
  std::string subject;
  std::int64_t amount = 0;
  std::string payload = "{}";
};

std::string log_path(const ledger_options& o) { return o.state + "/ledger.log"; }

int fail(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 1;
}

nlohmann::json to_json(const ledger::entry& e) {
  nlohmann::json j;
  j["hash"] = to_hex(ledger::entry_hash(e));
  j["kind"] = ledger::to_string(e.k);
  j["author"] = to_hex(e.author);
  j["seq"] = e.seq;
  j["prev"] = to_hex(e.prev);
  j["subject"] = e.subject;
  j["amount"] = e.amount;
  auto payload = nlohmann::json::parse(e.payload, nullptr, false);
  j["payload"] = payload.is_discarded() ? nlohmann::json(e.payload) : payload;
  j["sig"] = to_hex(e.sig);
  return j;
}

/// The log's entries folded into a state; every chain rule checked, and the
/// role rules of `auth` when it is not null.
result<ledger::ledger_state> load_state(const ledger_options& o, const ledger::authority* auth = nullptr) {
  auto entries = ledger::read_log(log_path(o));
  if (!entries) return entries.err();
  auto st = ledger::fold(*entries, auth);
  if (!st) return make_error(st.err().code, log_path(o) + ": " + st.err().message);
  return st;
}

/// The role rules over a good log: which stored entries do not count, and
/// why. Refusals are not damage (every replica stores them too), so they do
/// not fail verify; a cluster file given but unreadable does.
int report_refusals(const ledger_options& o) {
  const bool given = !o.cluster.empty();
  const std::string path = given ? o.cluster : o.state + "/cluster.pub";
  if (!given && !std::filesystem::exists(path)) {
    std::printf("note: no %s; role rules not checked (pass --cluster FILE)\n", path.c_str());
    return 0;
  }
  auto c = trust::load_cluster(path);
  if (!c) return fail(c.err().message);
  auto entries = ledger::read_log(log_path(o));
  if (!entries) return fail(entries.err().message);
  const cluster_authority auth(*c);
  auto st = ledger::fold(*entries, &auth);
  if (!st) return fail(log_path(o) + ": " + st.err().message);
  const auto& refused = st->refused();
  if (refused.empty()) {
    std::printf("roles: cluster %s: every entry counts\n", c->name.c_str());
    return 0;
  }
  std::printf("roles: cluster %s: %zu of %zu entries refused (stored, but they do not count)\n", c->name.c_str(),
              refused.size(), entries->size());
  for (const auto& r : refused)
    std::printf("refused %s %s author %s seq %llu: %s\n", to_hex(r.hash).substr(0, 16).c_str(),
                ledger::to_string(r.k), to_hex(std::span(r.author.data(), 8)).c_str(),
                static_cast<unsigned long long>(r.seq), r.reason.c_str());
  return 0;
}

int run_verify(const ledger_options& o) {
  auto rep = ledger::verify_file(log_path(o));
  if (!rep) return fail(rep.err().message);
  if (const auto& b = rep->first_bad) {
    std::printf("bad entry %zu at offset %llu", b->index, static_cast<unsigned long long>(b->offset));
    if (!b->author.empty()) std::printf(" (author %s seq %llu)", b->author.c_str(), static_cast<unsigned long long>(b->seq));
    std::printf(": %s\n", b->reason.c_str());
    std::printf("%zu good entries before it\n", rep->entries);
    return 1;
  }
  std::printf("ok: %zu entries, %zu authors\n", rep->entries, rep->authors);
  if (rep->torn_bytes)
    std::printf("note: torn tail of %llu bytes (an interrupted append; cut off on next open)\n",
                static_cast<unsigned long long>(rep->torn_bytes));
  return report_refusals(o);
}

int run_balances(const ledger_options& o) {
  std::optional<cluster_authority> auth;
  if (!o.cluster.empty()) {
    auto c = trust::load_cluster(o.cluster);
    if (!c) return fail(c.err().message);
    auth.emplace(*c);
  }
  auto st = load_state(o, auth ? &*auth : nullptr);
  if (!st) return fail(st.err().message);
  const auto balances = st->balances();
  if (o.json) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [subject, credits] : balances) j[subject] = credits;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  for (const auto& [subject, credits] : balances) std::printf("%-66s %lld\n", subject.c_str(), static_cast<long long>(credits));
  return 0;
}

int run_show(const ledger_options& o) {
  auto entries = ledger::read_log(log_path(o));
  if (!entries) return fail(entries.err().message);
  if (o.id.empty()) return fail("empty entry id");
  const ledger::entry* found = nullptr;
  for (const auto& e : *entries) {
    if (to_hex(ledger::entry_hash(e)).rfind(o.id, 0) != 0) continue;
    if (found) return fail("entry id " + o.id + " is ambiguous; give more hex digits");
    found = &e;
  }
  if (!found) return fail("no entry with id " + o.id + " in " + log_path(o));
  std::printf("%s\n", to_json(*found).dump(2).c_str());
  return 0;
}

int run_dump(const ledger_options& o) {
  auto entries = ledger::read_log(log_path(o));
  if (!entries) return fail(entries.err().message);
  for (const auto& e : *entries) std::printf("%s\n", to_json(e).dump().c_str());
  return 0;
}

int run_append(const ledger_options& o) {
  const auto k = ledger::parse_kind(o.kind);
  if (!k)
    return fail("unknown kind '" + o.kind +
                "' (contribution, score, compute_credit, reward, penalty, admission, revocation)");
  auto id = wire::load_or_create_identity(o.state);
  if (!id) return fail(id.err().message);
  auto log = ledger::ledger_log::open(log_path(o));
  if (!log) return fail(log.err().message);
  if (log->truncated_bytes())
    std::fprintf(stderr, "note: cut off a torn tail of %llu bytes\n", static_cast<unsigned long long>(log->truncated_bytes()));
  auto st = ledger::fold(log->entries());
  if (!st) return fail(log_path(o) + ": " + st.err().message);
  ledger::entry e;
  e.k = *k;
  e.seq = st->next_seq(id->pk);
  e.prev = st->last_hash(id->pk);
  e.subject = o.subject;
  e.amount = o.amount;
  e.payload = o.payload;
  e = ledger::sign(std::move(e), *id);
  if (auto s = st->append(e); !s) return fail(s.err().message);
  if (auto s = log->append(e); !s) return fail(s.err().message);
  std::printf("%s\n", to_hex(ledger::entry_hash(e)).c_str());
  return 0;
}

}  // namespace

CLI::App* add_ledger_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ledger_options>();
  auto* cmd = app.add_subcommand("ledger", "Inspect or extend the ledger log in a state directory");
  cmd->require_subcommand(1);
  auto add_state = [&](CLI::App* sub) {
    sub->add_option("--state", o->state, "State directory holding ledger.log")->capture_default_str();
  };

  auto* verify = cmd->add_subcommand(
      "verify", "Check every record's checksum, signature and chain; list entries the role rules refuse");
  add_state(verify);
  verify->add_option("--cluster", o->cluster, "The cluster file whose roles apply (default: STATE/cluster.pub)");
  verify->callback([o, &exit_code] { exit_code = run_verify(*o); });

  auto* balances = cmd->add_subcommand("balances", "Credits per subject (milli-units)");
  add_state(balances);
  balances->add_flag("--json", o->json, "Print a JSON object");
  balances->add_option("--cluster", o->cluster,
                       "Count only entries whose author held the right role in this cluster (cluster.pub); "
                       "without it every reward, penalty and credit counts");
  balances->callback([o, &exit_code] { exit_code = run_balances(*o); });

  auto* show = cmd->add_subcommand("show", "Print one entry as JSON");
  add_state(show);
  show->add_option("ID", o->id, "Entry hash, or a unique hex prefix of it")->required();
  show->callback([o, &exit_code] { exit_code = run_show(*o); });

  auto* dump = cmd->add_subcommand("dump", "Print every entry, one JSON object per line, in stored order");
  add_state(dump);
  dump->callback([o, &exit_code] { exit_code = run_dump(*o); });

  auto* append = cmd->add_subcommand("append-test", "Append an entry signed by the state directory's identity");
  add_state(append);
  append->add_option("--kind", o->kind,
                     "contribution, score, compute_credit, reward, penalty, admission or revocation")
      ->required();
  append->add_option("--subject", o->subject, "What the entry is about (contribution id, node id hex)")->required();
  append->add_option("--amount", o->amount, "Credits, milli-units")->required();
  append->add_option("--payload", o->payload, "Small JSON text")->capture_default_str();
  append->callback([o, &exit_code] { exit_code = run_append(*o); });
  return cmd;
}

}  // namespace hydra::apps
