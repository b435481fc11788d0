#pragma once
/// Full traversal of a received message, so that readers handed to the rest
/// of the program never meet a malformed pointer.

#include <capnp/dynamic.h>

namespace hydra::wire::internal {

/// Reads every pointer field the schema knows (recursively, active union
/// members only; unknown fields and union members are skipped). Each read is
/// bounds-checked and charged to the reader's traversal limit, so malformed
/// or amplifying messages throw kj::Exception here, not later in user code.
void traverse(capnp::DynamicStruct::Reader s);

}  // namespace hydra::wire::internal
