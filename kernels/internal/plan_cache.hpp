#pragma once
/// Primitives built once per batch size: a tiny map from batch size to plan.
/// A training run sees two or three sizes (the batch, the short last batch,
/// the evaluation batch), so a linear scan beats a hash map.

#include <memory>
#include <utility>
#include <vector>

namespace hydra::kernels::internal {

template <class Plan>
class plan_cache {
 public:
  template <class Make>
  Plan& get(int n, Make&& make) {
    for (auto& [k, p] : plans_)
      if (k == n) return *p;
    plans_.emplace_back(n, std::make_unique<Plan>(make(n)));
    return *plans_.back().second;
  }

 private:
  std::vector<std::pair<int, std::unique_ptr<Plan>>> plans_;
};

}  // namespace hydra::kernels::internal
