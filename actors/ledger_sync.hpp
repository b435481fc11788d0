#pragma once
/// A node's ledger replica and its replication (runs on the node actor).
///
/// Storage: STATE/ledger.log (ledger/log.hpp: one fsync per append, torn
/// tail cut on open) folded into a ledger_state (ledger/chain.hpp: every
/// entry's signature and chain checked, so forged, altered, replayed,
/// reordered and duplicated entries are rejected with a reason).
///
/// Replication, two ways:
/// - push: an entry this node authors is fsync'd here, then sent to every
///   live peer, which stores it (fsync) and acks. The entry counts as
///   acknowledged once it is durable on min(replicas, 1 + live peers) nodes
///   (replicas = 3 by default). An ack counts only from a peer the entry was
///   sent to, once per peer, and only if it names the entry's hash (so an
///   ack from a stranger, a repeated ack or one for another entry proves
///   nothing and is ignored).
/// - anti-entropy: every second the node sends its heads (last seq and hash
///   per author) to one random live peer; the peer answers with what we lack
///   and, when it lacks something itself, with its own heads, which we answer
///   the same way. Replicas that were down or partitioned converge. Catch-up
///   batches hold at most max_batch_bytes of encoded entries (and at least
///   one entry), far inside the transport's 64 MiB frame limit.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "actors/services.hpp"
#include "common/rng.hpp"
#include "ledger/chain.hpp"
#include "ledger/log.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {

/// Encoded bytes of ledger entries per catch-up message (at least one entry
/// goes in each, whatever its size; an entry is at most ~66 KiB).
inline constexpr std::size_t max_batch_bytes = std::size_t{8} << 20;

class ledger_sync {
 public:
  /// Called once an authored entry is acknowledged (true, replicas holding
  /// it) or its wait timed out (false, replicas that acked so far).
  using ack_callback = std::function<void(bool acknowledged, int replicas)>;

  /// Opens (or creates) DIR/ledger.log; errors name the file. `auth`
  /// (must outlive this) decides which stored entries count: balances,
  /// quorum and scorer trust follow only authors with the right role
  /// (ledger/authority.hpp); null counts every entry (tests).
  static result<std::unique_ptr<ledger_sync>> open(const std::string& dir, const wire::identity& me,
                                                   service_host host, int replicas = 3,
                                                   const ledger::authority* auth = nullptr);

  /// Signs a new entry of ours, stores it (fsync) and pushes it to the live
  /// peers. `done` (optional) hears when it is acknowledged.
  result<ledger::entry> author(ledger::kind k, const std::string& subject, std::int64_t amount,
                               const std::string& payload, ack_callback done = {});

  /// Stores an entry from elsewhere (a scorer's attestation handed to us, an
  /// entry a peer pushed). Already present counts as success.
  status accept(const ledger::entry& e);

  void on_heads(conn_id conn, LedgerHeads::Reader r);
  void on_entries(conn_id conn, const node_id& from, LedgerEntries::Reader r);
  void on_ack(const node_id& from, LedgerAck::Reader r);
  /// Anti-entropy round and ack timeouts; call about once a second or more.
  void tick();

  /// Called with every entry stored from now on (ours and others').
  void set_on_stored(std::function<void(const ledger::entry&)> f) { on_stored_ = std::move(f); }

  const ledger::ledger_state& state() const { return state_; }
  std::uint64_t rejected() const { return rejected_; }
  /// {"entries": n, "authors": n, "heads": {author hex: seq}, "rejected": n}
  std::string summary_json() const;
  /// {subject: credits}
  std::string balances_json() const;

 private:
  ledger_sync(ledger::ledger_log log, ledger::ledger_state st, const wire::identity& me, service_host host,
              int replicas);
  void send_heads(conn_id conn, bool reply);
  void send_heads_to(const std::string& address);
  void fill_heads(LedgerHeads::Builder b, bool reply) const;
  status store(const ledger::entry& e);  // state check, then log (fsync)

  struct pending {
    std::set<node_id> sent_to;  // the peers asked: the only ones whose ack counts
    digest256 last{};           // hash of the request's last entry, which an ack must name
    std::set<node_id> acked;
    double since = 0;
    ack_callback done;
  };

  ledger::ledger_log log_;
  ledger::ledger_state state_;
  wire::identity me_;
  service_host host_;
  int replicas_;
  std::map<std::uint64_t, pending> pending_;
  std::uint64_t next_request_ = 1;
  std::uint64_t rejected_ = 0;
  double last_round_ = -1e9;
  rng random_{7};
  std::function<void(const ledger::entry&)> on_stored_;
  const ledger::authority* auth_ = nullptr;
};

/// Ledger entries in the `LedgerEntries` list of `r`, decoded; undecodable
/// ones are skipped and counted in `bad`.
std::vector<ledger::entry> decode_entries(LedgerEntries::Reader r, std::size_t& bad);

}  // namespace hydra::actors
