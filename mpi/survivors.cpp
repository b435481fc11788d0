#include "mpi/survivors.hpp"

#include <algorithm>
#include <iterator>
#include <string>

namespace hydra::mpi {

std::vector<int> normalized(std::vector<int> ranks) {
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  return ranks;
}

status validate_members(const std::vector<int>& proposed, const std::vector<int>& current,
                        int world_size, int self) {
  if (proposed.empty()) return make_error(errc::invalid_input, "shrink: empty member list");
  for (int r : proposed) {
    if (r < 0 || r >= world_size)
      return make_error(errc::invalid_input, "shrink: rank " + std::to_string(r) +
                                                 " outside the world of " + std::to_string(world_size));
  }
  auto sorted = normalized(proposed);
  if (sorted.size() != proposed.size())
    return make_error(errc::invalid_input, "shrink: duplicate rank in " + join_ranks(proposed));
  if (!std::binary_search(sorted.begin(), sorted.end(), self))
    return make_error(errc::invalid_input,
                      "shrink: own rank " + std::to_string(self) + " missing from " + join_ranks(proposed));
  if (!std::includes(current.begin(), current.end(), sorted.begin(), sorted.end()))
    return make_error(errc::invalid_input, "shrink: " + join_ranks(proposed) +
                                               " is not a subset of the current members " + join_ranks(current));
  return {};
}

std::vector<int> missing_from(const std::vector<int>& current, const std::vector<int>& survivors) {
  std::vector<int> out;
  std::set_difference(current.begin(), current.end(), survivors.begin(), survivors.end(),
                      std::back_inserter(out));
  return out;
}

std::vector<int> intersect_views(const std::vector<int>& mine, const std::vector<int>& senders,
                                 const std::vector<std::vector<int>>& theirs) {
  std::vector<int> acc = mine;
  for (std::size_t i = 0; i < senders.size(); ++i) {
    if (theirs[i].empty()) {  // its view never came: drop the sender itself
      acc.erase(std::remove(acc.begin(), acc.end(), senders[i]), acc.end());
      continue;
    }
    auto view = normalized(theirs[i]);
    std::vector<int> next;
    std::set_intersection(acc.begin(), acc.end(), view.begin(), view.end(), std::back_inserter(next));
    acc = std::move(next);
  }
  return acc;
}

std::uint64_t fingerprint(const std::vector<int>& members) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xffu;
      h *= 1099511628211ull;
    }
  };
  mix(members.size());
  for (int r : members) mix(static_cast<std::uint32_t>(r));
  return h;
}

std::string join_ranks(const std::vector<int>& ranks) {
  std::string s;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ranks[i]);
  }
  return s.empty() ? "(none)" : s;
}

}  // namespace hydra::mpi
