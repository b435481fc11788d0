// hydra_ledger_bench: ledger throughput against raw libsodium.
//
//   BM_sodium_verify      crypto_sign_verify_detached on one typical entry's
//                         signed bytes (~200 B): the floor under every append
//   BM_sodium_verify_stream  the same over the 10k entries BM_state_append uses
//   BM_state_append       ledger_state::append (verify + chain + fold) over a
//                         pre-signed stream of entries from 8 authors
//   BM_state_append_authority  the same entries after each author's admission
//                         (a certificate checked with a real Ed25519 verify,
//                         ledger/internal/test_util.hpp), appended to a state
//                         with an authority, then balances() and refused():
//                         append with the role rules of ledger/chain.hpp
//   BM_log_append_fsync   ledger_log::append (one record + fsync) on a file in
//                         $HYDRA_BENCH_DIR (default: the system temp dir)
//   BM_verify_file        verify_file over a 10k-entry file (page cache warm)
//
// Every benchmark reports its rate as a counter (verifies_per_s or
// entries_per_s). Google Benchmark divides rate counters by CPU time, except
// for BM_log_append_fsync, which is timed by the wall clock (UseRealTime):
// the CPU-bound rates stay comparable on a shared machine, and the fsync rate
// counts the wait for the device. bench/ledger_vs_sodium.sh runs it and
// prints the ratios.

#include <benchmark/benchmark.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ledger/authority.hpp"
#include "ledger/chain.hpp"
#include "ledger/entry.hpp"
#include "ledger/internal/test_util.hpp"
#include "ledger/log.hpp"

