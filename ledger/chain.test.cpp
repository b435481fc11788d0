#include "ledger/chain.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "ledger/internal/test_util.hpp"

namespace hydra::ledger {
namespace {

using testing::make_chain;
using testing::next_entry;

void expect_reason(const status& s, const std::string& reason) {
  ASSERT_FALSE(s) << "expected rejection: " << reason;
  EXPECT_EQ(s.err().code, errc::invalid_input);
  const std::string& msg = s.err().message;
  EXPECT_TRUE(msg.size() > reason.size() && msg.compare(0, reason.size(), reason) == 0 && msg[reason.size()] == ':')
      << msg;
}

TEST(LedgerChain, AcceptsAValidChain) {
  const auto id = wire::generate_identity();
  ledger_state st;
  for (const entry& e : make_chain(id, 5)) ASSERT_TRUE(st.append(e).ok());
  EXPECT_EQ(st.entries().size(), 5u);
  EXPECT_EQ(st.next_seq(id.pk), 5u);
  const auto heads = st.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads.at(id.pk).seq, 4u);
  EXPECT_EQ(heads.at(id.pk).hash, entry_hash(st.entries().back()));
}

TEST(LedgerChain, RejectsForgedEntry) {
  const auto alice = wire::generate_identity();
  const auto mallory = wire::generate_identity();
  entry e = next_entry(mallory, nullptr, kind::reward, "mallory", 1000);
  e.author = alice.pk;
  ledger_state st;
  expect_reason(st.append(e), "forged");
  EXPECT_TRUE(st.entries().empty());
}

TEST(LedgerChain, RejectsAlteredPayload) {
  const auto id = wire::generate_identity();
  auto chain = make_chain(id, 2);
  chain[1].payload[1] ^= 0x20;
  ledger_state st;
  ASSERT_TRUE(st.append(chain[0]).ok());
  expect_reason(st.append(chain[1]), "forged");
}

TEST(LedgerChain, RejectsAlteredChain) {
  // The author rewrites seq 1 and re-signs it; a replica holding the
  // original seq 1 gets seq 2 of the rewritten history.
  const auto id = wire::generate_identity();
  auto chain = make_chain(id, 2);
  entry rewritten = chain[1];
  rewritten.amount = 1'000'000;
  rewritten = sign(rewritten, id);
  const entry after = next_entry(id, &rewritten, kind::reward, "x", 1);
  ledger_state st;
  ASSERT_TRUE(st.append(chain[0]).ok());
  ASSERT_TRUE(st.append(chain[1]).ok());
  expect_reason(st.append(after), "altered chain");
}

TEST(LedgerChain, RejectsWrongPrevAtSeqZeroAndOne) {
  const auto id = wire::generate_identity();
  entry e = next_entry(id, nullptr, kind::reward, "x", 1);
  e.prev[0] = 1;
  e = sign(e, id);
  ledger_state st;
  expect_reason(st.append(e), "altered chain");
}

TEST(LedgerChain, RejectsReplayedSeq) {
  const auto id = wire::generate_identity();
  const auto chain = make_chain(id, 3);
  ledger_state st;
  for (const entry& e : chain) ASSERT_TRUE(st.append(e).ok());
  // Same seq 1, different bytes, validly signed: a replay of an old seq.
  entry again = chain[1];
  again.payload = R"({"again":true})";
  again = sign(again, id);
  expect_reason(st.append(again), "replayed");
}

TEST(LedgerChain, RejectsReorderedEntries) {
  const auto id = wire::generate_identity();
  const auto chain = make_chain(id, 3);
  ledger_state st;
  ASSERT_TRUE(st.append(chain[0]).ok());
  expect_reason(st.append(chain[2]), "gap");
  ASSERT_TRUE(st.append(chain[1]).ok());
  ASSERT_TRUE(st.append(chain[2]).ok());
}

TEST(LedgerChain, RejectsDuplicate) {
  const auto id = wire::generate_identity();
  const auto chain = make_chain(id, 2);
  ledger_state st;
  ASSERT_TRUE(st.append(chain[0]).ok());
  ASSERT_TRUE(st.append(chain[1]).ok());
  expect_reason(st.append(chain[0]), "duplicate");
  expect_reason(st.append(chain[1]), "duplicate");
  EXPECT_EQ(st.entries().size(), 2u);
}

TEST(LedgerChain, BalanceRule) {
  const auto id = wire::generate_identity();
  std::vector<entry> es;
  auto add = [&](kind k, const char* subject, std::int64_t amount) {
    es.push_back(next_entry(id, es.empty() ? nullptr : &es.back(), k, subject, amount));
  };
  add(kind::contribution, "a", 500);
  add(kind::score, "a", 90);
  add(kind::compute_credit, "a", 100);
  add(kind::reward, "a", 20);
  add(kind::penalty, "a", 30);
  add(kind::reward, "b", 7);
  auto st = fold(es);
  ASSERT_TRUE(st) << st.err().message;
  const auto b = st->balances();
  EXPECT_EQ(b.at("a"), 90);
  EXPECT_EQ(b.at("b"), 7);
  EXPECT_EQ(b.size(), 2u);
}

TEST(LedgerChain, BalancesIndependentOfInterleaving) {
  const auto a = wire::generate_identity();
  const auto b = wire::generate_identity();
  const auto c = wire::generate_identity();
  const std::vector<std::vector<entry>> chains = {make_chain(a, 20), make_chain(b, 15), make_chain(c, 9)};
  std::vector<entry> in_order;
  for (const auto& ch : chains) in_order.insert(in_order.end(), ch.begin(), ch.end());
  auto reference = fold(in_order);
  ASSERT_TRUE(reference);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    // A random interleaving that keeps each author's order.
    std::vector<std::size_t> pos(chains.size(), 0);
    std::vector<std::size_t> picks;
    for (std::size_t i = 0; i < chains.size(); ++i) picks.insert(picks.end(), chains[i].size(), i);
    std::shuffle(picks.begin(), picks.end(), rng);
    ledger_state st;
    for (std::size_t who : picks) ASSERT_TRUE(st.append(chains[who][pos[who]++]).ok());
    EXPECT_EQ(st.balances(), reference->balances());
    EXPECT_EQ(st.heads(), reference->heads());
  }
}

