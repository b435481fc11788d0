// The channel handshake (trust/channel.hpp) as either side meets a peer's
// bytes: trust::handshake feed() in chunks, and once it is done, the bytes
// that follow (take_leftover) into the new session's open(). Input: one byte
// (bit 0: 0 = we are the responder, 1 = the initiator; bits 1-7: chunking
// seed), then the peer's byte stream. The RNG is fixed (channel_setup.hpp),
// so recorded transcripts in the seeds complete the handshake.

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
  const bool initiator = data[0] & 1;
  fuzz::chunker chunks(static_cast<std::uint8_t>(data[0] >> 1));
  const std::uint8_t* in = data + 1;
  const std::size_t n = size - 1;

  fuzz::reset_random(initiator ? fuzz::initiator_rng : fuzz::responder_rng);
  auto hs = initiator ? trust::handshake::initiator(fuzz::channel_config_for(fuzz::initiator_identity()))
                      : trust::handshake::responder(fuzz::channel_config_for(fuzz::responder_identity()));
  if (!hs) __builtin_trap();
  (void)hs->take_output();
  std::size_t at = 0;
  while (at < n && !hs->done()) {
    const std::size_t take = chunks.next(n - at);
    if (!hs->feed(std::span(in + at, take))) return 0;
    at += take;
    (void)hs->take_output();
  }
  if (!hs->done()) return 0;
  (void)hs->peer();
  auto session = hs->take_session();
  std::vector<std::uint8_t> plain;
  if (!session.open(hs->take_leftover(), plain)) return 0;
  while (at < n) {
    const std::size_t take = chunks.next(n - at);
    if (!session.open(std::span(in + at, take), plain)) return 0;
    at += take;
  }
  return 0;
}
