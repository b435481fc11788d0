#include "trust/channel.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <thread>

namespace hydra::trust {
namespace {

using bytes = std::vector<std::uint8_t>;

/// A toy membership scheme for these tests: a certificate is the cluster
/// authority's signature of the member's key (trust/cert.* does the real one).
struct cluster_fixture {
  wire::identity ca = wire::generate_identity();
  cluster_id cluster{};

  cluster_fixture() { cluster.fill(0x42); }

  bytes cert_for(const wire::identity& who) const {
    const auto sig = wire::sign(ca, who.pk);
    return bytes(sig.begin(), sig.end());
  }

  verify_fn verifier() const {
    return [pk = ca.pk](const wire::public_key& peer, std::span<const std::uint8_t> cert) -> result<peer_grant> {
      if (cert.empty()) return make_error(errc::invalid_input, "no certificate");
      wire::signature sig;
      if (cert.size() != sig.size()) return make_error(errc::invalid_input, "malformed certificate");
      std::copy(cert.begin(), cert.end(), sig.begin());
      if (!wire::verify(pk, peer, sig)) return make_error(errc::invalid_input, "certificate not signed by the cluster");
      peer_grant g;
      g.roles = role_trainer;
      return g;
    };
  }

  channel_config config(const wire::identity& who, bool with_cert = true) const {
    channel_config c;
    c.self = &who;
    if (with_cert) c.cert = cert_for(who);
    c.cluster = cluster;
    c.verify = verifier();
    return c;
  }
};

/// Bytes in flight from one side to the other, handed over whole per step so
/// a test can alter the n-th handshake message.
using tamper_fn = std::function<void(int message, bytes&)>;

struct pumped {
  status init_status, resp_status;
};

/// Runs both state machines against each other until neither has output.
pumped pump(handshake& i, handshake& r, const tamper_fn& tamper = {}) {
  pumped p;
  int message = 0;
  for (int round = 0; round < 8; ++round) {
    bytes a = i.take_output();
    if (!a.empty()) {
      if (tamper) tamper(message, a);
      ++message;
      if (p.resp_status) p.resp_status = r.feed(a);
    }
    bytes b = r.take_output();
    if (!b.empty()) {
      if (tamper) tamper(message, b);
      ++message;
      if (p.init_status) p.init_status = i.feed(b);
    }
    if (a.empty() && b.empty()) break;
  }
  return p;
}

struct pair_of_sessions {
  secure_session a, b;  // a: initiator's, b: responder's
};

pair_of_sessions connect(const channel_config& ci, const channel_config& cr) {
  auto i = handshake::initiator(ci);
  auto r = handshake::responder(cr);
  EXPECT_TRUE(i && r);
  auto p = pump(*i, *r);
  EXPECT_TRUE(p.init_status) << p.init_status.err().message;
  EXPECT_TRUE(p.resp_status) << p.resp_status.err().message;
  EXPECT_TRUE(i->done() && r->done());
  return {i->take_session(), r->take_session()};
}

bytes pattern(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(g());
  return b;
}

/// Each record of a sealed stream, whole (header included).
std::vector<bytes> split_records(const bytes& s) {
  std::vector<bytes> out;
  for (std::size_t at = 0; at < s.size();) {
    const std::size_t n = s[at] | s[at + 1] << 8 | s[at + 2] << 16 | std::size_t{s[at + 3]} << 24;
    out.emplace_back(s.begin() + at, s.begin() + at + 4 + n);
    at += 4 + n;
  }
  return out;
}

bytes join(std::initializer_list<bytes> parts) {
  bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(Channel, HandshakeAdmitsBothSidesAndCarriesDataBothWays) {
  cluster_fixture f;
  const auto alice = wire::generate_identity(), bob = wire::generate_identity();
  auto i = handshake::initiator(f.config(alice));
  auto r = handshake::responder(f.config(bob));
  ASSERT_TRUE(i && r);
  auto p = pump(*i, *r);
  ASSERT_TRUE(p.init_status && p.resp_status);
  ASSERT_TRUE(i->done() && r->done());
  EXPECT_EQ(i->peer().pk, bob.pk);
  EXPECT_EQ(i->peer().id, bob.id);
  EXPECT_EQ(r->peer().pk, alice.pk);
  EXPECT_TRUE(r->peer().has(role_trainer));
  auto a = i->take_session(), b = r->take_session();
  const bytes hello = pattern(5000, 1), reply = pattern(77, 2);
  bytes wire_ab, wire_ba, got_b, got_a;
  a.seal(hello, wire_ab);
  b.seal(reply, wire_ba);
  ASSERT_TRUE(b.open(wire_ab, got_b));
  ASSERT_TRUE(a.open(wire_ba, got_a));
  EXPECT_EQ(got_b, hello);
  EXPECT_EQ(got_a, reply);
  EXPECT_EQ(a.records_sent(), 1u);
  EXPECT_EQ(b.records_received(), 1u);
}

TEST(Channel, WrongClusterIsRefused) {
  cluster_fixture f;
  const auto alice = wire::generate_identity(), bob = wire::generate_identity();
  auto ci = f.config(alice);
  ci.cluster[0] ^= 1;
  auto i = handshake::initiator(ci);
  auto r = handshake::responder(f.config(bob));
  auto p = pump(*i, *r);
  ASSERT_FALSE(p.resp_status);
  EXPECT_NE(p.resp_status.err().message.find("cluster"), std::string::npos) << p.resp_status.err().message;
  EXPECT_FALSE(i->done() || r->done());
}

TEST(Channel, CallbackRefusalIsReportedVerbatim) {
  cluster_fixture f;
  const auto alice = wire::generate_identity(), bob = wire::generate_identity();
  auto cr = f.config(bob);
  cr.verify = [](const wire::public_key&, std::span<const std::uint8_t>) -> result<peer_grant> {
    return make_error(errc::invalid_input, "certificate serial 7 is revoked");
  };
  auto i = handshake::initiator(f.config(alice));
  auto r = handshake::responder(cr);
  auto p = pump(*i, *r);
  EXPECT_TRUE(p.init_status);  // the initiator learns it when the connection closes
  ASSERT_FALSE(p.resp_status);
  EXPECT_EQ(p.resp_status.err().message, "peer refused: certificate serial 7 is revoked");
  EXPECT_FALSE(r->done());
}

TEST(Channel, InitiatorRefusesAResponderWithAnotherKey) {
  cluster_fixture f;
  const auto alice = wire::generate_identity(), bob = wire::generate_identity(), mallory = wire::generate_identity();
  auto ci = f.config(alice);
  ci.expect = bob.pk;
  auto i = handshake::initiator(ci);
  auto r = handshake::responder(f.config(mallory));  // a member, but not the one we dialled
  auto p = pump(*i, *r);
  ASSERT_FALSE(p.init_status);
  EXPECT_EQ(p.init_status.err().message,
            "handshake: expected key " + key_short(bob.pk) + ", got " + key_short(mallory.pk));
  EXPECT_FALSE(i->done() || r->done());
}

TEST(Channel, OutsiderWithoutCertificateIsRefusedEitherWay) {
  cluster_fixture f;
  const auto member = wire::generate_identity(), outsider = wire::generate_identity();
  {
    auto i = handshake::initiator(f.config(outsider, false));
    auto r = handshake::responder(f.config(member));
    auto p = pump(*i, *r);
    ASSERT_FALSE(p.resp_status);
    EXPECT_EQ(p.resp_status.err().message, "peer refused: no certificate");
  }
  {
    auto i = handshake::initiator(f.config(member));
    auto r = handshake::responder(f.config(outsider, false));
    auto p = pump(*i, *r);
    ASSERT_FALSE(p.init_status);
    EXPECT_EQ(p.init_status.err().message, "peer refused: no certificate");
  }
  {  // a certificate from another cluster's authority
    cluster_fixture other;
    auto ci = f.config(outsider);
    ci.cert = other.cert_for(outsider);
    auto i = handshake::initiator(ci);
    auto r = handshake::responder(f.config(member));
    auto p = pump(*i, *r);
    ASSERT_FALSE(p.resp_status);
    EXPECT_EQ(p.resp_status.err().message, "peer refused: certificate not signed by the cluster");
  }
}

TEST(Channel, FlippedByteInAnyHandshakeMessageFailsTheHandshake) {
  cluster_fixture f;
  const auto alice = wire::generate_identity(), bob = wire::generate_identity();
  for (int target = 0; target < 3; ++target) {
    std::size_t len = 0;
    {  // this message's size
      auto i = handshake::initiator(f.config(alice));
      auto r = handshake::responder(f.config(bob));
      (void)pump(*i, *r, [&](int m, bytes& b) {
        if (m == target) len = b.size();
      });
    }
    ASSERT_GT(len, 0u);
    for (std::size_t at = 0; at < len; ++at) {
      auto i = handshake::initiator(f.config(alice));
      auto r = handshake::responder(f.config(bob));
      auto p = pump(*i, *r, [&](int m, bytes& b) {
        if (m == target) b[at] ^= 0x01;
      });
      // The responder is admitted only by a valid msg3; a flipped length
      // header may instead leave a side waiting for bytes that never come.
      EXPECT_FALSE(r->done()) << "message " << target + 1 << " byte " << at;
      if (target == 1 && at >= 4) {
        EXPECT_FALSE(p.init_status) << "byte " << at;
      }
      if (target == 2 && at >= 4) {
        EXPECT_FALSE(p.resp_status) << "byte " << at;
      }
    }
  }
}

TEST(Channel, OversizedHandshakeLengthFailsBeforeBuffering) {
  cluster_fixture f;
  const auto bob = wire::generate_identity();
  auto r = handshake::responder(f.config(bob));
  const bytes huge = {0x01, 0x10, 0x00, 0x00};  // 4097
  auto st = r->feed(huge);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "handshake: message of 4097 bytes exceeds limit 4096");
  EXPECT_FALSE(r->feed(bytes(10, 0)));  // sticky
}

class ChannelRecords : public ::testing::Test {
 protected:
  cluster_fixture f;
  wire::identity alice = wire::generate_identity(), bob = wire::generate_identity();
  channel_config ci = f.config(alice), cr = f.config(bob);

