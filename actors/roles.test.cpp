#include "actors/roles.hpp"

#include <gtest/gtest.h>

namespace hydra::actors {
namespace {

TEST(Roles, SnapshotRoundTripsThroughAnotherActor) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto a = spawn_role(sys, "trainer", "trainer/0");
  std::string text;
  for (int i = 0; i < 3; ++i)
    self->request(a, caf::infinite, describe_atom::value).receive([&](const std::string& s) { text = s; },
                                                                  [&](caf::error&) { FAIL(); });
  EXPECT_EQ(text, "trainer trainer/0 (served 3)");
  snapshot_bytes snap;
  self->request(a, caf::infinite, snapshot_atom::value).receive([&](const snapshot_bytes& s) { snap = s; },
                                                                [&](caf::error&) { FAIL(); });
  // A fresh actor elsewhere takes over the state: this is what migration does.
  auto b = spawn_role(sys, "trainer", "trainer/9");
  bool ok = false;
  self->request(b, caf::infinite, restore_atom::value, snap).receive([&](bool r) { ok = r; },
                                                                     [&](caf::error&) { FAIL(); });
  EXPECT_TRUE(ok);
  self->request(b, caf::infinite, describe_atom::value).receive([&](const std::string& s) { text = s; },
                                                                [&](caf::error&) { FAIL(); });
  EXPECT_EQ(text, "trainer trainer/0 (served 4)");
  // A snapshot of another kind, or garbage, is refused.
  auto c = spawn_role(sys, "collector", "collector/0");
  self->request(c, caf::infinite, restore_atom::value, snap).receive([&](bool r) { ok = r; },
                                                                     [&](caf::error&) { FAIL(); });
  EXPECT_FALSE(ok);
  self->request(c, caf::infinite, restore_atom::value, snapshot_bytes{1, 2, 3}).receive([&](bool r) { ok = r; },
                                                                                        [&](caf::error&) { FAIL(); });
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace hydra::actors
