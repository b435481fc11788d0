// Bytes from a peer's TCP stream: frame_splitter::feed in chunks, then
// wire::open on every frame that pops and on the whole input. Signatures are
// real, so mutated frames stop at "bad signature"; wire_payload fuzzes what
// lies behind it. Input: 1 byte chunking seed, then the stream.

#include <kj/exception.h>

#include <cstdint>
#include <vector>

#include "fuzz/fuzz_util.hpp"
#include "wire/frame.hpp"

namespace {

constexpr std::size_t max_frame = 1 << 20;

void use(const hydra::wire::opened_frame& f) {
  // An opened frame was fully traversed: reading it must not throw.
  auto m = f.message();
  volatile std::size_t n = f.payload_bytes().size() + f.frame_bytes() + f.version() + f.sender()[0];
  n = n + static_cast<std::size_t>(m.which());
  (void)n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  hydra::fuzz::chunker chunks(data[0]);
  const std::uint8_t* stream = data + 1;
  const std::size_t n = size - 1;

  hydra::wire::frame_splitter splitter(max_frame);
  std::size_t at = 0;
  while (at < n) {
    const std::size_t take = chunks.next(n - at);
    if (!splitter.feed(stream + at, take)) break;
    at += take;
  }
  while (auto frame = splitter.pop()) {
    if (auto f = hydra::wire::open(std::move(*frame), max_frame)) use(*f);
  }
  if (auto f = hydra::wire::open(std::span<const std::uint8_t>(stream, n), max_frame)) use(*f);
  return 0;
}
