#include "trust/cert.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace hydra::trust {
namespace {

constexpr std::int64_t day = 86400;

/// One operator, one node key and a valid certificate for it, at `now`
/// (manual_env's 2027-01-15).
struct fixture {
  manual_env env;
  std::int64_t now = env.unix_seconds();
  wire::identity op = wire::generate_identity();
  wire::identity node = wire::generate_identity();
  cluster c = make_cluster("lab", op.pk);
  revocations revoked;

  std::vector<std::uint8_t> cert(std::uint32_t roles = all_node_roles, std::int64_t from = 0, std::int64_t to = 0) {
    auto b = issue_cert(op, c, node.pk, roles, from ? from : now, to ? to : now + 365 * day, "site-a");
    EXPECT_TRUE(b) << b.err().message;
    return *b;
  }
  std::string refusal(std::span<const std::uint8_t> cert_bytes, std::int64_t at = 0) {
    auto g = check_peer(c, revoked, node.pk, cert_bytes, at ? at : now);
    EXPECT_FALSE(g);
    if (g) return "admitted";
    EXPECT_EQ(g.err().code, errc::invalid_input);
    return g.err().message;
  }
};

TEST(Cluster, RoundTrips) {
  auto op = wire::generate_identity();
  auto c = make_cluster("my cluster", op.pk);
  auto b = encode_cluster(c, op);
  ASSERT_TRUE(b) << b.err().message;
  auto back = decode_cluster(*b);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, c);
  EXPECT_TRUE(is_operator(*back, op.pk));
  EXPECT_FALSE(is_operator(*back, wire::generate_identity().pk));
}

TEST(Cluster, TwoOperatorsEitherMaySign) {
  auto a = wire::generate_identity(), b = wire::generate_identity();
  auto c = make_cluster("lab", a.pk);
  c.operators.push_back(b.pk);
  for (const auto* signer : {&a, &b}) {
    auto bytes = encode_cluster(c, *signer);
    ASSERT_TRUE(bytes);
    auto back = decode_cluster(*bytes);
    ASSERT_TRUE(back) << back.err().message;
    EXPECT_EQ(back->operators.size(), 2u);
  }
  EXPECT_FALSE(encode_cluster(c, wire::generate_identity()));
}

TEST(Cluster, EncoderRefusesBadInput) {
  auto op = wire::generate_identity();
  auto c = make_cluster("", op.pk);
  EXPECT_FALSE(encode_cluster(c, op));
  c.name = "ok";
  c.operators.push_back(op.pk);
  EXPECT_NE(encode_cluster(c, op).err().message.find("twice"), std::string::npos);
  c.operators.clear();
  for (int i = 0; i < 33; ++i) c.operators.push_back(wire::generate_identity().pk);
  c.operators[0] = op.pk;
  EXPECT_FALSE(encode_cluster(c, op));
}

TEST(Cluster, EveryFlippedByteIsRefused) {
  auto op = wire::generate_identity();
  auto c = make_cluster("lab", op.pk);
  c.operators.push_back(wire::generate_identity().pk);
  const auto good = *encode_cluster(c, op);
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto b = good;
    b[i] ^= 0x01;
    auto r = decode_cluster(b);
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_EQ(r.err().code, errc::invalid_input);
  }
}

