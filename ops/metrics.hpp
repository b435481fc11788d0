#pragma once
/// Prometheus text exposition (format 0.0.4) of a node: what its node actor
/// reports (membership, contributions, ledger, control-plane bytes) and what
/// its trainer reports (common/train_metrics.hpp). Conventions: `hydra_`
/// prefix, base units (seconds, bytes, ratios), `_total` on counters, a
/// `hydra_build_info` gauge, and only bounded labels (peer state, verdict,
/// backend, link class) — never a node id.

#include <string>

#include <nlohmann/json.hpp>

#include "common/train_metrics.hpp"

namespace hydra::ops {

struct node_facts {
  std::string version;            ///< "0.1.0"
  std::string node_id;            ///< hex (only in the status JSON, never a label)
  std::string site;               ///< "" when none
  std::string backend = "p2p";    ///< the trainer's backend: p2p or mpi ("" = not training)
  std::string control_link_class; ///< loopback, lan or wan (of the listen address)
  std::string data_link_class;    ///< of the training group's peers
};

/// loopback (127.0.0.0/8, ::1, localhost), lan (RFC 1918, 169.254/16,
/// fc00::/7, fe80::/10) or wan, from "host:port" or a bare host.
std::string link_class_of(const std::string& address);

/// The /metrics page. `status` is the node actor's status JSON (empty or
/// null when the node did not answer: then only the trainer's and the build
/// metrics appear, with hydra_node_up 0).
std::string render_prometheus(const node_facts& facts, const nlohmann::json& status, const train_metrics* train);

/// The status page's data: the node's status JSON with the trainer's
/// figures and curves added under "train".
nlohmann::json status_document(const node_facts& facts, const nlohmann::json& status, const train_metrics* train);

}  // namespace hydra::ops