TEST(LedgerChain, AntiEntropyConverges) {
  const auto a = wire::generate_identity();
  const auto b = wire::generate_identity();
  const auto c = wire::generate_identity();
  const auto ca = make_chain(a, 10);
  const auto cb = make_chain(b, 6);
  const auto cc = make_chain(c, 4);
  // Replica x: all of a, half of b. Replica y: first 3 of a, all of b and c.
  ledger_state x, y;
  for (const auto& e : ca) ASSERT_TRUE(x.append(e).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(x.append(cb[i]).ok());
  for (const auto& e : cc) ASSERT_TRUE(y.append(e).ok());
  for (const auto& e : cb) ASSERT_TRUE(y.append(e).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(y.append(ca[i]).ok());

  const auto to_y = x.missing_from(y.heads());
  const auto to_x = y.missing_from(x.heads());
  EXPECT_EQ(to_y.size(), 7u);
  EXPECT_EQ(to_x.size(), 3u + 4u);
  for (const auto& e : to_y) ASSERT_TRUE(y.append(e).ok()) << y.append(e).err().message;
  for (const auto& e : to_x) ASSERT_TRUE(x.append(e).ok()) << x.append(e).err().message;

  EXPECT_EQ(x.heads(), y.heads());
  EXPECT_EQ(x.balances(), y.balances());
  EXPECT_EQ(x.entries().size(), 20u);
  EXPECT_TRUE(x.missing_from(y.heads()).empty());
  EXPECT_TRUE(y.missing_from(x.heads()).empty());
}

TEST(LedgerChain, FoldNamesTheFailingIndex) {
  const auto id = wire::generate_identity();
  auto chain = make_chain(id, 3);
  std::swap(chain[1], chain[2]);
  auto st = fold(chain);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message.rfind("entry 1: gap:", 0), 0u) << st.err().message;
}


// ---- role rules (an authority) ----------------------------------------------

using testing::admission_payload;
using testing::test_authority;

std::string hex(const public_key& k) { return to_hex(k); }
std::string short_hex(const wire::identity& id) { return to_hex(std::span(id.pk.data(), 8)); }

/// A small cluster: one operator, chains per author, all entries in
/// creation order.
struct cluster_fixture {
  wire::identity op = wire::generate_identity();
  test_authority auth{{op}};
  std::vector<entry> all;
  std::map<public_key, entry> last;

  const entry& add(const wire::identity& who, kind k, std::string subject, std::int64_t amount,
                   std::string payload = "{}") {
    const auto it = last.find(who.pk);
    entry e = next_entry(who, it == last.end() ? nullptr : &it->second, k, std::move(subject), amount,
                         std::move(payload));
    last[who.pk] = e;
    all.push_back(std::move(e));
    return all.back();
  }
  const entry& admit(const wire::identity& who, std::uint32_t roles) {
    return add(who, kind::admission, hex(who.pk), 0, admission_payload(test_authority::issue(op, who.pk, roles)));
  }
  const entry& credit(const wire::identity& trainer, const std::string& account, std::int64_t amount,
                      int from_step, int to_step) {
    const std::string pay = "{\"samples\":50,\"from_step\":" + std::to_string(from_step) +
                            ",\"to_step\":" + std::to_string(to_step) + "}";
    return add(trainer, kind::compute_credit, account, amount, pay);
  }
  ledger_state state() {
    ledger_state st(&auth);
    for (const auto& e : all) EXPECT_TRUE(st.append(e).ok());
    return st;
  }
};

std::int64_t balance_of(const ledger_state& st, const std::string& subject) {
  const auto b = st.balances();
  const auto it = b.find(subject);
  return it == b.end() ? 0 : it->second;
}

/// The refusal of `e` in `st`, or "" when `e` counts.
std::string reason_for(const ledger_state& st, const entry& e) {
  for (const auto& r : st.refused())
    if (r.hash == entry_hash(e)) return r.reason;
  return "";
}

TEST(LedgerRoles, StrangersMintedRewardIsIgnored) {
  cluster_fixture c;
  const auto stranger = wire::generate_identity();
  const entry minted = c.add(stranger, kind::reward, "acct", 1'000'000);
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "acct"), 0);
  ASSERT_EQ(st.refused().size(), 1u);
  const refusal& r = st.refused()[0];
  EXPECT_EQ(r.hash, entry_hash(minted));
  EXPECT_EQ(r.author, stranger.pk);
  EXPECT_EQ(r.seq, 0u);
  EXPECT_EQ(r.k, kind::reward);
  EXPECT_EQ(r.reason, "author " + short_hex(stranger) + " holds no collector or ledger role");
  // Without an authority (the old rule) the same entry moves credits.
  auto old = fold(c.all);
  ASSERT_TRUE(old);
  EXPECT_EQ(balance_of(*old, "acct"), 1'000'000);
  EXPECT_TRUE(old->refused().empty());
}

