#pragma once
/// The Kademlia routing table (Maymounkov & Mazières 2002, section 2.2): 256
/// k-buckets, bucket i holding contacts whose XOR distance from us has its
/// highest set bit at i. Pure logic: the caller passes time in as `now`
/// (monotonic seconds) and does any pinging itself.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/node_id.hpp"
#include "common/rng.hpp"

namespace hydra::membership {

/// A peer as the routing layer knows it.
struct contact {
  node_id id;           ///< BLAKE2b-256 of the peer's public key
  std::string address;  ///< "host:port"
};

/// Orders ids (and XOR distances) exactly as operator< does, but a 64-bit
/// word at a time: the hot comparison of closest() and lookups.
struct id_less {
  static std::uint64_t word(const node_id& id, std::size_t i) {
    std::uint64_t w;
    std::memcpy(&w, id.data() + 8 * i, 8);
    if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
    return w;
  }
  bool operator()(const node_id& a, const node_id& b) const {
    for (std::size_t i = 0; i < 4; ++i) {
      const std::uint64_t x = word(a, i), y = word(b, i);
      if (x != y) return x < y;
    }
    return false;
  }
  /// a == b, without a call to memcmp.
  static bool equal(const node_id& a, const node_id& b) {
    std::uint64_t diff = 0;
    for (std::size_t i = 0; i < 4; ++i) diff |= word(a, i) ^ word(b, i);
    return diff == 0;
  }
};

/// k-buckets ordered least- to most-recently seen, as in the paper.
class routing_table {
 public:
  /// Number of buckets: one per bit of a node id.
  static constexpr int bucket_count = 256;

  /// A table for node `self` holding at most `k` contacts per bucket.
  explicit routing_table(node_id self, std::size_t k = 20);

  /// Kademlia update: a known contact moves to its bucket's tail (most
  /// recently seen) and gets its address refreshed; a new contact is appended
  /// when its bucket has room. When the bucket is full nothing is inserted and
  /// the bucket's least-recently-seen contact is returned: the caller pings it,
  /// calls update() for it if it answers (keeping old, proven contacts is what
  /// makes Kademlia resist churn and flooding) or replace() if it is dead.
  /// `self` is never inserted. Either way the bucket counts as touched.
  std::optional<contact> update(const contact& c, double now);

  /// Drops `stale` (if present: the contact that failed its ping) and inserts
  /// `fresh` in its place. Should the bucket still be full, nothing is added.
  void replace(const node_id& stale, const contact& fresh, double now);

  /// Removes `id`; false when it was not in the table.
  bool remove(const node_id& id);

  /// Whether `id` is in the table.
  bool contains(const node_id& id) const;

  /// The contact stored for `id`, if any.
  std::optional<contact> find(const node_id& id) const;

  /// Up to `n` contacts sorted by XOR distance to `target` (closest first);
  /// never includes self. Visits only the buckets that can hold the answer.
  std::vector<contact> closest(const node_id& target, std::size_t n) const;

  /// Every contact, bucket 0 first, least-recently seen first within a bucket.
  std::vector<contact> all() const;

  /// Number of contacts in the table.
  std::size_t size() const { return size_; }

  /// Number of contacts in bucket `index` (0 for an index out of range).
  std::size_t bucket_size(int index) const;

  /// Capacity of one bucket.
  std::size_t k() const { return k_; }

  /// Buckets due for a refresh: those in the occupied range (from the lowest
  /// non-empty bucket up to 255; the buckets below it can only hold ids closer
  /// than our closest contact, which a lookup of our own id covers) that were
  /// not touched (update() or touch_bucket()) since `now - max_age`. The
  /// caller looks up random_id_in_bucket() for each. Empty for an empty table
  /// (bootstrap first). Ascending order.
  std::vector<int> stale_buckets(double now, double max_age) const;

  /// Records a lookup in bucket `index`'s range (call it for the bucket of
  /// every lookup target). Out-of-range indices are ignored.
  void touch_bucket(int index, double now);

  /// A uniformly random id that falls into bucket `index` (0..255) relative to
  /// self: self's bits above `index`, bit `index` flipped, random bits below.
  /// An index out of range yields self.
  node_id random_id_in_bucket(int index, rng& r) const;

  /// The id this table is centred on.
  const node_id& self() const { return self_; }

 private:
  using bucket = std::vector<contact>;  // least-recently seen first

  bucket* bucket_of(const node_id& id);
  const bucket* bucket_of(const node_id& id) const;
  void mark(int index);
  /// The lowest non-empty bucket in [from, 256), or 256.
  int next_occupied(int from) const;

  node_id self_;
  std::size_t k_;
  std::size_t size_ = 0;
  std::array<bucket, bucket_count> buckets_;
  std::array<double, bucket_count> touched_;
  std::array<std::uint64_t, bucket_count / 64> occupied_{};  // bit i: bucket i non-empty
};

}  // namespace hydra::membership
