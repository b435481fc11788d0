// A trainer checkpoint from disk through read_checkpoint_file, the path
// `hydra train --checkpoint` and every resuming rank take. The first two
// input bytes choose the job state's size (so the size check passes for
// some inputs and the checksum and length checks are reached); the rest is
// the file, a memfd opened by path.

#include <cstdint>
#include <cstring>

#include "common/checkpoint_file.hpp"
#include "fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static hydra::fuzz::memory_file file("checkpoint");
  if (size < 2) return 0;
  const std::size_t expected = std::size_t(data[0]) | (std::size_t(data[1]) << 8);
  file.set(std::string_view(reinterpret_cast<const char*>(data + 2), size - 2));
  auto r = hydra::read_checkpoint_file(file.path(), expected);
  if (r) {
    // The promise a loader relies on: exactly the state's size, and
    // re-encoding gives the file back byte for byte.
    if (r->size() != expected) __builtin_trap();
    const auto again = hydra::encode_checkpoint(*r);
    if (again.size() != size - 2 || std::memcmp(again.data(), data + 2, again.size()) != 0) __builtin_trap();
  }
  return 0;
}