TEST(LedgerRoles, CollectorsRewardCounts) {
  cluster_fixture c;
  const auto collector = wire::generate_identity(), ledger_node = wire::generate_identity();
  c.admit(collector, role_collector);
  c.add(collector, kind::reward, "acct", 1000);
  c.add(collector, kind::penalty, "acct", 300);
  c.admit(ledger_node, role_ledger | role_trainer);
  c.add(ledger_node, kind::reward, "acct", 5);
  c.add(c.op, kind::reward, "acct", 7);  // an operator holds every role, no admission needed
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "acct"), 712);
  EXPECT_TRUE(st.refused().empty()) << st.refused()[0].reason;
  EXPECT_EQ(st.roles().roles(collector.pk), role_collector);
  EXPECT_EQ(st.roles().roles(c.op.pk), all_roles);
}

TEST(LedgerRoles, PenaltyByTrainerOnlyNodeIsIgnored) {
  cluster_fixture c;
  const auto trainer = wire::generate_identity();
  c.admit(trainer, role_trainer | role_scorer);
  const entry p = c.add(trainer, kind::penalty, "victim", 400);
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "victim"), 0);
  EXPECT_EQ(reason_for(st, p), "author " + short_hex(trainer) + " holds no collector or ledger role");
  EXPECT_EQ(st.refused().size(), 1u);
}

