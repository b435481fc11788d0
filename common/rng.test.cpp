#include "common/rng.hpp"

#include <gtest/gtest.h>

namespace hydra {

TEST(Rng, SameSeedSameStream) {
  rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, UniformStaysInRange) {
  rng r(1);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    float u = r.uniform(-2.0f, 3.0f);
    ASSERT_GE(u, -2.0f);
    ASSERT_LT(u, 3.0f);
    sum += u;
    ASSERT_LT(r.below(7), 7u);
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.05);
}

}  // namespace hydra
