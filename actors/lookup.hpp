#pragma once
/// The iterative Kademlia FIND_NODE lookup (Maymounkov & Mazières 2002,
/// section 2.3) as a state machine without I/O: the caller sends the queries
/// next_queries() hands out, and feeds back each answer (on_response) or
/// timeout (on_failure), in any order and at any time.
///
/// Hops: rounds() counts *sequential* query rounds. A seed is queried in round
/// 1; a contact first learned from a response to a round-r query is queried in
/// round r+1 (the earliest round it could have been sent). rounds() is the
/// largest round of any query sent so far, i.e. the length of the longest
/// chain of queries each of which had to wait for the previous one's answer:
/// the number of network round trips the lookup needs when its queries are
/// not held back by `alpha`. It does not depend on how the caller schedules.

#include <cstddef>
#include <map>
#include <vector>

#include "actors/routing_table.hpp"
#include "common/node_id.hpp"

namespace hydra::membership {

class lookup {
 public:
  /// A lookup of `target` starting from `seeds` (usually the local table's
  /// closest(target, k)); keeps the `k` closest, at most `alpha` in flight.
  lookup(node_id target, std::vector<contact> seeds, std::size_t k = 20, std::size_t alpha = 3);

  /// Never query nor return `id` (the local node: peers will return it).
  /// Call before the first next_queries().
  void ignore(const node_id& id);

  /// Contacts to query now: the closest not yet queried among the k closest
  /// non-failed candidates, as many as keep at most `alpha` in flight. Marks
  /// them in flight. Empty when nothing more should be sent yet (or done()).
  std::vector<contact> next_queries();

  /// `from` answered with `nodes` (its closest to the target). Late answers
  /// (after a failure, after done()) still count.
  void on_response(const node_id& from, const std::vector<contact>& nodes);

  /// `from` timed out or was unreachable: it is dropped from the candidates.
  void on_failure(const node_id& from);

  /// True once each of the k closest non-failed candidates has responded
  /// (or there are none left). Queries still in flight beyond them are moot.
  bool done() const;

  /// Whether the target itself responded or appeared in some response.
  bool found() const { return found_; }

  /// Up to k closest contacts that responded, closest first.
  std::vector<contact> result() const;

  /// Sequential query rounds so far ("hops"; see the file comment).
  int rounds() const { return rounds_; }

  /// Queries handed out so far (messages sent).
  std::size_t queries() const { return queries_; }

  /// Queries currently in flight.
  std::size_t in_flight() const { return in_flight_; }

  /// The id being looked up.
  const node_id& target() const { return target_; }

 private:
  enum class state { fresh, in_flight, responded, failed };
  struct candidate {
    contact c;
    int depth;  // 0 for seeds; the round it gets queried in is depth + 1
    state s;
  };

  void add(const contact& c, int depth);
  bool ignored(const node_id& id) const;

  node_id target_;
  std::size_t k_;
  std::size_t alpha_;
  std::map<node_id, candidate, id_less> candidates_;  // keyed by XOR distance to target
  std::vector<node_id> ignored_;
  std::size_t in_flight_ = 0;
  std::size_t queries_ = 0;
  int rounds_ = 0;
  bool found_ = false;
};

}  // namespace hydra::membership