namespace {

using namespace hydra;
using namespace hydra::ledger;

constexpr int authors = 8;
constexpr std::size_t stream_size = 10000;

/// A typical reward entry: a 64-hex contribution id and a small JSON payload
/// (signed bytes ~200 B).
entry typical(int i, std::uint64_t seq, const digest256& prev) {
  entry e;
  e.k = i % 5 == 4 ? kind::penalty : kind::reward;
  e.seq = seq;
  e.prev = prev;
  digest256 id = blake2b_256(std::as_bytes(std::span(&i, 1)));
  e.subject = to_hex(id);
  e.amount = 1000 + i % 977;
  e.payload = "{\"score\":0." + std::to_string(100 + i % 900) + ",\"round\":" + std::to_string(i / authors) + "}";
  return e;
}

/// 10k entries from 8 authors, interleaved round-robin, each author's chain
/// valid. Built once.
const std::vector<entry>& stream() {
  static const std::vector<entry> s = [] {
    std::vector<wire::identity> ids;
    for (int a = 0; a < authors; ++a) ids.push_back(wire::generate_identity());
    std::vector<entry> out;
    out.reserve(stream_size);
    std::vector<std::optional<entry>> last(authors);
    for (std::size_t i = 0; i < stream_size; ++i) {
      const int a = static_cast<int>(i % authors);
      const auto& prev = last[a];
      entry e = typical(static_cast<int>(i), prev ? prev->seq + 1 : 0, prev ? entry_hash(*prev) : digest256{});
      e = sign(std::move(e), ids[a]);
      last[a] = e;
      out.push_back(std::move(e));
    }
    return out;
  }();
  return s;
}

/// The cluster of the authority stream: one operator, 8 admitted authors.
struct admitted_stream {
  ledger::testing::test_authority auth;
  std::vector<entry> entries;
};

/// Each author's admission (seq 0; 6 collectors, 2 trainers whose rewards
/// are refused), then the entries of `stream()`'s shape, chained after it.
const admitted_stream& authority_stream() {
  static const admitted_stream s = [] {
    const auto op = wire::generate_identity();
    admitted_stream out{ledger::testing::test_authority({op}), {}};
    std::vector<wire::identity> ids;
    std::vector<std::optional<entry>> last(authors);
    for (int a = 0; a < authors; ++a) {
      ids.push_back(wire::generate_identity());
      const std::uint32_t roles = a < 6 ? role_collector | role_scorer : role_trainer;
      entry e;
      e.k = kind::admission;
      e.subject = to_hex(ids[a].pk);
      e.payload = ledger::testing::admission_payload(ledger::testing::test_authority::issue(op, ids[a].pk, roles));
      e = sign(std::move(e), ids[a]);
      last[a] = e;
      out.entries.push_back(std::move(e));
    }
    for (std::size_t i = 0; i < stream_size; ++i) {
      const int a = static_cast<int>(i % authors);
      entry e = typical(static_cast<int>(i), last[a]->seq + 1, entry_hash(*last[a]));
      e = sign(std::move(e), ids[a]);
      last[a] = e;
      out.entries.push_back(std::move(e));
    }
    return out;
  }();
  return s;
}

std::filesystem::path bench_dir() {
  const char* d = std::getenv("HYDRA_BENCH_DIR");
  return d && *d ? std::filesystem::path(d) : std::filesystem::temp_directory_path();
}

std::filesystem::path temp_path(const std::string& stem) {
  return bench_dir() / (stem + "." + std::to_string(::getpid()) + ".log");
}

void BM_sodium_verify(benchmark::State& state) {
  if (sodium_init() < 0) return state.SkipWithError("sodium_init failed");
  const entry& e = stream()[stream_size / 2];
  const auto bytes = encode_unsigned(e);
  for (auto _ : state) {
    const int r = crypto_sign_verify_detached(e.sig.data(), bytes.data(), bytes.size(), e.author.data());
    benchmark::DoNotOptimize(r);
    if (r != 0) return state.SkipWithError("signature does not verify");
  }
  state.counters["bytes"] = static_cast<double>(bytes.size());
  state.counters["verifies_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                        benchmark::Counter::kIsRate);
}
BENCHMARK(BM_sodium_verify);

/// The same raw verify over every entry of the stream (8 keys, 10k messages),
/// the exact signature work BM_state_append does.
void BM_sodium_verify_stream(benchmark::State& state) {
  if (sodium_init() < 0) return state.SkipWithError("sodium_init failed");
  const auto& s = stream();
  std::vector<std::vector<std::uint8_t>> bytes;
  for (const entry& e : s) bytes.push_back(encode_unsigned(e));
  std::size_t i = 0;
  for (auto _ : state) {
    const std::size_t k = i++ % s.size();
    const int r = crypto_sign_verify_detached(s[k].sig.data(), bytes[k].data(), bytes[k].size(), s[k].author.data());
    benchmark::DoNotOptimize(r);
    if (r != 0) return state.SkipWithError("signature does not verify");
  }
  state.counters["verifies_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                        benchmark::Counter::kIsRate);
}
BENCHMARK(BM_sodium_verify_stream);

void BM_state_append(benchmark::State& state) {
  const auto& s = stream();
  std::size_t n = 0;
  for (auto _ : state) {
    std::optional<ledger_state> st(std::in_place);
    for (const entry& e : s)
      if (!st->append(e)) return state.SkipWithError("append rejected an entry");
    n += s.size();
    benchmark::DoNotOptimize(st->entries().data());
    state.PauseTiming();
    st.reset();
    state.ResumeTiming();
  }
  state.counters["authors"] = authors;
  state.counters["entries_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_state_append)->Unit(benchmark::kMillisecond);

/// Append with the role rules: admissions' certificates verified (once
/// each), then one fold for balances and refusals at the end.
void BM_state_append_authority(benchmark::State& state) {
  const auto& s = authority_stream();
  std::size_t n = 0, refused = 0;
  for (auto _ : state) {
    std::optional<ledger_state> st(std::in_place, &s.auth);
    for (const entry& e : s.entries)
      if (!st->append(e)) return state.SkipWithError("append rejected an entry");
    benchmark::DoNotOptimize(st->balances());
    refused = st->refused().size();
    n += s.entries.size();
    state.PauseTiming();
    st.reset();
    state.ResumeTiming();
  }
  if (refused != stream_size / 4) return state.SkipWithError("unexpected number of refusals");
  state.counters["authors"] = authors;
  state.counters["refused"] = static_cast<double>(refused);
  state.counters["entries_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_state_append_authority)->Unit(benchmark::kMillisecond);

void BM_log_append_fsync(benchmark::State& state) {
  const auto& s = stream();
  const auto path = temp_path("hydra_ledger_bench_append");
  std::filesystem::remove(path);
  auto log = ledger_log::open(path.string());
  if (!log) return state.SkipWithError(("open: " + log.err().message).c_str());
  std::size_t i = 0;
  for (auto _ : state) {
    // The log checks records, not chains: cycling through the stream is fine.
    if (!log->append(s[i++ % s.size()])) {
      state.SkipWithError("log append failed");
      break;
    }
  }
  std::filesystem::remove(path);
  state.SetLabel(bench_dir().string());
  state.counters["entries_per_s"] = benchmark::Counter(static_cast<double>(i), benchmark::Counter::kIsRate);
}
// fsync waits on the device, not the CPU: time (and the rate) by the wall clock.
BENCHMARK(BM_log_append_fsync)->Unit(benchmark::kMicrosecond)->UseRealTime();

/// Writes `entries` in the log's record format (see log.hpp) without an fsync
/// per record; verify_file checks the result is a good log.
bool write_log_file(const std::filesystem::path& path, const std::vector<entry>& entries) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  for (const entry& e : entries) {
    const auto body = encode(e);
    const digest256 d = blake2b_256(std::as_bytes(std::span(body)));
    std::uint8_t hdr[8];
    const auto len = static_cast<std::uint32_t>(body.size());
    for (int b = 0; b < 4; ++b) hdr[b] = static_cast<std::uint8_t>(len >> (8 * b));
    for (int b = 0; b < 4; ++b) hdr[4 + b] = d[b];
    f.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    f.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
  }
  return static_cast<bool>(f.flush());
}

void BM_verify_file(benchmark::State& state) {
  const auto& s = stream();
  const auto path = temp_path("hydra_ledger_bench_verify");
  if (!write_log_file(path, s)) return state.SkipWithError("cannot write the log file");
  std::size_t n = 0;
  for (auto _ : state) {
    auto rep = verify_file(path.string());
    if (!rep || !rep->ok() || rep->entries != s.size()) {
      std::filesystem::remove(path);
      return state.SkipWithError("verify_file did not accept the 10k-entry file");
    }
    n += rep->entries;
  }
  std::filesystem::remove(path);
  state.counters["file_entries"] = static_cast<double>(s.size());
  state.counters["entries_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_verify_file)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
