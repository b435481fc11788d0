#include "common/hash.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hydra {

TEST(Hash, Blake2bKnownVector) {
  // BLAKE2b-256 of the empty string (RFC 7693 test vectors / libsodium).
  auto d = blake2b_256({});
  EXPECT_EQ(to_hex(d), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST(Hash, FloatsDifferByOneBit) {
  std::vector<float> a(1000, 0.5f), b = a;
  EXPECT_EQ(hash_floats(a), hash_floats(b));
  b[999] = std::nextafter(b[999], 1.0f);
  EXPECT_NE(hash_floats(a), hash_floats(b));
}

}  // namespace hydra
