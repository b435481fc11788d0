// One ledger entry's canonical encoding as replicas exchange it
// (LedgerEntries messages): ledger::decode, and, when it decodes, the
// round trip encode(decode(b)) == b (the encoding is canonical: the hash
// and signature are over these bytes) and entry_hash.

#include <cstdint>
#include <cstring>

#include "ledger/entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto e = hydra::ledger::decode(std::span<const std::uint8_t>(data, size));
  if (!e) return 0;
  const auto again = hydra::ledger::encode(*e);
  if (again.size() != size || std::memcmp(again.data(), data, size) != 0) __builtin_trap();
  volatile auto h = hydra::ledger::entry_hash(*e)[0];
  (void)h;
  (void)hydra::ledger::author_short(*e);
  (void)hydra::ledger::to_string(e->k);
  return 0;
}
