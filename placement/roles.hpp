#pragma once
/// Which machines host which roles. Pure: a function of the capabilities.
///
/// - ledger replicas: the most available alive machines that are not on
///   battery (ties: higher bandwidth, then lower index); fewer than asked
///   when not enough such machines exist; never on battery.
/// - trainers: alive, not on battery, and not slow (speed at least
///   `slow_fraction` of the median alive speed).
/// - collectors (gather scored data and feed trainers, network-bound): the
///   ceil(sqrt(alive)) non-battery alive machines with the most bandwidth.
/// - scorers: every alive machine on battery or slow: light work only.
/// Roles other than scorer may overlap (a trainer may also be a collector).

#include <cstddef>
#include <span>
#include <vector>

#include "placement/model.hpp"

namespace hydra::placement {

struct role_plan {
  std::vector<std::size_t> trainers;    ///< node indices, ascending
  std::vector<std::size_t> collectors;  ///< ascending
  std::vector<std::size_t> ledger;      ///< most available first
  std::vector<std::size_t> scorers;     ///< ascending
};

role_plan place_roles(std::span<const node_caps> nodes, std::size_t ledger_replicas = 3,
                      double slow_fraction = 0.25);

}  // namespace hydra::placement
