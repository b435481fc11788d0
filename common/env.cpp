#include "common/env.hpp"

namespace hydra {
namespace {

class real_env final : public env {
 public:
  clock::time_point now() const override { return clock::now(); }
};

}  // namespace

env& default_env() {
  static real_env e;
  return e;
}

}  // namespace hydra
