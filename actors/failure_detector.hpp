#pragma once
/// Gossip-style failure detection (van Renesse, Minsky & Hayden 1998): every
/// node bumps its own heartbeat each gossip round and gossips the newest
/// (incarnation, heartbeat) it knows for everyone; a peer whose version stops
/// advancing is first suspected, then declared dead. Per-peer RTT estimates
/// (RFC 6298) stretch the timeouts for slow links. Pure logic: the caller
/// passes time in as `now` (monotonic seconds).

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "common/node_id.hpp"

namespace hydra::membership {

/// What we believe about a peer.
enum class peer_state { alive, suspect, dead };

/// "alive", "suspect" or "dead".
const char* to_string(peer_state s);

/// RFC 6298 (Jacobson/Karels) smoothed round-trip time. First sample R:
/// srtt = R, rttvar = R/2. Later samples: rttvar = 3/4 rttvar + 1/4 |srtt - R|,
/// then srtt = 7/8 srtt + 1/8 R. rto = srtt + 4 rttvar, clamped to
/// [1 ms, 60 s] (the RFC's 1 s floor is for TCP over the internet; we run on
/// LANs). Before any sample rto() is the RFC's conservative 1 s.
class rtt_estimator {
 public:
  /// rto() before the first sample, seconds.
  static constexpr double initial_rto = 1.0;
  /// Bounds of rto(), seconds.
  static constexpr double min_rto = 0.001;
  static constexpr double max_rto = 60.0;

  /// Feeds one measured round trip (seconds); negative samples are ignored.
  void sample(double rtt);
  /// Smoothed RTT (0 before any sample).
  double srtt() const { return srtt_; }
  /// RTT variation (0 before any sample).
  double rttvar() const { return rttvar_; }
  /// Retransmission timeout: how long an answer may reasonably take.
  double rto() const;
  /// Whether sample() was called at least once.
  bool has_sample() const { return has_sample_; }

 private:
  double srtt_ = 0;
  double rttvar_ = 0;
  bool has_sample_ = false;
};

/// Tracks the heartbeat versions of peers and judges them alive/suspect/dead.
///
/// Timeouts are derived, not tuned. With n = known peers + 1 (ourselves) and
/// rto the peer's RTO:
///   suspect_after = gossip_interval * (2 + ceil(log2 n)) + 2 * rto
///   dead_after    = 2 * suspect_after
/// Why: push gossip spreads a new heartbeat to all n nodes in about log2 n
/// rounds (each informed node infects another per round), so a heartbeat
/// reaches us at most ~ceil(log2 n) intervals after it was made; 2 more
/// intervals absorb scheduling jitter and the round of the heartbeat itself,
/// and the heartbeat's own trip costs network delay, which 2 * rto covers
/// (rto already includes 4 deviations of the RTT; 4 * rto made detection
/// take 6-7 s on a loaded 2-core machine, where scheduling delay inflates
/// every RTT sample). Doubling gives the suspect a
/// second full propagation window to refute before it is declared dead.
/// With no RTT sample for a peer, rto is taken from all samples of all
/// peers together (links in one cluster are alike); with no sample at all
/// it is min(gossip_interval, 1 s): a gossip round is assumed to fit a
/// round trip. Example: interval 0.25 s, 8 nodes on loopback (rto = 1 ms):
/// suspect after 1.25 s + 4 ms, dead after ~2.5 s.
/// The formula assumes every peer's heartbeat reaches us about once per
/// interval, directly or by gossip. Push-pull gossip with 2 partners per round
/// keeps to that (simulated 8 nodes: staleness at most 0.93 x suspect_after);
/// with a single partner the propagation tail reaches 1.5 x: occasional
/// suspicions, though no false deaths.
class failure_detector {
 public:
  /// `gossip_interval`: seconds between gossip rounds (> 0).
  explicit failure_detector(double gossip_interval);

  /// A version (incarnation, heartbeat) seen for `id`, from gossip or from
  /// the peer directly. Newer means lexicographically greater. Returns true
  /// when it is newer than what we had (or the peer was unknown) and then
  /// records `now` as the time the peer's version last advanced, which makes
  /// it alive again. A restarted node starts its heartbeat over under a
  /// higher incarnation, so that still counts as newer and revives it; stale
  /// gossip about a dead node only repeats old versions and is ignored.
  bool observe(const node_id& id, std::uint64_t incarnation, std::uint64_t heartbeat, double now);

  /// One measured round trip (seconds) to `id` (e.g. a gossip exchange).
  void rtt_sample(const node_id& id, double rtt);

  /// alive / suspect / dead at `now`; an id never observed is dead.
  peer_state state(const node_id& id, double now) const;

  /// Silence (seconds since the version last advanced) after which `id` is
  /// suspected. See the class comment for the formula.
  double suspect_after(const node_id& id) const;
  /// Silence after which `id` is dead: 2 * suspect_after(id).
  double dead_after(const node_id& id) const;

  /// The time `id`'s version last advanced; -infinity when never observed.
  double last_heard(const node_id& id) const;

  /// The newest (incarnation, heartbeat) known for `id`; {0, 0} when unknown.
  std::pair<std::uint64_t, std::uint64_t> version(const node_id& id) const;

  /// RTT estimate for `id`; nullptr when no sample was ever given for it.
  const rtt_estimator* rtt(const node_id& id) const;

  /// Every observed peer (whatever its state), in id order.
  std::vector<node_id> known() const;

  /// Observed peers alive at `now`.
  std::size_t alive_count(double now) const;

  /// Drops everything about `id` (after it is dead long enough, or it left).
  void forget(const node_id& id);

  /// Seconds between gossip rounds.
  double gossip_interval() const { return interval_; }

 private:
  struct peer {
    bool observed = false;
    std::uint64_t incarnation = 0;
    std::uint64_t heartbeat = 0;
    double last_heard = 0;
    rtt_estimator rtt;
  };

  double rto_for(const node_id& id) const;

  double interval_;
  std::map<node_id, peer> peers_;
  std::size_t observed_ = 0;
  rtt_estimator cluster_rtt_;  // every sample of every peer
};

}  // namespace hydra::membership
