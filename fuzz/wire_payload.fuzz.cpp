// The Message a peer signs, behind the signature check: the input is a
// payload (a serialized Message), wrapped in an Envelope and opened with
// wire::verify() accepting any signature (nosig_verify.cpp). Covers
// open()'s payload checks, the full traversal (wire/validate.cpp) and typed
// reads of every message kind the node handles.

#include <capnp/dynamic.h>
#include <kj/exception.h>

#include <array>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_util.hpp"
#include "wire/frame.hpp"
#include "wire/internal/test_util.hpp"
#include "wire/internal/validate.hpp"

namespace {

constexpr std::size_t max_frame = 1 << 20;

/// Typed reads of the fields the node's handlers read first.
std::size_t read_typed(::Message::Reader m) {
  std::size_t n = 0;
  switch (m.which()) {
    case ::Message::GOSSIP:
      for (auto e : m.getGossip().getEntries())
        n += e.getInfo().getId().size() + e.getInfo().getAddress().size() + e.getIncarnation();
      break;
    case ::Message::CTL_REQUEST:
      n += m.getCtlRequest().getCommand().size();
      for (auto a : m.getCtlRequest().getArgs()) n += a.size();
      break;
    case ::Message::PROBE: n += m.getProbe().getData().size(); break;
    default: break;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::array<std::uint8_t, 32> pk{1, 2, 3};
  static const std::array<std::uint8_t, 64> sig{};
  const auto frame = hydra::wire::testing::envelope(hydra::wire::protocol_version, pk, sig,
                                                    std::span<const std::uint8_t>(data, size));
  hydra::wire::frame_splitter splitter(max_frame);
  if (!splitter.feed(frame)) return 0;
  auto popped = splitter.pop();
  if (!popped) return 0;
  auto f = hydra::wire::open(std::move(*popped), max_frame);
  if (!f) return 0;
  volatile std::size_t n = read_typed(f->message());
  // A second full traversal may run out of traversal budget (documented in
  // frame.hpp), but must not crash.
  try {
    hydra::wire::internal::traverse(capnp::toDynamic(f->message()));
  } catch (const kj::Exception&) {
  }
  (void)n;
  return 0;
}
