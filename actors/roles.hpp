#pragma once
/// The actor interfaces of a Hydra node. Every actor is addressed by a
/// logical id ("trainer/0", "collector/0", "ledger/0") through its node,
/// never by process address, and every actor can write its state to a
/// snapshot and read it back (for migration and resume).
///
/// The node actor is complete; trainer, collector and ledger replica are
/// skeletons here (interface, logical id, snapshot of their counters) that
/// later modules fill in.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/transport.hpp"
#include "trust/grant.hpp"

namespace hydra::actors {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using frame_atom = caf::atom_constant<caf::atom("frame")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using describe_atom = caf::atom_constant<caf::atom("describe")>;
using spawn_atom = caf::atom_constant<caf::atom("spawnrole")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
/// status_atom: the node's status JSON for its metrics server. In-process
/// only (no frame maps to it): the HTTP server of the same process asks, at
/// most one request per scrape on its two workers; the reply is O(peers).
using status_atom = caf::atom_constant<caf::atom("status")>;
/// (guest_atom, reason): why the guest policy paused this node's trainer
/// ("" = it runs); the node advertises it in its signed capabilities.
/// In-process only (sent by the node's own guest monitor, once per change);
/// the reason is cut to 400 bytes.
using guest_atom = caf::atom_constant<caf::atom("guest")>;

/// A verified frame handed from the transport thread to the node actor.
struct inbound {
  conn_id conn = 0;
  std::shared_ptr<wire::opened_frame> frame;
  /// Who the channel authenticated on `conn` (the frame's sender is that key).
  std::shared_ptr<const trust::peer_grant> grant;
};

/// Snapshot bytes: a serialized `ActorSnapshot` (wire/hydra.capnp).
using snapshot_bytes = std::vector<std::uint8_t>;

/// What every role actor answers: its snapshot, a restore from one, and a
/// one-line description.
using role_actor = caf::typed_actor<caf::replies_to<snapshot_atom>::with<snapshot_bytes>,
                                    caf::replies_to<restore_atom, snapshot_bytes>::with<bool>,
                                    caf::replies_to<describe_atom>::with<std::string>>;

/// The node actor: membership, discovery, capability adverts, and the host
/// of the role actors (looked up by logical id).
using node_actor = caf::typed_actor<caf::reacts_to<tick_atom>,
                                    caf::reacts_to<lookup_atom>,
                                    caf::reacts_to<frame_atom, inbound>,
                                    caf::reacts_to<closed_atom, conn_id, std::string>,
                                    caf::replies_to<peers_atom>::with<std::string>,
                                    caf::replies_to<status_atom>::with<std::string>,
                                    caf::replies_to<spawn_atom, std::string>::with<std::string>,
                                    caf::replies_to<describe_atom, std::string>::with<std::string>,
                                    caf::replies_to<snapshot_atom>::with<snapshot_bytes>,
                                    caf::reacts_to<stop_atom>,
                                    caf::reacts_to<credit_atom, std::string>,
                                    caf::reacts_to<guest_atom, std::string>>;

/// Spawns a role skeleton ("trainer", "collector" or "ledger") with the
/// given logical id.
role_actor spawn_role(caf::actor_system& sys, const std::string& kind, const std::string& logical_id);

/// Encodes / decodes an ActorSnapshot.
snapshot_bytes encode_snapshot(const std::string& logical_id, const std::string& kind,
                               const std::vector<std::uint8_t>& state);
bool decode_snapshot(const snapshot_bytes& bytes, std::string& logical_id, std::string& kind,
                     std::vector<std::uint8_t>& state);

}  // namespace hydra::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hydra::actors::inbound)
