#include "apps/operator_cmd.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "actors/credentials.hpp"
#include "actors/ctl_client.hpp"
#include "common/env.hpp"
#include "trust/cert.hpp"
#include "wire/identity.hpp"

namespace hydra::apps {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t day_s = 86400;

struct operator_options {
  std::string dir, name = "hydra", key, pub, node, roles = "trainer,collector,scorer,ledger", site, file, cluster;
  std::string connect;  ///< revoke: also publish through this node's ledger
  std::string days = "365", not_after, not_before;
  bool json = false;
};

/// Prints the error; invalid input exits 2, anything else 1.
int fail(const error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return e.code == errc::invalid_input ? 2 : 1;
}
int bad_input(const std::string& msg) { return fail(make_error(errc::invalid_input, msg)); }

std::string key_path(const operator_options& o) { return o.dir + "/operator.key"; }
std::string cluster_path(const operator_options& o) { return o.dir + "/cluster.pub"; }

result<std::int64_t> parse_int(const char* flag, const std::string& s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return make_error(errc::invalid_input, std::string(flag) + ": '" + s + "' is not a whole number");
  return v;
}

result<wire::public_key> parse_pub(const std::string& hex) {
  auto pk = trust::parse_revocation_subject(hex);
  if (!pk) return make_error(errc::invalid_input, "--pub: " + pk.err().message);
  return pk;
}

/// An existing key file (never creates one: a typo must not mint a key).
result<wire::identity> load_existing_key(const std::string& path) {
  if (!fs::exists(path)) return make_error(errc::invalid_input, path + ": no such key file");
  return wire::load_or_create_key_file(path);
}

struct operator_ctx {
  wire::identity key;
  trust::cluster cluster;
};

/// OPDIR's operator key and cluster, checked to belong together.
result<operator_ctx> load_operator(const operator_options& o) {
  if (o.dir.empty()) return make_error(errc::invalid_input, "--dir OPDIR is required");
  if (!fs::exists(key_path(o)) || !fs::exists(cluster_path(o)))
    return make_error(
        errc::invalid_input,
        o.dir + ": no operator.key and cluster.pub here (run `hydra operator init --dir " + o.dir + "` first)");
  auto key = wire::load_or_create_key_file(key_path(o));
  if (!key) return key.err();
  auto c = trust::load_cluster(cluster_path(o));
  if (!c) return c.err();
  if (!trust::is_operator(*c, key->pk))
    return make_error(errc::invalid_input,
                      key_path(o) + ": not an operator key of cluster " + c->name + " (" + cluster_path(o) + ")");
  return operator_ctx{*key, *c};
}

nlohmann::json keys_json(const std::vector<wire::public_key>& keys) {
  auto j = nlohmann::json::array();
  for (const auto& k : keys) j.push_back(to_hex(k));
  return j;
}

int write_cluster(const operator_ctx& op, const std::string& path) {
  auto bytes = trust::encode_cluster(op.cluster, op.key);
  if (!bytes) return fail(bytes.err());
  if (auto s = trust::write_file_atomic(path, *bytes, 0644); !s) return fail(s.err());
  return 0;
}

int run_init(const operator_options& o) {
  if (o.dir.empty()) return bad_input("--dir OPDIR is required");
  if (fs::exists(cluster_path(o)))
    return fail(make_error(errc::io, "a cluster already exists at " + cluster_path(o) + "; refusing to overwrite it"));
  std::error_code ec;
  if (const auto parent = fs::path(o.dir).parent_path(); !parent.empty()) fs::create_directories(parent, ec);
  if (::mkdir(o.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(make_error(errc::io, o.dir + ": cannot create"));
  auto key = wire::load_or_create_key_file(key_path(o));
  if (!key) return fail(key.err());
  operator_ctx op{*key, trust::make_cluster(o.name, key->pk)};
  if (int rc = write_cluster(op, cluster_path(o))) return rc;
  if (o.json) {
    nlohmann::json j{{"cluster_id", to_hex(op.cluster.id)},
                     {"name", op.cluster.name},
                     {"operator", to_hex(key->pk)},
                     {"operator_key", key_path(o)},
                     {"cluster_pub", cluster_path(o)}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("cluster %s (%s)\noperator key: %s (public %s)\ncluster file: %s\n", op.cluster.name.c_str(),
                to_hex(op.cluster.id).c_str(), key_path(o).c_str(), to_hex(key->pk).c_str(), cluster_path(o).c_str());
  }
  return 0;
}

int run_add_operator(const operator_options& o) {
  auto op = load_operator(o);
  if (!op) return fail(op.err());
  if (o.key.empty() == o.pub.empty())
    return bad_input("give exactly one of --key OTHER_OPDIR/operator.key or --pub HEX");
  wire::public_key pk{};
  if (!o.key.empty()) {
    auto other = load_existing_key(o.key);
    if (!other) return fail(other.err());
    pk = other->pk;
  } else {
    auto p = parse_pub(o.pub);
    if (!p) return fail(p.err());
    pk = *p;
  }
  if (trust::is_operator(op->cluster, pk)) {
    std::printf("%s is already an operator of cluster %s (%s)\n", to_hex(pk).c_str(), op->cluster.name.c_str(),
                cluster_path(o).c_str());
    return 0;
  }
  if (op->cluster.operators.size() >= trust::max_operators) return bad_input("a cluster holds at most 32 operators");
  op->cluster.operators.push_back(pk);
  if (int rc = write_cluster(*op, cluster_path(o))) return rc;
  if (o.json) {
    nlohmann::json j{
        {"cluster_pub", cluster_path(o)}, {"added", to_hex(pk)}, {"operators", keys_json(op->cluster.operators)}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("added operator %s to cluster %s (%zu operators)\ncluster file: %s (copy it to the other sites)\n",
                to_hex(pk).c_str(), op->cluster.name.c_str(), op->cluster.operators.size(), cluster_path(o).c_str());
  }
  return 0;
}

/// The certificate's validity window from --days / --not-after / --not-before.
result<std::pair<std::int64_t, std::int64_t>> validity(const operator_options& o, bool days_given, std::int64_t now) {
  auto days = parse_int("--days", o.days);
  if (!days) return days.err();
  if (*days < 0) return make_error(errc::invalid_input, "--days must be >= 0");
  std::int64_t not_before = now, not_after = now + *days * day_s;
  if (!o.not_after.empty()) {
    auto na = parse_int("--not-after", o.not_after);
    if (!na) return na.err();
    if (days_given && *days != 0) return make_error(errc::invalid_input, "give --days or --not-after, not both");
    not_after = *na;
    not_before = std::min(now, not_after);
  } else if (*days == 0) {
    return make_error(errc::invalid_input, "--days 0 needs --valid-until UNIX (an explicit expiry)");
  }
  if (!o.not_before.empty()) {
    auto nb = parse_int("--not-before", o.not_before);
    if (!nb) return nb.err();
    not_before = *nb;
  }
  if (not_after < not_before) return make_error(errc::invalid_input, "the certificate would expire before it starts");
  return std::pair{not_before, not_after};
}

int run_admit(const operator_options& o, bool days_given) {
  auto op = load_operator(o);
  if (!op) return fail(op.err());
  if (o.node.empty() && o.key.empty()) return bad_input("give --node STATE or --key KEYFILE");
  auto roles = trust::parse_roles(o.roles);
  if (!roles) return fail(make_error(errc::invalid_input, "--roles: " + roles.err().message));
  const auto now = default_env().unix_seconds();
  auto window = validity(o, days_given, now);
  if (!window) return fail(window.err());
  auto subject = o.key.empty() ? wire::load_or_create_identity(o.node) : wire::load_or_create_key_file(o.key);
  if (!subject) return fail(subject.err());
  auto cert = trust::issue_cert(op->key, op->cluster, subject->pk, *roles, window->first, window->second, o.site);
  if (!cert) return fail(cert.err());
  const auto m = *trust::decode_cert(*cert);
  const auto cert_path = o.key.empty() ? o.node + "/membership.cert" : o.key + ".cert";
  const auto pub_dir = o.node.empty() ? fs::path(o.key).parent_path().string() : o.node;
  const auto pub_path = (pub_dir.empty() ? std::string(".") : pub_dir) + "/cluster.pub";
  if (auto s = trust::write_file_atomic(cert_path, *cert, 0644); !s) return fail(s.err());
  auto cluster_bytes = trust::read_small_file(cluster_path(o));
  if (!cluster_bytes) return fail(cluster_bytes.err());
  if (fs::absolute(pub_path) != fs::absolute(cluster_path(o)))
    if (auto s = trust::write_file_atomic(pub_path, *cluster_bytes, 0644); !s) return fail(s.err());
  if (m.not_after < now)
    std::fprintf(stderr, "warning: this certificate expired already (%s)\n", trust::iso_time(m.not_after).c_str());
  if (o.json) {
    nlohmann::json j{{"certificate", cert_path},
                     {"cluster_pub", pub_path},
                     {"subject", to_hex(m.subject)},
                     {"node_id", id_hex(subject->id)},
                     {"roles", trust::roles_to_string(m.roles)},
                     {"site", m.site},
                     {"serial", trust::serial_hex(m.serial)},
                     {"not_before", trust::iso_time(m.not_before)},
                     {"not_after", trust::iso_time(m.not_after)}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("admitted %s to cluster %s as %s until %s (serial %s)\ncertificate: %s\ncluster file: %s\n",
                id_short(subject->id).c_str(), op->cluster.name.c_str(), trust::roles_to_string(m.roles).c_str(),
                trust::iso_date(m.not_after).c_str(), trust::serial_hex(m.serial).c_str(), cert_path.c_str(),
                pub_path.c_str());
  }
  return 0;
}

/// The key --node STATE names: its certificate's subject, else its identity.key.
result<wire::public_key> node_key(const std::string& state) {
  if (fs::exists(state + "/membership.cert")) {
    auto m = trust::load_cert(state + "/membership.cert");
    if (!m) return m.err();
    return m->subject;
  }
  auto id = load_existing_key(state + "/identity.key");
  if (!id) return make_error(errc::invalid_input, state + ": no membership.cert or identity.key to revoke");
  return id->pk;
}

int run_revoke(const operator_options& o) {
  auto op = load_operator(o);
  if (!op) return fail(op.err());
  if (!o.node.empty() + !o.pub.empty() + !o.key.empty() != 1)
    return bad_input("give exactly one of --node, --pub, --key");
  result<wire::public_key> pk =
      !o.node.empty()  ? node_key(o.node)
      : !o.pub.empty() ? parse_pub(o.pub)
                       : [&] {
                           auto id = load_existing_key(o.key);
                           return id ? result<wire::public_key>(id->pk) : result<wire::public_key>(id.err());
                         }();
  if (!pk) return fail(pk.err());
  if (trust::is_operator(op->cluster, *pk))
    return bad_input(to_hex(*pk) + " is an operator key of cluster " + op->cluster.name +
                     "; operators are not revoked, they are removed from cluster.pub");
  const auto list = o.dir + "/revoked";
  auto added = trust::append_revocations_file(list, *pk);
  if (!added) return fail(added.err());
  const trust::revocation r{*pk, 0, op->key.pk, default_env().unix_seconds()};
  nlohmann::json j{{"revoked", to_hex(*pk)},
                   {"subject", trust::revocation_subject(*pk)},
                   {"payload", trust::revocation_payload(r)},
                   {"list", list},
                   {"new", *added}};
  if (!o.connect.empty()) {
    // Through the running cluster's ledger, so every node learns it.
    auto creds = actors::load_client_credentials(o.dir);
    if (!creds) return fail(creds.err());
    auto entry = actors::publish_revocation(*creds, o.connect, *pk);
    if (!entry) return fail(make_error(entry.err().code, "publishing the revocation through " + o.connect + ": " +
                                                             entry.err().message));
    j["ledger_entry"] = *entry;
    j["published_to"] = o.connect;
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

nlohmann::json cert_json(const trust::membership_cert& m, std::int64_t now) {
  return {{"type", "certificate"},
          {"cluster_id", to_hex(m.cluster)},
          {"subject", to_hex(m.subject)},
          {"node_id", id_hex(wire::id_of(m.subject))},
          {"roles", trust::roles_to_string(m.roles)},
          {"site", m.site},
          {"not_before", trust::iso_time(m.not_before)},
          {"not_after", trust::iso_time(m.not_after)},
          {"days_left", trust::days_left(m.not_after, now)},
          {"serial", trust::serial_hex(m.serial)},
          {"issuer", to_hex(m.issuer)}};
}

int run_show(const operator_options& o) {
  auto bytes = trust::read_small_file(o.file);
  if (!bytes) return fail(bytes.err());
  const auto now = default_env().unix_seconds();
  const std::string tag(bytes->begin(),
                        bytes->begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(3, bytes->size())));
  nlohmann::json j;
  if (tag == "HYK") {
    auto c = trust::decode_cluster(*bytes);
    if (!c) return fail(make_error(c.err().code, o.file + ": " + c.err().message));
    j = {{"type", "cluster"}, {"id", to_hex(c->id)}, {"name", c->name}, {"operators", keys_json(c->operators)}};
  } else if (tag == "HYC") {
    auto m = trust::decode_cert(*bytes);
    if (!m) return fail(make_error(m.err().code, o.file + ": " + m.err().message));
    j = cert_json(*m, now);
    const auto sibling = (fs::path(o.file).parent_path() / "cluster.pub").string();
    const auto cpath = !o.cluster.empty() ? o.cluster : fs::exists(sibling) ? sibling : std::string();
    if (!cpath.empty()) {
      auto c = trust::load_cluster(cpath);
      if (!c) return fail(c.err());
      auto g = trust::check_peer(*c, trust::revocations{}, m->subject, *bytes, now);
      j["check"] = g ? std::string("ok") : g.err().message;
      j["checked_against"] = cpath;
    }
  } else {
    return bad_input(o.file + ": not a cluster file (cluster.pub) or membership certificate");
  }
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

}  // namespace

CLI::App* add_operator_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<operator_options>();
  auto* cmd = app.add_subcommand("operator", "Cluster identity and membership certificates (operator tools)");
  cmd->require_subcommand(1);
  const auto add_dir = [&](CLI::App* sub) {
    sub->add_option("--dir", o->dir, "Operator folder: operator.key, cluster.pub, revoked (required)")
        ->type_name("OPDIR");
  };
  const auto add_json = [&](CLI::App* sub) { sub->add_flag("--json", o->json, "Print a JSON summary"); };

  auto* init = cmd->add_subcommand("init", "Create a cluster with a new operator key (OPDIR mode 0700)");
  add_dir(init);
  init->add_option("--name", o->name, "Cluster name (printable ASCII, <= 64 bytes)")
      ->capture_default_str()
      ->type_name("NAME");
  add_json(init);
  init->callback([o, &exit_code] { exit_code = run_init(*o); });

  auto* add_op = cmd->add_subcommand("add-operator", "Add another operator key (a remote site) to cluster.pub");
  add_dir(add_op);
  add_op->add_option("--key", o->key, "The other operator's key file (OTHER_OPDIR/operator.key)")->type_name("KEYFILE");
  add_op->add_option("--pub", o->pub, "The other operator's public key, 64 hex digits")->type_name("HEX");
  add_json(add_op);
  add_op->callback([o, &exit_code] { exit_code = run_add_operator(*o); });

  auto* admit = cmd->add_subcommand("admit", "Sign a membership certificate for a node or contributor key");
  add_dir(admit);
  admit->add_option("--node", o->node, "Node state folder: certifies STATE/identity.key (created if missing)")
      ->type_name("STATE");
  admit->add_option("--key", o->key, "A key file instead (contributor); the certificate goes to KEYFILE.cert")
      ->type_name("KEYFILE");
  admit->add_option("--roles", o->roles, "trainer,collector,scorer,ledger,admin,contributor or all")
      ->capture_default_str()
      ->type_name("ROLES");
  auto* days = admit->add_option("--days", o->days, "Days of validity")->capture_default_str()->type_name("N");
  admit->add_option("--not-after,--valid-until", o->not_after, "Explicit expiry, unix seconds (a past value warns)")
      ->type_name("UNIX");
  admit->add_option("--not-before", o->not_before, "Start of validity, unix seconds (default: now)")->type_name("UNIX");
  admit->add_option("--site", o->site, "Site name recorded in the certificate ([A-Za-z0-9._-], <= 64)")
      ->type_name("NAME");
  add_json(admit);
  admit->callback([o, days, &exit_code] { exit_code = run_admit(*o, days->count() > 0); });

  auto* revoke = cmd->add_subcommand("revoke", "Revoke a key: append it to OPDIR/revoked, print its ledger record");
  add_dir(revoke);
  revoke->add_option("--node", o->node, "Node state folder whose key to revoke")->type_name("STATE");
  revoke->add_option("--pub", o->pub, "Public key to revoke, 64 hex digits")->type_name("HEX");
  revoke->add_option("--key", o->key, "Key file whose key to revoke")->type_name("KEYFILE");
  revoke->add_option("--connect", o->connect,
                     "Also publish the revocation through this running node's ledger (every node then drops the key)")
      ->type_name("HOST:PORT");
  revoke->callback([o, &exit_code] { exit_code = run_revoke(*o); });

  auto* show = cmd->add_subcommand("show", "Print a cluster.pub or a membership certificate as JSON");
  show->add_option("FILE", o->file, "cluster.pub or *.cert")->required();
  show->add_option("--cluster", o->cluster, "Check the certificate against this cluster.pub (default: FILE's folder)")
      ->type_name("PATH");
  show->callback([o, &exit_code] { exit_code = run_show(*o); });
  return cmd;
}

}  // namespace hydra::apps
