#pragma once
/// What the node actor lends to the services it hosts (ledger replication,
/// the collector and the scorer): sending frames and its membership view.
/// Services run on the node actor's thread; none of these calls block.

#include <capnp/message.h>

#include <functional>
#include <string>
#include <vector>

#include "actors/transport.hpp"
#include "common/node_id.hpp"

namespace hydra::actors {

struct peer_ref {
  node_id id{};
  std::string address;  ///< where it listens (control plane)
  bool trainer = false; ///< it runs a trainer (so it has a model to score with)
};

struct service_host {
  /// Seals `mb` (a Message) with the node's key and sends it to the peer
  /// listening at `address`.
  std::function<void(const std::string& address, capnp::MallocMessageBuilder& mb)> send_to;
  /// Seals and sends on an existing connection (replies).
  std::function<void(conn_id conn, capnp::MallocMessageBuilder& mb)> reply;
  /// The live peers (not this node).
  std::function<std::vector<peer_ref>()> live;
  /// Seconds since the node started.
  std::function<double()> now;
};

}  // namespace hydra::actors
