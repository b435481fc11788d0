#pragma once
/// The `inproc` backend: the ranks of a group are threads of one process and
/// every (sender, receiver) pair has a mailbox (mutex + condition variable).
/// With `inproc_faults` a test can kill a rank or delay its messages, so the
/// collectives' failure paths run without sockets.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "comm/link.hpp"
#include "common/env.hpp"

namespace hydra::comm {

/// Faults for one inproc group, shared by its links and the test driving
/// them. Thread-safe; changes take effect within a couple of milliseconds
/// even for a recv already waiting.
class inproc_faults {
 public:
  /// How the others see a dead rank.
  enum class death {
    silent,    ///< its messages just stop: recvs from it run into their deadline
    detected,  ///< like a reset connection: recvs from it fail with unavailable
  };
  /// From now on `rank` is dead: its sends vanish (and report success, as a
  /// crashed process never learns otherwise), its own recvs fail at once with
  /// errc::unavailable, and others receive what it sent before dying, then
  /// see `how`.
  void kill(int rank, death how = death::silent);
  /// `rank` dies (as kill) at its (n+1)-th send: the first n are delivered.
  void kill_after_sends(int rank, std::uint64_t n, death how = death::silent);
  /// Messages from `from` to `to` become receivable `d` after their send;
  /// order per pair is kept.
  void delay(int from, int to, clock::duration d);
  /// Default delay for every pair without its own.
  void delay_all(clock::duration d);
  bool dead(int rank) const;

  /// For the links: whether a send from `from` is delivered, and its delay.
  std::optional<clock::duration> on_send(int from, int to);
  /// For the links: std::nullopt while alive, else how it died.
  std::optional<death> death_of(int rank) const;

 private:
  struct rank_state {
    std::optional<death> dead;
    std::optional<std::uint64_t> sends_left;
    death planned = death::silent;
  };
  mutable std::mutex mu_;
  std::map<int, rank_state> ranks_;
  std::map<std::pair<int, int>, clock::duration> delays_;
  clock::duration delay_all_{};
};

/// Makes the `n` connected links of one group; link i has rank i. The links
/// share the group's mailboxes, so each may be moved to its own thread and
/// destroyed in any order; send and recv are thread-safe. `e` supplies the
/// time for delays and must run in real time (recv blocks on the real clock).
std::vector<std::unique_ptr<link>> make_inproc_group(int n, std::shared_ptr<inproc_faults> faults = nullptr,
                                                     env& e = default_env());

}  // namespace hydra::comm
