#pragma once
/// The admin side of the wire: one CtlRequest to a node, one CtlReply back,
/// over a blocking socket with a deadline, inside the cluster's encrypted
/// channel: the client proves its key (an operator's, or an admitted node's
/// or contributor's) and checks the node's certificate; the request is
/// signed, names the node as its recipient and expires in two minutes, so
/// it cannot be replayed or redirected; the reply must come from the key the
/// channel authenticated and name us. Used by `hydra ctl`, `hydra
/// contribute`, the demo and the tests.

#include <capnp/message.h>

#include <functional>
#include <string>
#include <vector>

#include "actors/credentials.hpp"
#include "common/result.hpp"
#include "wire/frame.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {

/// Sends `command` (with `args`) to the node at "host:port" and returns the
/// reply's JSON text. Errors: unavailable (cannot connect), deadline (no
/// answer in time), invalid_input (the node answered with an error).
result<std::string> ctl_request(const credentials& as, const std::string& address, const std::string& command,
                                const std::vector<std::string>& args = {}, double timeout_seconds = 5.0);

/// Opens a channel to "host:port" as `as`, sends one Message sealed with
/// `as.id` for the node the channel authenticated, and returns the first
/// frame for which `is_answer` is true (used by `hydra contribute`).
/// errc::unavailable when the node cannot be reached or refuses us (the
/// reason says which), errc::deadline when no answer comes in time.
result<wire::opened_frame> exchange(const credentials& as, const std::string& address,
                                   capnp::MallocMessageBuilder& mb, const std::function<bool(Message::Reader)>& is_answer,
                                   double timeout_seconds);

/// Publishes the revocation of `revoked` through the ledger of the node at
/// `address`, as operator `op`: an entry kind `revocation` signed by the
/// operator key, chained on the operator's head there (`ctl ledger head`),
/// submitted with `ctl ledger submit`; the node's replica stores it and
/// anti-entropy carries it to every replica. Returns the entry's hash (hex).
result<std::string> publish_revocation(const credentials& op, const std::string& address,
                                       const wire::public_key& revoked, double timeout_seconds = 5.0);

}  // namespace hydra::actors
