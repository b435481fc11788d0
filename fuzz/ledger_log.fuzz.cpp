// A ledger file (ledger/log.hpp) as a node finds it on disk after a crash or
// as `hydra ledger verify` checks it: verify_file, read_log + fold, and
// ledger_log::open (which cuts a torn tail). The file is a memfd opened by
// path. Built twice: ledger_log with real signatures, ledger_log_nosig
// (same source) with wire::verify() accepting any, so the chain rules behind
// the signature check are fuzzed too.

#include <cstdint>

#include "fuzz/fuzz_util.hpp"
#include "ledger/chain.hpp"
#include "ledger/log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static hydra::fuzz::memory_file file("ledger");
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  file.set(bytes);
  if (auto rep = hydra::ledger::verify_file(file.path())) {
    if (rep->ok() && rep->entries > 0 && rep->authors == 0) __builtin_trap();
  }
  if (auto entries = hydra::ledger::read_log(file.path())) {
    if (auto state = hydra::ledger::fold(*entries)) {
      (void)state->balances();
      (void)state->missing_from({});
    }
  }
  if (auto log = hydra::ledger::ledger_log::open(file.path())) {
    (void)log->entries().size();
  }
  return 0;
}