TEST(LedgerRoles, ComputeCreditNeedsTwoTrainerAttestations) {
  cluster_fixture c;
  const auto t1 = wire::generate_identity(), t2 = wire::generate_identity(), t3 = wire::generate_identity();
  const auto collector = wire::generate_identity();
  for (const auto* t : {&t1, &t2, &t3}) c.admit(*t, role_trainer);
  c.admit(collector, role_collector);

  // One trainer alone earns nothing; a collector's copy is no attestation.
  const entry solo = c.credit(t1, "acct", 500, 0, 10);
  const entry not_trainer = c.credit(collector, "acct", 500, 0, 10);
  auto one = c.state();
  EXPECT_EQ(balance_of(one, "acct"), 0);
  EXPECT_EQ(reason_for(one, solo), "compute credit attested by 1 trainer (need 2)");
  EXPECT_EQ(reason_for(one, not_trainer), "author " + short_hex(collector) + " holds no trainer role");

  // A second trainer writing the same credit: it counts, once.
  c.credit(t2, "acct", 500, 0, 10);
  auto two = c.state();
  EXPECT_EQ(balance_of(two, "acct"), 500);
  EXPECT_EQ(reason_for(two, solo), "");
  // A third attestation does not add it again; the same trainer twice is one.
  c.credit(t3, "acct", 500, 0, 10);
  c.credit(t1, "acct", 500, 0, 10);
  auto three = c.state();
  EXPECT_EQ(balance_of(three, "acct"), 500);
  EXPECT_EQ(three.refused().size(), 1u);  // only the collector's copy

  // Attestations must agree on amount and steps.
  const entry other_steps = c.credit(t3, "acct", 500, 10, 20);
  const entry other_amount = c.credit(t2, "acct", 501, 10, 20);
  const entry no_steps = c.add(t1, kind::compute_credit, "acct", 500, R"({"samples":50})");
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "acct"), 500);
  EXPECT_EQ(reason_for(st, other_steps), "compute credit attested by 1 trainer (need 2)");
  EXPECT_EQ(reason_for(st, other_amount), "compute credit attested by 1 trainer (need 2)");
  EXPECT_EQ(reason_for(st, no_steps), "compute credit payload lacks integer from_step and to_step");
}

TEST(LedgerRoles, RevocationByOperatorCutsLaterEntries) {
  cluster_fixture c;
  const auto col = wire::generate_identity(), other = wire::generate_identity();
  c.admit(col, role_collector);          // seq 0
  c.add(col, kind::reward, "acct", 1);   // seq 1
  c.add(col, kind::reward, "acct", 10);  // seq 2
  const entry late = c.add(col, kind::reward, "acct", 100);  // seq 3
  c.add(c.op, kind::revocation, hex(col.pk), 0, R"({"after_seq": 2})");
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "acct"), 11);
  EXPECT_EQ(reason_for(st, late), "author " + short_hex(col) + " revoked after seq 2");
  EXPECT_EQ(st.refused().size(), 1u);
  EXPECT_EQ(st.roles().cutoffs().at(col.pk), 2);

  // "all" (and after_seq -1) cut every entry, the admission included: no roles.
  c.admit(other, role_collector);
  const entry r = c.add(other, kind::reward, "acct", 1000);
  c.add(c.op, kind::revocation, hex(other.pk), 0, R"({"all": true})");
  auto all = c.state();
  EXPECT_EQ(balance_of(all, "acct"), 11);
  EXPECT_EQ(reason_for(all, r), "author " + short_hex(other) + " revoked (all entries)");
  EXPECT_EQ(all.roles().roles(other.pk), 0u);
  // A second, looser revocation does not undo the stricter one.
  c.add(c.op, kind::revocation, hex(col.pk), 0, R"({"after_seq": 3})");
  EXPECT_EQ(balance_of(c.state(), "acct"), 11);
}

TEST(LedgerRoles, RevocationByNonOperatorIsIgnored) {
  cluster_fixture c;
  const auto col = wire::generate_identity(), admin = wire::generate_identity();
  c.admit(col, role_collector);
  c.add(col, kind::reward, "acct", 40);
  c.admit(admin, role_admin | role_collector);  // admin role is not operator authority
  const entry rev = c.add(admin, kind::revocation, hex(col.pk), 0, R"({"after_seq": -1})");
  const entry rev_op = c.add(c.op, kind::revocation, hex(c.op.pk), 0, R"({"all": true})");
  const entry serial = c.add(c.op, kind::revocation, hex(col.pk), 0, R"({"serial": "00000000000000ab"})");
  const entry bad_seq = c.add(c.op, kind::revocation, hex(col.pk), 0, R"({"after_seq": -2})");
  const entry bad_subject = c.add(c.op, kind::revocation, "nobody", 0, R"({"all": true})");
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "acct"), 40);
  EXPECT_EQ(reason_for(st, rev), "revocation by a key that is not an operator");
  EXPECT_EQ(reason_for(st, rev_op), "revocation of an operator key (operators leave through the cluster file)");
  EXPECT_EQ(reason_for(st, serial),
            "revocation names one certificate serial; the ledger revokes keys (after_seq or all)");
  EXPECT_EQ(reason_for(st, bad_seq), "revocation \"after_seq\" is not an integer >= -1");
  EXPECT_EQ(reason_for(st, bad_subject), "revocation subject is not a 64-hex-digit key");
  EXPECT_TRUE(st.roles().cutoffs().empty());
}