TEST(Cluster, TruncatedAndTrailingAreRefused) {
  auto op = wire::generate_identity();
  const auto good = *encode_cluster(make_cluster("lab", op.pk), op);
  for (std::size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(decode_cluster(std::span(good).first(n))) << n;
  auto longer = good;
  longer.push_back(0);
  EXPECT_NE(decode_cluster(longer).err().message.find("trailing"), std::string::npos);
}

TEST(Cluster, SignerOutsideOperatorsIsRefused) {
  auto op = wire::generate_identity(), other = wire::generate_identity();
  auto c = make_cluster("lab", op.pk);
  auto b = *encode_cluster(c, op);
  // Replace signer and signature with a valid signature by a non-operator.
  b.resize(b.size() - 96);
  b.insert(b.end(), other.pk.begin(), other.pk.end());
  const auto sig = wire::sign(other, b);
  b.insert(b.end(), sig.begin(), sig.end());
  EXPECT_NE(decode_cluster(b).err().message.find("not one of its operators"), std::string::npos);
}

TEST(Cert, RoundTripsAndAdmits) {
  fixture f;
  const auto bytes = f.cert();
  auto m = decode_cert(bytes);
  ASSERT_TRUE(m) << m.err().message;
  EXPECT_EQ(m->cluster, f.c.id);
  EXPECT_EQ(m->subject, f.node.pk);
  EXPECT_EQ(m->issuer, f.op.pk);
  EXPECT_EQ(m->roles, all_node_roles);
  EXPECT_EQ(m->site, "site-a");
  EXPECT_NE(m->serial, 0u);
  auto g = check_peer(f.c, f.revoked, f.node.pk, bytes, f.now);
  ASSERT_TRUE(g) << g.err().message;
  EXPECT_FALSE(g->is_operator);
  EXPECT_EQ(g->id, f.node.id);
  EXPECT_TRUE(g->has(role_trainer | role_scorer));
  EXPECT_FALSE(g->has(role_admin));
  EXPECT_EQ(g->serial, m->serial);
  EXPECT_EQ(g->site, "site-a");
  EXPECT_EQ(days_left(*g, f.now), 365);
  EXPECT_EQ(days_left(*g, f.now + 366 * day), -1);
}

TEST(Cert, OperatorNeedsNoCertificate) {
  fixture f;
  auto g = check_peer(f.c, f.revoked, f.op.pk, {}, f.now);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->is_operator);
  EXPECT_EQ(g->roles, all_roles);
  EXPECT_TRUE(g->has(role_admin));
  EXPECT_EQ(days_left(*g, f.now), no_expiry);
}

TEST(Cert, IssuerRefusesBadInput) {
  fixture f;
  EXPECT_FALSE(issue_cert(f.node, f.c, f.node.pk, role_trainer, f.now, f.now + day));
  EXPECT_FALSE(issue_cert(f.op, f.c, f.node.pk, 0, f.now, f.now + day));
  EXPECT_FALSE(issue_cert(f.op, f.c, f.node.pk, 1u << 20, f.now, f.now + day));
  EXPECT_FALSE(issue_cert(f.op, f.c, f.node.pk, role_trainer, f.now, f.now - 1));
  EXPECT_FALSE(issue_cert(f.op, f.c, f.node.pk, role_trainer, f.now, f.now + day, "bad site"));
  EXPECT_FALSE(issue_cert(f.op, f.c, f.node.pk, role_trainer, f.now, f.now + day, std::string(65, 'a')));
  EXPECT_TRUE(issue_cert(f.op, f.c, f.node.pk, role_trainer, f.now, f.now + day, std::string(64, 'a')));
}

TEST(Cert, NoCertificate) {
  fixture f;
  EXPECT_NE(f.refusal({}).find("no certificate"), std::string::npos);
}

TEST(Cert, AnotherCluster) {
  fixture f;
  auto other = make_cluster("other", f.op.pk);
  auto b = *issue_cert(f.op, other, f.node.pk, role_trainer, f.now, f.now + day);
  EXPECT_EQ(f.refusal(b), "certificate is for another cluster");
}

TEST(Cert, IssuedToAnotherKey) {
  fixture f;
  auto b = *issue_cert(f.op, f.c, wire::generate_identity().pk, role_trainer, f.now, f.now + day);
  EXPECT_EQ(f.refusal(b).rfind("certificate was issued to another key", 0), 0u);
}

TEST(Cert, SignedByNonOperator) {
  fixture f;
  auto rogue = wire::generate_identity();
  auto rogue_cluster = f.c;
  rogue_cluster.operators = {rogue.pk};  // same id, rogue's own list
  auto b = *issue_cert(rogue, rogue_cluster, f.node.pk, role_trainer, f.now, f.now + day);
  EXPECT_EQ(f.refusal(b).rfind("certificate signed by a key that is not an operator of cluster lab", 0), 0u);
}

