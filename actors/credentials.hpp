#pragma once
/// Who this process is on the cluster's channels: its key, its membership
/// certificate, the cluster it belongs to and the revocations it knows, as
/// found on disk. One place for the layouts that `hydra operator` writes:
/// - a node's state dir: identity.key, membership.cert, cluster.pub;
/// - an operator dir: operator.key, cluster.pub, revoked (no certificate:
///   operator keys are listed in cluster.pub);
/// - a key file (a contributor's --as KEYFILE): KEYFILE and KEYFILE.cert,
///   with cluster.pub beside it unless --cluster says otherwise.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.hpp"
#include "common/result.hpp"
#include "trust/cert.hpp"
#include "trust/channel.hpp"
#include "wire/identity.hpp"

namespace hydra::actors {

struct credentials {
  wire::identity id;
  std::vector<std::uint8_t> cert;  ///< empty for an operator key
  trust::cluster cluster;
  std::shared_ptr<trust::revocations> revoked = std::make_shared<trust::revocations>();
  std::string where;  ///< the folder or file they came from, for messages

  /// The admission check of every handshake and relayed record:
  /// trust::check_peer against this cluster and the revocations, now.
  trust::verify_fn verifier(env& e = default_env()) const;
  /// A channel configuration for a connection (initiators may `expect` a key).
  trust::channel_config channel(std::optional<wire::public_key> expect = {}) const;
  /// What our own certificate grants now (an error when it is expired,
  /// revoked or for another cluster).
  result<trust::peer_grant> own_grant(env& e = default_env()) const;
};

/// A node's: STATE/identity.key (created if missing), STATE/membership.cert,
/// and `cluster_file` (default STATE/cluster.pub). Errors say what is
/// missing and how to get it ("... run `hydra operator admit --dir OPDIR
/// --node STATE`").
result<credentials> load_node_credentials(const std::string& state_dir, const std::string& cluster_file = "");

/// A client's, from --as PATH: an operator dir, a node state dir, or a key
/// file with KEYFILE.cert. `cluster_file` overrides where cluster.pub is.
result<credentials> load_client_credentials(const std::string& as, const std::string& cluster_file = "");

/// A 64-digit hex public key (as `ctl peers` prints them).
std::optional<wire::public_key> parse_key_hex(std::string_view hex);

}  // namespace hydra::actors
