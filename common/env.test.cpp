#include "common/env.hpp"
#include "common/result.hpp"

#include <gtest/gtest.h>

namespace hydra {

TEST(Env, ManualClockMovesOnlyWhenTold) {
  manual_env e;
  auto t0 = e.now();
  EXPECT_EQ(e.now(), t0);
  e.advance(std::chrono::milliseconds(1500));
  EXPECT_DOUBLE_EQ(seconds_between(t0, e.now()), 1.5);
}

TEST(Result, CarriesValueOrError) {
  result<int> ok = 7;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 7);
  result<int> bad = make_error(errc::invalid_input, "f: bad magic");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().code, errc::invalid_input);
  EXPECT_EQ(bad.err().message, "f: bad magic");
  EXPECT_STREQ(to_string(errc::deadline), "deadline exceeded");
}

}  // namespace hydra
