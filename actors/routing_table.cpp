#include "actors/routing_table.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <utility>

namespace hydra::membership {

namespace {

bool valid_index(int index) { return index >= 0 && index < routing_table::bucket_count; }

// A contact with the top 64 bits of its distance to the target: sorting on
// those is exact unless two distances share them, then the full ids decide.
struct keyed {
  std::uint64_t top;
  const contact* c;
};

// Sorts `group` by distance to `target` and appends it to `out`.
void append_sorted(std::vector<keyed>& group, const node_id& target, std::vector<contact>& out) {
  std::sort(group.begin(), group.end(), [&](const keyed& a, const keyed& b) {
    if (a.top != b.top) return a.top < b.top;
    return id_less{}(xor_distance(a.c->id, target), xor_distance(b.c->id, target));
  });
  for (const keyed& e : group) out.push_back(*e.c);
  group.clear();
}

}  // namespace

routing_table::routing_table(node_id self, std::size_t k) : self_(self), k_(k == 0 ? 1 : k) {
  touched_.fill(-std::numeric_limits<double>::infinity());
}

routing_table::bucket* routing_table::bucket_of(const node_id& id) {
  const int i = bucket_index(self_, id);
  return i < 0 ? nullptr : &buckets_[static_cast<std::size_t>(i)];
}

const routing_table::bucket* routing_table::bucket_of(const node_id& id) const {
  const int i = bucket_index(self_, id);
  return i < 0 ? nullptr : &buckets_[static_cast<std::size_t>(i)];
}

void routing_table::mark(int index) {
  const auto i = static_cast<std::size_t>(index);
  const std::uint64_t bit = std::uint64_t{1} << (i % 64);
  if (buckets_[i].empty())
    occupied_[i / 64] &= ~bit;
  else
    occupied_[i / 64] |= bit;
}

int routing_table::next_occupied(int from) const {
  for (int w = from / 64; w < bucket_count / 64; ++w) {
    std::uint64_t bits = occupied_[static_cast<std::size_t>(w)];
    if (w == from / 64) bits &= ~std::uint64_t{0} << (from % 64);
    if (bits) return w * 64 + std::countr_zero(bits);
  }
  return bucket_count;
}

std::optional<contact> routing_table::update(const contact& c, double now) {
  bucket* b = bucket_of(c.id);
  if (!b) return std::nullopt;  // self
  touch_bucket(bucket_index(self_, c.id), now);
  auto it = std::find_if(b->begin(), b->end(), [&](const contact& e) { return id_less::equal(e.id, c.id); });
  if (it != b->end()) {
    // Known: rotate it to the tail (most recently seen) with the new address.
    std::rotate(it, it + 1, b->end());
    b->back().address = c.address;
    return std::nullopt;
  }
  if (b->size() < k_) {
    if (b->empty()) b->reserve(k_);  // buckets fill up: allocate once
    b->push_back(c);
    ++size_;
    mark(bucket_index(self_, c.id));
    return std::nullopt;
  }
  return b->front();
}

void routing_table::replace(const node_id& stale, const contact& fresh, double now) {
  remove(stale);
  update(fresh, now);
}

bool routing_table::remove(const node_id& id) {
  bucket* b = bucket_of(id);
  if (!b) return false;
  auto it = std::find_if(b->begin(), b->end(), [&](const contact& e) { return id_less::equal(e.id, id); });
  if (it == b->end()) return false;
  b->erase(it);
  --size_;
  mark(bucket_index(self_, id));
  return true;
}

bool routing_table::contains(const node_id& id) const { return find(id).has_value(); }

std::optional<contact> routing_table::find(const node_id& id) const {
  const bucket* b = bucket_of(id);
  if (!b) return std::nullopt;
  for (const contact& e : *b)
    if (id_less::equal(e.id, id)) return e;
  return std::nullopt;
}

// Distances from `target` fall into disjoint ranges by bucket. With t the
// bucket of `target` (seen from self): contacts in bucket t are closer than
// 2^t; those in buckets below t all lie in [2^t, 2^(t+1)); those in a bucket
// i above t lie in [2^i, 2^(i+1)). So we sort group by group in that order and
// stop as soon as we have `n`.
std::vector<contact> routing_table::closest(const node_id& target, std::size_t n) const {
  std::vector<contact> out;
  if (n == 0) return out;
  out.reserve(std::min(n, size_));
  std::vector<keyed> group;
  group.reserve(2 * k_);
  const std::uint64_t target_top = id_less::word(target, 0);
  auto gather = [&](int i) {
    for (const contact& e : buckets_[static_cast<std::size_t>(i)])
      group.push_back(keyed{id_less::word(e.id, 0) ^ target_top, &e});
  };
  const int t = bucket_index(self_, target);
  if (t >= 0) {
    gather(t);
    append_sorted(group, target, out);
    if (out.size() < n) {
      for (int i = next_occupied(0); i < t; i = next_occupied(i + 1)) gather(i);
      append_sorted(group, target, out);
    }
  }
  for (int i = next_occupied(t + 1); i < bucket_count && out.size() < n; i = next_occupied(i + 1)) {
    gather(i);
    append_sorted(group, target, out);
  }
  if (out.size() > n) out.resize(n);
  return out;
}

std::vector<contact> routing_table::all() const {
  std::vector<contact> out;
  out.reserve(size_);
  for (const bucket& b : buckets_) out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::size_t routing_table::bucket_size(int index) const {
  return valid_index(index) ? buckets_[static_cast<std::size_t>(index)].size() : 0;
}

std::vector<int> routing_table::stale_buckets(double now, double max_age) const {
  std::vector<int> out;
  for (int i = next_occupied(0); i < bucket_count; ++i)
    if (touched_[static_cast<std::size_t>(i)] < now - max_age) out.push_back(i);
  return out;
}

void routing_table::touch_bucket(int index, double now) {
  if (!valid_index(index)) return;
  auto& t = touched_[static_cast<std::size_t>(index)];
  t = std::max(t, now);
}

node_id routing_table::random_id_in_bucket(int index, rng& r) const {
  node_id id = self_;
  if (!valid_index(index)) return id;
  const std::size_t byte = 31 - static_cast<std::size_t>(index) / 8;
  const int bit = index % 8;
  // Random bits below `index`: the low `bit` bits of its byte, all later bytes.
  const auto low_mask = static_cast<std::uint8_t>((1u << bit) - 1);
  const auto noise = static_cast<std::uint8_t>(r.next_u64());
  id[byte] = static_cast<std::uint8_t>((id[byte] & ~low_mask) | (noise & low_mask));
  id[byte] ^= static_cast<std::uint8_t>(1u << bit);
  for (std::size_t i = byte + 1; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(r.next_u64());
  return id;
}

}  // namespace hydra::membership
