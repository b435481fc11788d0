#pragma once
/// The admin side of the wire: one signed CtlRequest to a node, one
/// CtlReply back, over a plain blocking socket with a deadline. Used by
/// `hydra ctl`, the demo and the tests.

#include <string>
#include <vector>

#include "common/result.hpp"

namespace hydra::actors {

/// Sends `command` (with `args`) to the node at "host:port" and returns the
/// reply's JSON text. Errors: unavailable (cannot connect), deadline (no
/// answer in time), invalid_input (the node answered with an error).
result<std::string> ctl_request(const std::string& address, const std::string& command,
                                const std::vector<std::string>& args = {}, double timeout_seconds = 5.0);

}  // namespace hydra::actors
