#pragma once
/// The admin side of the wire: one signed CtlRequest to a node, one
/// CtlReply back, over a plain blocking socket with a deadline. Used by
/// `hydra ctl`, the demo and the tests.

#include <capnp/message.h>

#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "wire/frame.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {

/// Sends `command` (with `args`) to the node at "host:port" and returns the
/// reply's JSON text. Errors: unavailable (cannot connect), deadline (no
/// answer in time), invalid_input (the node answered with an error).
result<std::string> ctl_request(const std::string& address, const std::string& command,
                                const std::vector<std::string>& args = {}, double timeout_seconds = 5.0);

/// Sends one Message sealed with `me` to "host:port" and returns the first
/// frame for which `is_answer` is true (used by `hydra contribute`).
result<wire::opened_frame> exchange(const std::string& address, const wire::identity& me,
                                   capnp::MallocMessageBuilder& mb, const std::function<bool(Message::Reader)>& is_answer,
                                   double timeout_seconds);

}  // namespace hydra::actors
