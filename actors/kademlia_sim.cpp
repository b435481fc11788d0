#include "actors/kademlia_sim.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

namespace hydra::membership {

namespace {

node_id random_id(rng& r) {
  node_id id{};
  for (std::size_t i = 0; i < id.size(); i += 8) {
    std::uint64_t w = r.next_u64();
    for (std::size_t j = 0; j < 8; ++j, w >>= 8) id[i + j] = static_cast<std::uint8_t>(w);
  }
  return id;
}

}  // namespace

sim_network::sim_network(std::size_t nodes, std::uint64_t seed, std::size_t k, std::size_t alpha,
                         bool refresh)
    : k_(k), alpha_(alpha), down_(nodes, false) {
  rng r(seed);
  ids_.reserve(nodes);
  tables_.reserve(nodes);
  by_id_.reserve(nodes);
  for (std::size_t i = 0; i < nodes; ++i) {
    ids_.push_back(random_id(r));
    tables_.emplace_back(ids_.back(), k);
    by_id_.emplace_back(ids_.back(), i);
  }
  std::sort(by_id_.begin(), by_id_.end(),
            [](const auto& a, const auto& b) { return id_less{}(a.first, b.first); });

  for (std::size_t i = 1; i < nodes; ++i) {
    learn(i, r.below(i));  // the bootstrap contact, e.g. from a config file
    join_lookup(i, ids_[i]);
    if (!refresh) continue;
    // Refresh every bucket farther away than the closest neighbour.
    const auto nearest = tables_[i].closest(ids_[i], 1);
    if (nearest.empty()) continue;
    for (int b = bucket_index(ids_[i], nearest.front().id) + 1; b < routing_table::bucket_count; ++b)
      join_lookup(i, tables_[i].random_id_in_bucket(b, r));
  }
}

contact sim_network::contact_of(std::size_t i) const {
  std::string address = std::to_string(i);  // "n<i>:7000", built without
  address.insert(address.begin(), 'n');      // operator+ (GCC 12 -Wrestrict)
  address += ":7000";
  return contact{ids_[i], std::move(address)};
}

std::size_t sim_network::index_of(const node_id& id) const {
  auto it = std::lower_bound(by_id_.begin(), by_id_.end(), id,
                             [](const auto& e, const node_id& v) { return id_less{}(e.first, v); });
  return it != by_id_.end() && it->first == id ? it->second : size();
}

// Node `at` hears from node `who`. A full bucket pings its least-recently
// seen contact; everyone simulated is alive, so it answers and stays.
void sim_network::learn(std::size_t at, std::size_t who) {
  now_ += 1;
  if (auto lrs = tables_[at].update(contact_of(who), now_)) tables_[at].update(*lrs, now_);
}

sim_lookup sim_network::join_lookup(std::size_t from, const node_id& target) {
  lookup l(target, tables_[from].closest(target, k_), k_, alpha_);
  l.ignore(ids_[from]);
  tables_[from].touch_bucket(bucket_index(ids_[from], target), now_);
  while (!l.done()) {
    const auto queries = l.next_queries();
    if (queries.empty()) break;
    for (const contact& q : queries) {
      const std::size_t qi = index_of(q.id);
      learn(qi, from);  // the receiver of any message learns its sender
      const auto answer = tables_[qi].closest(target, k_);
      learn(from, qi);  // and the sender learns whoever answers
      l.on_response(q.id, answer);
    }
  }
  return sim_lookup{l.found(), l.rounds(), l.queries(), l.result()};
}

sim_lookup sim_network::run_lookup(std::size_t from, const node_id& target) const {
  lookup l(target, tables_[from].closest(target, k_), k_, alpha_);
  l.ignore(ids_[from]);
  while (!l.done()) {
    const auto queries = l.next_queries();
    if (queries.empty()) break;
    for (const contact& q : queries) {
      const std::size_t qi = index_of(q.id);
      if (qi == size() || down_[qi]) {
        l.on_failure(q.id);
        continue;
      }
      l.on_response(q.id, tables_[qi].closest(target, k_));
    }
  }
  return sim_lookup{l.found(), l.rounds(), l.queries(), l.result()};
}

sim_result simulate_lookups(std::size_t nodes, std::size_t lookups, std::uint64_t seed, std::size_t k,
                            std::size_t alpha) {
  // The only clock read: wall time, for the report; it steers nothing.
  const auto start = std::chrono::steady_clock::now();
  sim_result out;
  out.nodes = nodes;
  if (nodes < 2) return out;
  sim_network net(nodes, seed, k, alpha);
  rng r = rng::derive(seed, 1);
  std::size_t found = 0, hops = 0, queries = 0, contacts = 0;
  for (std::size_t i = 0; i < nodes; ++i) contacts += net.table(i).size();
  for (std::size_t l = 0; l < lookups; ++l) {
    const std::size_t target = r.below(nodes);
    std::size_t from = r.below(nodes - 1);
    if (from >= target) ++from;
    const sim_lookup res = net.run_lookup(from, net.id(target));
    found += res.found ? 1 : 0;
    hops += static_cast<std::size_t>(res.rounds);
    queries += res.queries;
    out.max_hops = std::max(out.max_hops, res.rounds);
  }
  out.lookups = lookups;
  if (lookups > 0) {
    out.mean_hops = static_cast<double>(hops) / static_cast<double>(lookups);
    out.success_rate = static_cast<double>(found) / static_cast<double>(lookups);
    out.mean_queries = static_cast<double>(queries) / static_cast<double>(lookups);
  }
  out.mean_table_size = static_cast<double>(contacts) / static_cast<double>(nodes);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace hydra::membership
