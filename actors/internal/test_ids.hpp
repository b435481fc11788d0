#pragma once
/// Test helper: random node ids from a deterministic generator.

#include "common/node_id.hpp"
#include "common/rng.hpp"

namespace hydra::membership::testing {

inline node_id random_id(rng& r) {
  node_id id{};
  for (auto& b : id) b = static_cast<std::uint8_t>(r.next_u64());
  return id;
}

}  // namespace hydra::membership::testing