TEST(LedgerRoles, AdmissionWithInvalidCertGivesNoRoles) {
  cluster_fixture c;
  const auto rogue_op = wire::generate_identity();
  const auto a = wire::generate_identity(), b = wire::generate_identity(), d = wire::generate_identity(),
             e = wire::generate_identity(), f = wire::generate_identity();
  const std::string not_operator = "admission certificate is not a valid certificate of this cluster for author ";
  // Signed by a key that is not an operator of this cluster.
  const entry a0 = c.add(a, kind::admission, hex(a.pk),
                         0, admission_payload(test_authority::issue(rogue_op, a.pk, role_collector)));
  // A real certificate, for another key.
  const entry b0 = c.add(b, kind::admission, hex(b.pk), 0,
                         admission_payload(test_authority::issue(c.op, a.pk, role_collector)));
  // Roles raised after signing.
  auto raised = test_authority::issue(c.op, d.pk, role_trainer);
  raised[36] |= static_cast<std::uint8_t>(role_collector);
  const entry d0 = c.add(d, kind::admission, hex(d.pk), 0, admission_payload(raised));
  // Someone else's admission subject, and a payload without a certificate.
  const entry e0 = c.add(e, kind::admission, hex(a.pk), 0,
                         admission_payload(test_authority::issue(c.op, e.pk, role_collector)));
  const entry f0 = c.add(f, kind::admission, hex(f.pk), 0, R"({"cert": "zz"})");
  for (const auto* who : {&a, &b, &d, &e, &f}) c.add(*who, kind::reward, "acct", 1);
  auto st = c.state();
  EXPECT_EQ(balance_of(st, "acct"), 0);
  EXPECT_EQ(reason_for(st, a0), not_operator + short_hex(a));
  EXPECT_EQ(reason_for(st, b0), not_operator + short_hex(b));
  EXPECT_EQ(reason_for(st, d0), not_operator + short_hex(d));
  EXPECT_EQ(reason_for(st, e0), "admission subject is not the author's own key");
  EXPECT_EQ(reason_for(st, f0), "admission \"cert\" is not hex");
  for (const auto* who : {&a, &b, &d, &e, &f}) EXPECT_EQ(st.roles().roles(who->pk), 0u);
  EXPECT_EQ(st.refused().size(), 10u);
}

TEST(LedgerRoles, ScoresFromNonScorersAreReported) {
  cluster_fixture c;
  const auto scorer = wire::generate_identity(), trainer = wire::generate_identity();
  const auto stranger = wire::generate_identity();
  c.admit(scorer, role_scorer);
  c.admit(trainer, role_trainer);
  c.add(scorer, kind::score, "c1", 800);
  c.add(trainer, kind::score, "c1", 810);
  const entry s = c.add(stranger, kind::score, "c1", 100);
  c.add(stranger, kind::contribution, "c1", 0);  // contributions carry no role rule
  auto st = c.state();
  ASSERT_EQ(st.refused().size(), 1u);
  EXPECT_EQ(reason_for(st, s), "author " + short_hex(stranger) + " holds no scorer or trainer role");
}

TEST(LedgerRoles, RefusalsAreSortedByAuthorAndSeqAndNameTheEntry) {
  cluster_fixture c;
  const auto x = wire::generate_identity(), y = wire::generate_identity();
  c.add(x, kind::reward, "a", 1);
  c.add(y, kind::penalty, "a", 2);
  c.add(x, kind::compute_credit, "a", 3, R"({"from_step":0,"to_step":1})");
  auto st = c.state();
  ASSERT_EQ(st.refused().size(), 3u);
  for (std::size_t i = 1; i < st.refused().size(); ++i) {
    const auto& p = st.refused()[i - 1];
    const auto& q = st.refused()[i];
    EXPECT_TRUE(p.author < q.author || (p.author == q.author && p.seq < q.seq));
  }
  for (const auto& r : st.refused()) {
    const auto it = std::find_if(c.all.begin(), c.all.end(), [&](const entry& e) { return entry_hash(e) == r.hash; });
    ASSERT_NE(it, c.all.end());
    EXPECT_EQ(it->author, r.author);
    EXPECT_EQ(it->seq, r.seq);
    EXPECT_EQ(it->k, r.k);
  }
}

