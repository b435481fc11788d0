// The node's state-dir snapshot (STATE_DIR/node.snapshot, a NodeSnapshot
// flat message) as actors/node.cpp's snapshot_peers() reads it at start-up.
// That reader sits in node.cpp's anonymous namespace with the CAF actor, so
// its steps are repeated here, plus a full traversal of the root. Keep in
// step with snapshot_peers().
//
// One deliberate difference: snapshot_peers() reads with capnp's default
// traversal limit (8M words), which lets a 240-byte file declare a list of
// ~8M empty PeerInfo structs and so build ~8M strings (seconds and hundreds
// of MB; found by this target, fuzz/README.md). Here the limit is the one
// wire::open() uses, 8 x the message's words + 1024, as the suggested fix.

#include <capnp/dynamic.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "wire/hydra.capnp.h"
#include "wire/internal/validate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size % 8 || size > (16u << 20)) return 0;
  auto words = kj::heapArray<capnp::word>(size / 8);
  std::memcpy(words.begin(), data, size);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 8 * words.size() + 1024;
  std::vector<std::string> out;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    for (auto p : reader.getRoot<::NodeSnapshot>().getPeers()) out.emplace_back(p.getAddress());
  } catch (const kj::Exception&) {
    return 0;
  }
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    hydra::wire::internal::traverse(capnp::toDynamic(reader.getRoot<::NodeSnapshot>()));
  } catch (const kj::Exception&) {
  }
  return 0;
}