TEST(Cert, BadSignature) {
  fixture f;
  auto b = f.cert();
  b[b.size() - 1] ^= 0x40;
  EXPECT_EQ(f.refusal(b), "bad certificate signature");
  EXPECT_NE(decode_cert(b).err().message.find("bad certificate signature"), std::string::npos);
}

TEST(Cert, ExpiredNamesHowLongAgoAndTheDate) {
  fixture f;
  auto b = f.cert(role_trainer, f.now - 30 * day, f.now - 3 * day);
  EXPECT_EQ(f.refusal(b), "certificate expired 3 days ago (2027-01-12)");
  auto g = check_peer(f.c, f.revoked, f.node.pk, b, f.now - 3 * day);  // the last valid second
  EXPECT_TRUE(g);
}

TEST(Cert, NotYetValidAllowsClockSkew) {
  fixture f;
  auto b = f.cert(role_trainer, f.now + 2 * day, f.now + 10 * day);
  EXPECT_EQ(f.refusal(b).rfind("certificate not valid before 2027-01-17", 0), 0u);
  auto soon = f.cert(role_trainer, f.now + clock_skew_s, f.now + day);
  EXPECT_TRUE(check_peer(f.c, f.revoked, f.node.pk, soon, f.now));
  auto late = f.cert(role_trainer, f.now + clock_skew_s + 1, f.now + day);
  EXPECT_FALSE(check_peer(f.c, f.revoked, f.node.pk, late, f.now));
}

TEST(Cert, RevokedByKey) {
  fixture f;
  const auto b = f.cert();
  ASSERT_TRUE(f.revoked.add({f.node.pk, 0, f.op.pk, f.now}));
  const auto why = f.refusal(b);
  EXPECT_EQ(why.rfind("certificate revoked (serial ", 0), 0u) << why;
  EXPECT_NE(why.find("by operator " + to_hex(std::span(f.op.pk.data(), 8))), std::string::npos) << why;
}

TEST(Cert, RevokedBySerialOnly) {
  fixture f;
  const auto b = f.cert();
  const auto serial = decode_cert(b)->serial;
  ASSERT_TRUE(f.revoked.add({f.node.pk, serial, f.op.pk, 0}));
  EXPECT_NE(f.refusal(b).find(serial_hex(serial)), std::string::npos);
  // A fresh certificate for the same key (new serial) is admitted.
  EXPECT_TRUE(check_peer(f.c, f.revoked, f.node.pk, f.cert(), f.now));
}

TEST(Cert, EveryFlippedByteIsRefused) {
  fixture f;
  const auto good = f.cert();
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto b = good;
    b[i] ^= 0x01;
    EXPECT_FALSE(decode_cert(b)) << "byte " << i;
    EXPECT_FALSE(check_peer(f.c, f.revoked, f.node.pk, b, f.now)) << "byte " << i;
  }
}

TEST(Cert, TruncatedAndTrailingAreRefused) {
  fixture f;
  const auto good = f.cert();
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(decode_cert(std::span(good).first(n))) << n;
    EXPECT_FALSE(check_peer(f.c, f.revoked, f.node.pk, std::span(good).first(n), f.now)) << n;
  }
  auto longer = good;
  longer.push_back(0);
  EXPECT_NE(decode_cert(longer).err().message.find("trailing"), std::string::npos);
}

TEST(Cert, SecondOperatorIssues) {
  fixture f;
  auto remote = wire::generate_identity();
  f.c.operators.push_back(remote.pk);
  auto b = *issue_cert(remote, f.c, f.node.pk, role_collector, f.now, f.now + day);
  auto g = check_peer(f.c, f.revoked, f.node.pk, b, f.now);
  ASSERT_TRUE(g) << g.err().message;
  EXPECT_EQ(g->roles, role_collector);
  EXPECT_TRUE(check_peer(f.c, f.revoked, remote.pk, {}, f.now)->is_operator);
}