TEST(LedgerRoles, CertificatesAreCheckedOncePerAdmission) {
  cluster_fixture c;
  const auto col = wire::generate_identity();
  c.admit(col, role_collector);
  for (int i = 0; i < 50; ++i) c.add(col, kind::reward, "acct", 1);
  ledger_state st(&c.auth);
  for (const auto& e : c.all) {
    ASSERT_TRUE(st.append(e).ok());
    (void)st.balances();  // a fold after every append re-checks nothing
  }
  EXPECT_EQ(balance_of(st, "acct"), 50);
  EXPECT_EQ(c.auth.cert_checks, 1u);
  // A copy keeps the cached verdicts.
  ledger_state copy = st;
  c.add(col, kind::reward, "acct", 1);
  ASSERT_TRUE(copy.append(c.all.back()).ok());
  EXPECT_EQ(balance_of(copy, "acct"), 51);
  EXPECT_EQ(c.auth.cert_checks, 1u);
}

/// prefix + i, built with += (GCC 12 -Wrestrict false positive on "n" + str).
std::string name(const char* prefix, int i) {
  std::string out = prefix;
  out += std::to_string(i);
  return out;
}

/// A cluster with every rule in play: trainers crediting each other, a
/// collector, a revoked collector, a bad admission, strangers.
cluster_fixture busy_cluster() {
  cluster_fixture c;
  std::vector<wire::identity> t(3);
  for (auto& id : t) id = wire::generate_identity();
  const auto col = wire::generate_identity(), gone = wire::generate_identity(), stranger = wire::generate_identity();
  for (const auto& id : t) c.admit(id, role_trainer | role_scorer);
  c.admit(col, role_collector);
  c.admit(gone, role_collector | role_ledger);
  for (int round = 0; round < 6; ++round) {
    for (int who = 0; who < 3; ++who) {
      // Trainers 0 and 1 attest every round; trainer 2 only even rounds.
      if (who == 2 && round % 2) continue;
      for (int acct = 0; acct < 3; ++acct)
        c.credit(t[static_cast<std::size_t>(who)], name("n", acct), 100 + acct, round * 10,
                 round * 10 + 10);
    }
    c.add(col, kind::reward, name("n", round % 3), 50 + round);
    c.add(gone, kind::reward, "n0", 1000);
    c.add(stranger, kind::reward, "n1", 5000);
    c.add(t[2], kind::penalty, "n2", 7);
    c.credit(t[2], "n2", 999, 100 + round, 101 + round);  // solo
    c.add(t[0], kind::score, name("c", round), 700);
    c.add(stranger, kind::score, name("c", round), 100);
  }
  c.add(c.op, kind::revocation, hex(gone.pk), 0, R"({"after_seq": 3})");
  c.add(stranger, kind::revocation, hex(col.pk), 0, R"({"all": true})");
  return c;
}

TEST(LedgerRoles, BalancesAndRefusalsIndependentOfArrivalOrder) {
  auto c = busy_cluster();
  auto reference = c.state();
  ASSERT_FALSE(reference.balances().empty());
  ASSERT_FALSE(reference.refused().empty());
  // Each trainer pair credits 100+acct per round once: 6 rounds x 3 accounts.
  EXPECT_EQ(balance_of(reference, "n0"), 6 * 100 + 50 + 53 + 3000);  // gone's seq 1..3 count
  std::map<public_key, std::vector<entry>> chains;
  for (const auto& e : c.all) chains[e.author].push_back(e);
  std::mt19937 rng(11);
  for (int round = 0; round < 100; ++round) {
    // A random interleaving that keeps each author's order (appends need it).
    std::vector<const std::vector<entry>*> picks;
    for (const auto& [author, ch] : chains) picks.insert(picks.end(), ch.size(), &ch);
    std::shuffle(picks.begin(), picks.end(), rng);
    std::map<const std::vector<entry>*, std::size_t> pos;
    ledger_state st(&c.auth);
    for (const auto* ch : picks) ASSERT_TRUE(st.append((*ch)[pos[ch]++]).ok());
    ASSERT_EQ(st.balances(), reference.balances()) << "round " << round;
    ASSERT_EQ(st.refused(), reference.refused()) << "round " << round;
  }
}

}  // namespace
}  // namespace hydra::ledger
