#pragma once
/// A whole Kademlia network simulated in memory: N nodes with random ids,
/// their routing tables built by joining one by one, and lookups run with the
/// real `lookup` state machine, each query answered synchronously from the
/// queried node's `routing_table`. No I/O, no threads; deterministic per seed.
///
/// Join (as in the paper, section 2.3): node i bootstraps from a random
/// earlier node, then looks up its own id. Every node it queries learns of it
/// (receiving any message updates the receiver's table) and it learns of every
/// node that answers; a full bucket pings its least-recently-seen contact,
/// which is alive in the simulation and so stays (no insertion). Finally the
/// joiner refreshes its buckets farther away than its closest neighbour with
/// a lookup of a random id in each, as the paper prescribes.
///
/// Hops are `lookup::rounds()`: sequential query rounds, i.e. the longest
/// chain of queries each of which had to wait for the previous answer.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "actors/lookup.hpp"
#include "actors/routing_table.hpp"
#include "common/node_id.hpp"
#include "common/rng.hpp"

namespace hydra::membership {

/// What simulate_lookups() measured.
struct sim_result {
  std::size_t nodes = 0;      ///< network size
  std::size_t lookups = 0;    ///< lookups measured (after all joins)
  double mean_hops = 0;       ///< mean lookup::rounds() per lookup
  int max_hops = 0;           ///< largest lookup::rounds()
  double success_rate = 0;    ///< fraction of lookups that found their target
  double seconds = 0;         ///< wall time of the whole run, joins included
  double mean_queries = 0;    ///< mean messages sent per lookup
  double mean_table_size = 0; ///< mean contacts per routing table after joins
};

/// One lookup's outcome in a sim_network.
struct sim_lookup {
  bool found = false;
  int rounds = 0;
  std::size_t queries = 0;
  std::vector<contact> result;  ///< lookup::result(), closest first
};

/// N simulated nodes and their routing tables.
class sim_network {
 public:
  /// Makes `nodes` random ids from `seed` and joins them one by one (see the
  /// file comment). `refresh`: whether joiners refresh their far buckets.
  sim_network(std::size_t nodes, std::uint64_t seed, std::size_t k = 20, std::size_t alpha = 3,
              bool refresh = true);

  std::size_t size() const { return ids_.size(); }
  const node_id& id(std::size_t i) const { return ids_[i]; }
  const routing_table& table(std::size_t i) const { return tables_[i]; }
  /// The contact (id and address) of node i.
  contact contact_of(std::size_t i) const;
  /// Index of the node with `id`, or size() when there is none.
  std::size_t index_of(const node_id& id) const;

  /// Marks node i as crashed (never answers) or back up.
  void set_down(std::size_t i, bool down) { down_[i] = down; }

  /// Node `from` looks up `target`, read-only: the queried nodes answer from
  /// their tables without learning anything; crashed ones fail the query.
  sim_lookup run_lookup(std::size_t from, const node_id& target) const;

 private:
  sim_lookup join_lookup(std::size_t from, const node_id& target);
  void learn(std::size_t at, std::size_t who);

  std::size_t k_;
  std::size_t alpha_;
  std::vector<node_id> ids_;
  std::vector<routing_table> tables_;
  std::vector<std::pair<node_id, std::size_t>> by_id_;  // sorted, for index_of
  std::vector<bool> down_;
  double now_ = 0;  // virtual time: one tick per message
};

/// Builds a `nodes`-node network from `seed`, then runs `lookups` lookups of
/// random existing ids from random other nodes and reports hops and success.
sim_result simulate_lookups(std::size_t nodes, std::size_t lookups, std::uint64_t seed,
                            std::size_t k = 20, std::size_t alpha = 3);

}  // namespace hydra::membership
