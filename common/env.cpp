#include "common/env.hpp"

#include <thread>

namespace hydra {
namespace {

class real_env final : public env {
 public:
  clock::time_point now() const override { return clock::now(); }
  void sleep_for(clock::duration d) override { std::this_thread::sleep_for(d); }
  std::int64_t unix_seconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

env& default_env() {
  static real_env e;
  return e;
}

}  // namespace hydra
