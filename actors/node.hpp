#pragma once
/// The node actor: one per machine (or per process in the local demo). It
/// owns the node's identity, advertises its measured capabilities, keeps the
/// membership view — a Kademlia routing table, gossip-style heartbeats with
/// failure detection (alive -> suspect -> dead, timeouts derived from
/// observed round-trip times), RTT and bandwidth per peer — and hosts the
/// role actors, addressed by logical id.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include <functional>
#include <memory>
#include <span>

#include "actors/capabilities.hpp"
#include "actors/scoring.hpp"
#include "actors/roles.hpp"
#include "actors/transport.hpp"
#include "ledger/entry.hpp"
#include "trust/grant.hpp"
#include "wire/identity.hpp"

namespace hydra::ledger {
struct authority;  // ledger/authority.hpp
}

namespace hydra::actors {

struct node_config {
  wire::identity identity;
  std::string listen_address;           ///< "host:port" peers reach us at
  std::string data_address;             ///< collective data plane, "" = not training
  std::vector<std::string> join;        ///< peers to join through
  std::string state_dir;                ///< snapshot goes to state_dir/node.snapshot
  std::uint64_t incarnation = 1;        ///< grows on each restart
  capabilities caps;
  std::shared_ptr<duty_cycle> duty;     ///< the node's --cpu-limit, shared with its trainer
  double gossip_interval = 0.25;        ///< seconds between gossip rounds
  std::size_t gossip_fanout = 3;
  std::size_t k = 20;                   ///< Kademlia bucket size
  int ledger_replicas = 3;              ///< an authored entry is acknowledged once on this many nodes
  std::shared_ptr<actors::scorer> scorer_role;  ///< set on trainers: scores contributions with the current model
  std::shared_ptr<sample_pool> pool;    ///< accepted contributions go here (the trainer draws from it)
  std::string watch_dir;                ///< contributions dropped here are taken in ("" = none)
  bool lie_scores = false;              ///< drill: report inverted scores (to test scorer trust)
  std::vector<std::uint8_t> cert;       ///< this node's membership certificate (trust/cert.hpp)
  /// Whether a key with this certificate is admitted to the cluster (valid,
  /// unexpired, unrevoked): checks certificates that gossip relays. Empty =
  /// every key is admitted (in-process tests only; `hydra node` always sets it).
  std::function<result<trust::peer_grant>(const wire::public_key&, std::span<const std::uint8_t>)> verify_peer;
  /// A stored ledger entry of kind `revocation`: returns true when it was a
  /// valid operator revocation now in force (the caller adds it to the
  /// revocation list the channel checks); the node then drops that peer.
  std::function<bool(const ledger::entry&)> apply_revocation;
  /// Authority over ledger entries (roles from admissions, operators):
  /// passed to the ledger replica. Null = every author counts (tests).
  std::shared_ptr<const ledger::authority> ledger_authority;
};

/// Spawns the node actor. `tp` must outlive it; the caller wires the
/// transport's events to the returned actor (see `connect_transport`).
node_actor spawn_node(caf::actor_system& sys, node_config cfg, transport& tp);

/// Transport events that forward frames and closures to `node`.
transport_events forward_to(caf::actor_system& sys, node_actor node);

/// Compute credits from a trainer (sent as credit_atom): JSON
/// {"accounts": [id hex...], "samples": [n...], "from_step": a, "to_step": b}.

/// Reads the incarnation counter in `state_dir`, adds one, stores it
/// (fsync'd) and returns the new value.
result<std::uint64_t> bump_incarnation(const std::string& state_dir);

}  // namespace hydra::actors