TEST(Roles, ParseAndPrint) {
  EXPECT_EQ(*parse_roles("trainer,collector"), role_trainer | role_collector);
  EXPECT_EQ(*parse_roles("trainer,collector,scorer,ledger,admin,contributor"), all_roles);
  EXPECT_EQ(*parse_roles("all"), all_roles);
  EXPECT_EQ(roles_to_string(role_scorer | role_ledger), "scorer,ledger");
  EXPECT_EQ(roles_to_string(0), "none");
  EXPECT_EQ(roles_to_string(role_admin | (1u << 8)), "admin,0x100");
  auto bad = parse_roles("trainer,wizard");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("unknown role 'wizard'"), std::string::npos);
  EXPECT_FALSE(parse_roles(""));
  EXPECT_FALSE(parse_roles("trainer,"));
}

TEST(Revocations, SubjectAndPayloadRoundTrip) {
  fixture f;
  const auto subject = revocation_subject(f.node.pk);
  EXPECT_EQ(subject, to_hex(f.node.pk));
  EXPECT_EQ(*parse_revocation_subject(subject), f.node.pk);
  EXPECT_FALSE(parse_revocation_subject(subject.substr(1)));
  EXPECT_FALSE(parse_revocation_subject(std::string(64, 'g')));
  const revocation r{f.node.pk, 0x1234abcd5678ef90ull, f.op.pk, f.now};
  auto back = parse_revocation(f.c, f.op.pk, subject, revocation_payload(r));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, r);
  EXPECT_NE(parse_revocation(f.c, f.node.pk, subject, "{}").err().message.find("not an operator"), std::string::npos);
  EXPECT_FALSE(parse_revocation(f.c, f.op.pk, subject, "not json"));
  EXPECT_FALSE(parse_revocation(f.c, f.op.pk, subject, R"({"serial":"xyz"})"));
}

TEST(Revocations, BoundedAndThreadSafe) {
  revocations r(100);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&r, t] {
      for (int i = 1; i <= 50; ++i) (void)r.add({{}, static_cast<std::uint64_t>(t * 1000 + i), {}, 0});
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(r.size(), 100u);
  EXPECT_EQ(r.add({{}, 99999, {}, 0}).err().code, errc::unavailable);
  EXPECT_TRUE(r.add({{}, 1, {}, 0}) || r.add({{}, 1001, {}, 0}));  // a known one is a no-op
}

TEST(Files, AtomicWriteLoadAndRevocationFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("hydra-cert-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  fixture f;
  const auto path = (dir / "cluster.pub").string();
  ASSERT_TRUE(write_file_atomic(path, *encode_cluster(f.c, f.op), 0644));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(*load_cluster(path), f.c);
  EXPECT_EQ(load_cluster((dir / "missing").string()).err().code, errc::not_found);
  const auto cert_path = (dir / "membership.cert").string();
  ASSERT_TRUE(write_file_atomic(cert_path, f.cert(), 0644));
  EXPECT_TRUE(load_cert(cert_path));
  EXPECT_NE(load_cert(path).err().message.find(path), std::string::npos);

  const auto list = (dir / "revoked").string();
  revocations r;
  EXPECT_EQ(*load_revocations_file(list, r), 0u);
  EXPECT_TRUE(*append_revocations_file(list, f.node.pk));
  EXPECT_FALSE(*append_revocations_file(list, f.node.pk));
  std::ofstream(list, std::ios::app) << "\n# a comment\n";
  EXPECT_EQ(*load_revocations_file(list, r), 1u);
  EXPECT_TRUE(r.is_revoked(f.node.pk, 7));
  EXPECT_NE(check_peer(f.c, r, f.node.pk, f.cert(), f.now).err().message.find("in the local revocation list"),
            std::string::npos);
  std::ofstream(list, std::ios::app) << "nothex\n";
  revocations r2;
  EXPECT_NE(load_revocations_file(list, r2).err().message.find(list + ":4"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hydra::trust
