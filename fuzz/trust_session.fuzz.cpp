// Records arriving on an established channel (trust::secure_session): a
// handshake between fixed identities with a fixed RNG (channel_setup.hpp),
// then the input as the initiator's record stream into the responder's
// session. Input: one byte (bit 7: 0 = open() on a stream cut into chunks
// by the low bits' seed; 1 = the zero-copy record_size() + open_record()
// path, record by record), then the records.

#include <cstdint>
#include <vector>

#include "fuzz/channel_setup.hpp"
#include "fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  hydra::fuzz::install_fixed_random();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hydra;
  if (size < 1) return 0;
  auto s = fuzz::establish();
  const std::uint8_t* in = data + 1;
  const std::size_t n = size - 1;
  if (!(data[0] & 0x80)) {
    fuzz::chunker chunks(data[0] & 0x7f);
    std::vector<std::uint8_t> plain;
    for (std::size_t at = 0; at < n;) {
      const std::size_t take = chunks.next(n - at);
      if (!s.responder.open(std::span(in + at, take), plain)) return 0;
      at += take;
    }
    return 0;
  }
  std::vector<std::uint8_t> plain;
  for (std::size_t at = 0; n - at >= 4;) {
    const std::span<const std::uint8_t, 4> header(in + at, 4);
    auto body = s.responder.record_size(header);
    if (!body) return 0;
    at += 4;
    if (n - at < *body) return 0;
    if (*body < 16) __builtin_trap();  // record_size promises ciphertext + tag
    plain.resize(*body - 16);
    if (!s.responder.open_record(header, std::span(in + at, *body), plain.data())) return 0;
    at += *body;
  }
  return 0;
}
