#include "common/duty_cycle.hpp"

#include <gtest/gtest.h>

namespace hydra {

TEST(DutyCycle, PausesToKeepWorkAtTheLimit) {
  manual_env e;
  duty_cycle d(e, 25);
  auto t0 = e.now();
  d.pace(1.0);  // 1 s of work at 25% -> 3 s pause
  EXPECT_NEAR(seconds_between(t0, e.now()), 3.0, 1e-6);
  d.set(100);
  t0 = e.now();
  d.pace(1.0);
  EXPECT_EQ(e.now(), t0);
  d.set(0);  // clamped to 1%
  EXPECT_NEAR(d.pause_for(1.0), 99.0, 1e-9);
}

}  // namespace hydra