  void SetUp() override { ci.max_record = cr.max_record = 1000; }
  /// Three records of 1000, 1000 and 500 bytes from a to b.
  std::vector<bytes> three(secure_session& a, const bytes& plain) {
    bytes s;
    a.seal(plain, s);
    return split_records(s);
  }
};

TEST_F(ChannelRecords, FlippedByteAnywhereInARecordClosesTheChannel) {
  const bytes plain = pattern(1200, 3);
  for (std::size_t at = 0; at < 1000 + 20; at += 37) {
    auto [a, b] = connect(ci, cr);
    auto recs = three(a, plain);
    ASSERT_EQ(recs.size(), 2u);
    recs[0][at] ^= 0x80;
    bytes got;
    auto st = b.open(join({recs[0], recs[1]}), got);
    ASSERT_FALSE(st) << "byte " << at;
    EXPECT_TRUE(got.empty()) << "unauthenticated plaintext was released";
    if (at >= 4) {
      EXPECT_EQ(st.err().message, "record 0: authentication failed");
    }
    EXPECT_FALSE(b.open(recs[1], got));  // sticky
  }
}

TEST_F(ChannelRecords, ReplayedRecordClosesTheChannel) {
  auto [a, b] = connect(ci, cr);
  auto recs = three(a, pattern(2500, 4));
  bytes got;
  ASSERT_TRUE(b.open(join({recs[0], recs[1]}), got));
  auto st = b.open(recs[1], got);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 2: authentication failed");
  EXPECT_EQ(got.size(), 2000u);
}

TEST_F(ChannelRecords, ReorderedRecordsCloseTheChannel) {
  auto [a, b] = connect(ci, cr);
  auto recs = three(a, pattern(2500, 5));
  bytes got;
  auto st = b.open(join({recs[1], recs[0], recs[2]}), got);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 0: authentication failed");
  EXPECT_TRUE(got.empty());
}

TEST_F(ChannelRecords, TruncatedRecordClosesTheChannel) {
  auto [a, b] = connect(ci, cr);
  auto recs = three(a, pattern(2500, 6));
  bytes cut(recs[0].begin(), recs[0].end() - 1);
  bytes got;
  ASSERT_TRUE(b.open(cut, got));  // a partial record is just not complete yet
  EXPECT_TRUE(got.empty());
  auto st = b.open(recs[1], got);  // the stream goes on: the first record now ends wrongly
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 0: authentication failed");
}

TEST_F(ChannelRecords, OversizedOrUndersizedLengthFailsBeforeBuffering) {
  auto [a, b] = connect(ci, cr);
  bytes got;
  const bytes over_by_one = {0xf9, 0x03, 0x00, 0x00};  // 1017 > 1000 + 16
  auto st = b.open(over_by_one, got);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 0: length 1017 exceeds limit 1016");
  auto [c, d] = connect(ci, cr);
  const bytes tiny = {0x0f, 0x00, 0x00, 0x00};
  st = d.open(tiny, got);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 0: length 15 is shorter than a tag");
  auto [e, g] = connect(ci, cr);
  const bytes max = {0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(g.record_size(std::span<const std::uint8_t, 4>(max.data(), 4)));
}

TEST_F(ChannelRecords, InjectedRecordClosesTheChannel) {
  auto [a, b] = connect(ci, cr);
  auto [x, y] = connect(ci, cr);  // another session of the same two keys
  auto recs = three(a, pattern(2500, 7));
  auto forged = three(x, pattern(1000, 8));
  bytes got;
  auto st = b.open(join({recs[0], forged[0], recs[1]}), got);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 1: authentication failed");
  EXPECT_EQ(got.size(), 1000u);
}

TEST_F(ChannelRecords, RekeyEveryThreeRecordsOverManyRecords) {
  ci.rekey_every = cr.rekey_every = 3;
  ci.max_record = cr.max_record = 64;
  auto [a, b] = connect(ci, cr);
  const bytes plain = pattern(64 * 1000 + 5, 9);
  bytes s, got, back, s2;
  a.seal(plain, s);
  ASSERT_TRUE(b.open(s, got));
  EXPECT_EQ(got, plain);
  EXPECT_EQ(b.records_received(), 1001u);
  b.seal(plain, s2);  // the other direction rekeys on its own count
  ASSERT_TRUE(a.open(s2, back));
  EXPECT_EQ(back, plain);

  // A receiver that does not rekey at the same points fails at record 3:
  // the key really changes.
  auto c = ci;
  auto d = cr;
  d.rekey_every = 4;
  auto [x, y] = connect(c, d);
  bytes s3, got3;
  x.seal(plain, s3);
  auto st = y.open(s3, got3);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "record 3: authentication failed");
  EXPECT_EQ(got3.size(), 3u * 64);
}

TEST_F(ChannelRecords, LargeStreamCrossesRecordBoundariesInAnySplit) {
  auto [a, b] = connect(ci, cr);
  const bytes plain = pattern(1 << 20, 10);
  // Gathered parts of odd sizes seal to the same stream as one buffer would.
  std::vector<std::span<const std::byte>> parts;
  const auto all = std::as_bytes(std::span(plain));
  for (std::size_t at = 0, k = 1; at < all.size(); at += k, k = k * 3 % 4099 + 1)
    parts.push_back(all.subspan(at, std::min(k, all.size() - at)));
  std::vector<std::byte> s(a.sealed_size(plain.size()));
  a.seal_parts(parts, s.data());
  EXPECT_EQ(a.records_sent(), (plain.size() + 999) / 1000);
  bytes got;
  std::mt19937 g(11);
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  for (std::size_t at = 0; at < s.size();) {
    const std::size_t k = std::min<std::size_t>(g() % 3000 + 1, s.size() - at);
    ASSERT_TRUE(b.open(std::span(p + at, k), got));
    at += k;
  }
  EXPECT_EQ(got, plain);
}

TEST_F(ChannelRecords, ZeroCopyReceiveOpensRecordsInPlace) {
  auto [a, b] = connect(ci, cr);
  const bytes plain = pattern(2500, 12);
  bytes got;
  for (auto& rec : three(a, plain)) {
    auto n = b.record_size(std::span<const std::uint8_t, 4>(rec.data(), 4));
    ASSERT_TRUE(n);
    ASSERT_EQ(*n, rec.size() - 4);
    ASSERT_TRUE(b.open_record(std::span<const std::uint8_t, 4>(rec.data(), 4), std::span(rec).subspan(4),
                              rec.data() + 4));
    got.insert(got.end(), rec.begin() + 4, rec.end() - 16);
  }
  EXPECT_EQ(got, plain);
}

TEST_F(ChannelRecords, PlaintextDoesNotAppearInTheCiphertext) {
  auto [a, b] = connect(ci, cr);
  const std::string marker = "hydra-gradient-0123456789abcdef";
  bytes plain;
  for (int k = 0; k < 200; ++k) plain.insert(plain.end(), marker.begin(), marker.end());
  bytes s;
  a.seal(plain, s);
  const std::string cipher(s.begin(), s.end());
  EXPECT_EQ(cipher.find(marker.substr(0, 8)), std::string::npos);
  bytes got;
  ASSERT_TRUE(b.open(s, got));
  EXPECT_EQ(got, plain);
}

TEST(Channel, ConfigIsChecked) {
  cluster_fixture f;
  const auto alice = wire::generate_identity();
  auto c = f.config(alice);
  c.verify = nullptr;
  EXPECT_FALSE(handshake::initiator(c));
  c = f.config(alice);
  c.cert.resize(max_cert_bytes + 1);
  EXPECT_FALSE(handshake::responder(c));
  c = f.config(alice);
  c.rekey_every = 0;
  EXPECT_FALSE(handshake::initiator(c));
  c = f.config(alice);
  c.self = nullptr;
  EXPECT_FALSE(handshake::initiator(c));
}

TEST(Channel, HandshakeOverASocketHandsOverLeftoverRecords) {
  cluster_fixture f;
  const auto alice = wire::generate_identity(), bob = wire::generate_identity();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const bytes hello = pattern(300, 13);
  std::thread t([&] {
    auto ci = f.config(alice);
    ci.expect = bob.pk;
    bytes left;
    auto s = handshake_fd(sv[0], true, ci, deadline, left);
    ASSERT_TRUE(s) << s.err().message;
    EXPECT_EQ(s->second.pk, bob.pk);
    bytes out;
    s->first.seal(hello, out);  // right behind msg3: it may arrive with it
    ASSERT_EQ(::write(sv[0], out.data(), out.size()), static_cast<ssize_t>(out.size()));
  });
  bytes left;
  auto s = handshake_fd(sv[1], false, f.config(bob), deadline, left);
  t.join();
  ASSERT_TRUE(s) << s.err().message;
  EXPECT_EQ(s->second.pk, alice.pk);
  bytes got;
  ASSERT_TRUE(s->first.open(left, got));
  while (got.size() < hello.size()) {
    std::uint8_t buf[4096];
    const ssize_t n = ::read(sv[1], buf, sizeof buf);
    ASSERT_GT(n, 0);
    ASSERT_TRUE(s->first.open(std::span(buf, static_cast<std::size_t>(n)), got));
  }
  EXPECT_EQ(got, hello);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(Channel, HandshakeOverASocketHonoursTheDeadline) {
  cluster_fixture f;
  const auto alice = wire::generate_identity();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  bytes left;
  auto s = handshake_fd(sv[0], true, f.config(alice), std::chrono::steady_clock::now() + std::chrono::milliseconds(50),
                        left);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().code, errc::deadline);
  ::close(sv[1]);
  s = handshake_fd(sv[0], true, f.config(alice), std::chrono::steady_clock::now() + std::chrono::seconds(5), left);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().code, errc::unavailable);
  ::close(sv[0]);
}

}  // namespace
}  // namespace hydra::trust
