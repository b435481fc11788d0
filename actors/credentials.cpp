#include "actors/credentials.hpp"

#include <filesystem>

namespace hydra::actors {
namespace fs = std::filesystem;

trust::verify_fn credentials::verifier(env& e) const {
  auto c = cluster;
  auto r = revoked;
  return [c, r, &e](const wire::public_key& pk, std::span<const std::uint8_t> cert) {
    return trust::check_peer(c, *r, pk, cert, e.unix_seconds());
  };
}

trust::channel_config credentials::channel(std::optional<wire::public_key> expect) const {
  trust::channel_config cfg;
  cfg.self = &id;
  cfg.cert = cert;
  cfg.cluster = cluster.id;
  cfg.verify = verifier();
  cfg.expect = expect;
  return cfg;
}

result<trust::peer_grant> credentials::own_grant(env& e) const {
  return trust::check_peer(cluster, *revoked, id.pk, cert, e.unix_seconds());
}

namespace {

result<trust::cluster> cluster_at(const std::string& path, const std::string& hint) {
  if (!fs::exists(path))
    return make_error(errc::not_found, path + " not found: " + hint);
  return trust::load_cluster(path);
}

result<std::vector<std::uint8_t>> cert_at(const std::string& path, const std::string& hint) {
  if (!fs::exists(path)) return make_error(errc::not_found, path + " not found: " + hint);
  auto bytes = trust::read_small_file(path, trust::max_cert_bytes);
  if (!bytes) return bytes.err();
  if (auto c = trust::decode_cert(*bytes); !c) return make_error(errc::invalid_input, path + ": " + c.err().message);
  return bytes;
}

}  // namespace

result<credentials> load_node_credentials(const std::string& state_dir, const std::string& cluster_file) {
  const std::string hint = "admit this node first: hydra operator admit --dir OPDIR --node " + state_dir;
  credentials c;
  c.where = state_dir;
  auto id = wire::load_or_create_identity(state_dir);
  if (!id) return id.err();
  c.id = *id;
  auto cl = cluster_at(cluster_file.empty() ? state_dir + "/cluster.pub" : cluster_file,
                       cluster_file.empty() ? hint + " (or pass --cluster FILE)" : "pass the cluster.pub of `hydra operator init`");
  if (!cl) return cl.err();
  c.cluster = std::move(*cl);
  if (!trust::is_operator(c.cluster, c.id.pk)) {
    auto cert = cert_at(state_dir + "/membership.cert", hint);
    if (!cert) return cert.err();
    c.cert = std::move(*cert);
  }
  return c;
}

result<credentials> load_client_credentials(const std::string& as, const std::string& cluster_file) {
  if (as.empty())
    return make_error(errc::invalid_input,
                      "say who you are: --as OPDIR (an operator folder), --as STATE (a node's state folder) or "
                      "--as KEYFILE (a key with KEYFILE.cert)");
  if (fs::is_directory(as) && fs::exists(as + "/operator.key")) {
    credentials c;
    c.where = as;
    auto id = wire::load_or_create_key_file(as + "/operator.key");
    if (!id) return id.err();
    c.id = *id;
    auto cl = cluster_at(cluster_file.empty() ? as + "/cluster.pub" : cluster_file, "run `hydra operator init --dir " + as + "`");
    if (!cl) return cl.err();
    c.cluster = std::move(*cl);
    if (!trust::is_operator(c.cluster, c.id.pk))
      return make_error(errc::invalid_input, as + "/operator.key is not an operator of cluster '" + c.cluster.name + "'");
    if (fs::exists(as + "/revoked")) (void)trust::load_revocations_file(as + "/revoked", *c.revoked);
    return c;
  }
  if (fs::is_directory(as)) return load_node_credentials(as, cluster_file);
  if (!fs::exists(as))
    return make_error(errc::not_found, as + " not found (a key file is created by `hydra operator admit --key " + as + "`)");
  credentials c;
  c.where = as;
  auto id = wire::load_or_create_key_file(as);
  if (!id) return id.err();
  c.id = *id;
  const std::string beside = (fs::path(as).parent_path() / "cluster.pub").string();
  auto cl = cluster_at(cluster_file.empty() ? beside : cluster_file, "pass --cluster FILE (the cluster.pub of your operator)");
  if (!cl) return cl.err();
  c.cluster = std::move(*cl);
  if (!trust::is_operator(c.cluster, c.id.pk)) {
    auto cert = cert_at(as + ".cert", "ask an operator: hydra operator admit --dir OPDIR --key " + as + " --roles contributor");
    if (!cert) return cert.err();
    c.cert = std::move(*cert);
  }
  return c;
}

std::optional<wire::public_key> parse_key_hex(std::string_view hex) {
  auto k = trust::parse_revocation_subject(hex);
  if (!k) return std::nullopt;
  return *k;
}

}  // namespace hydra::actors
