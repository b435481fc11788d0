#include "ledger/quorum.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <random>

#include "ledger/chain.hpp"
#include "ledger/internal/test_util.hpp"

namespace hydra::ledger {
namespace {

using state = quorum_outcome::state;
using testing::next_entry;

public_key key(std::uint8_t b) {
  public_key k{};
  k.fill(b);
  return k;
}

std::vector<public_key> keys(std::initializer_list<std::uint8_t> bs) {
  std::vector<public_key> out;
  for (auto b : bs) out.push_back(key(b));
  return out;
}

const std::map<public_key, double> no_trust;

TEST(LedgerQuorum, TooFewVotesNeedMore) {
  EXPECT_EQ(decide({}, no_trust).st, state::need_more);
  const auto o = decide({{key(1), 0.8}}, no_trust);
  EXPECT_EQ(o.st, state::need_more);
  EXPECT_FALSE(o.accepted);
}

TEST(LedgerQuorum, TwoAgreeingVotesDecide) {
  const auto o = decide({{key(1), 0.80}, {key(2), 0.90}}, no_trust);
  EXPECT_EQ(o.st, state::decided);
  EXPECT_TRUE(o.accepted);
  EXPECT_NEAR(o.score, 0.85, 1e-12);  // equal weights split in half: the midpoint
  EXPECT_EQ(o.agreeing, keys({1, 2}));
  EXPECT_TRUE(o.outvoted.empty());
}

TEST(LedgerQuorum, DecidedBelowAcceptIsNotAccepted) {
  const auto o = decide({{key(1), 0.30}, {key(2), 0.35}}, no_trust);
  EXPECT_EQ(o.st, state::decided);
  EXPECT_FALSE(o.accepted);
  EXPECT_NEAR(o.score, 0.325, 1e-12);
}

TEST(LedgerQuorum, TwoDisagreeingVotesNeedMore) {
  const auto o = decide({{key(1), 0.2}, {key(2), 0.9}}, no_trust);
  EXPECT_EQ(o.st, state::need_more);
  EXPECT_FALSE(o.accepted);
}

TEST(LedgerQuorum, ThirdVoteResolvesAndOutlierIsOutvoted) {
  const auto o = decide({{key(1), 0.2}, {key(2), 0.9}, {key(3), 0.85}}, no_trust);
  EXPECT_EQ(o.st, state::decided);
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(o.agreeing, keys({2, 3}));
  EXPECT_EQ(o.outvoted, keys({1}));
  EXPECT_NEAR(o.score, 0.875, 1e-12);  // median of the agreeing two
}

TEST(LedgerQuorum, LowTrustScorersCannotOutvoteTrustedOnes) {
  const quorum_rule rule{.min_votes = 2, .max_votes = 5};
  // Three colluding low-trust scorers against two trusted ones: by head count
  // the colluders would win.
  const std::vector<vote> votes = {{key(1), 0.80}, {key(2), 0.85}, {key(7), 0.1}, {key(8), 0.1}, {key(9), 0.1}};
  const auto by_count = decide(votes, no_trust, rule);
  ASSERT_EQ(by_count.st, state::decided);
  EXPECT_EQ(by_count.agreeing, keys({7, 8, 9}));

  const std::map<public_key, double> trust = {{key(7), 0.2}, {key(8), 0.2}, {key(9), 0.2}};
  const auto o = decide(votes, trust, rule);
  EXPECT_EQ(o.st, state::decided);
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(o.agreeing, keys({1, 2}));
  EXPECT_EQ(o.outvoted, keys({7, 8, 9}));

  // One low-trust scorer against one trusted one: the trusted vote is the
  // median, but one agreeing vote is not a quorum.
  const auto pair = decide({{key(1), 0.8}, {key(7), 0.1}}, trust, rule);
  EXPECT_EQ(pair.st, state::need_more);
  EXPECT_EQ(pair.agreeing, keys({1}));
  EXPECT_EQ(pair.outvoted, keys({7}));
}

TEST(LedgerQuorum, AgreementNeedsMoreThanHalfTheWeight) {
  // Two agree, two others disagree with them and each other: exactly half.
  const auto o = decide({{key(1), 0.5}, {key(2), 0.55}, {key(3), 0.0}, {key(4), 1.4}}, no_trust,
                        quorum_rule{.max_votes = 6});
  EXPECT_EQ(o.st, state::need_more);
}

TEST(LedgerQuorum, DuplicateVotesFromOneScorerCountOnce) {
  // Scorer 1 votes three times; only its first vote (0.2) counts.
  const auto o = decide({{key(1), 0.2}, {key(1), 0.9}, {key(1), 0.9}, {key(2), 0.9}}, no_trust);
  EXPECT_EQ(o.st, state::need_more);  // two distinct, disagreeing votes; not failed at "4 votes"
  const auto o2 = decide({{key(1), 0.9}, {key(1), 0.9}}, no_trust);
  EXPECT_EQ(o2.st, state::need_more);  // one scorer is not a quorum
}

TEST(LedgerQuorum, FailsAfterMaxVotes) {
  const std::vector<vote> votes = {{key(1), 0.0}, {key(2), 0.4}, {key(3), 0.8}, {key(4), 1.2}};
  EXPECT_EQ(decide({votes.begin(), votes.begin() + 3}, no_trust).st, state::need_more);
  const auto o = decide(votes, no_trust);
  EXPECT_EQ(o.st, state::failed);
  EXPECT_FALSE(o.accepted);
}

TEST(LedgerQuorum, NonFiniteScoresAreIgnored) {
  const auto o = decide({{key(1), std::nan("")}, {key(2), 0.8}, {key(3), 0.8}}, no_trust);
  EXPECT_EQ(o.st, state::decided);
  EXPECT_EQ(o.agreeing, keys({2, 3}));
  EXPECT_TRUE(o.outvoted.empty());
}

TEST(LedgerQuorum, IndependentOfVoteOrder) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> score(0.0, 1.5), tr(0.05, 1.0);
  std::map<state, int> seen;
  for (int round = 0; round < 200; ++round) {
    std::vector<vote> votes;
    std::map<public_key, double> trust;
    const int n = 2 + round % 5;  // 2..6 votes; max_votes 6
    for (int i = 0; i < n; ++i) {
      // Clustered scores so that many rounds decide; some ties on purpose.
      const double s = i % 3 == 2 ? score(rng) : 0.7 + (score(rng) - 0.75) / 3;
      votes.push_back({key(static_cast<std::uint8_t>(i + 1)), i == 4 ? votes[0].score : s});
      if (i % 2) trust[votes.back().scorer] = tr(rng);
    }
    const quorum_rule rule{.max_votes = 6};
    const auto ref = decide(votes, trust, rule);
    ++seen[ref.st];
    for (int k = 0; k < 10; ++k) {
      std::shuffle(votes.begin(), votes.end(), rng);
      const auto o = decide(votes, trust, rule);
      ASSERT_EQ(o, ref) << "round " << round;
    }
  }
  // Not a vacuous check: every state occurs.
  EXPECT_GT(seen[state::decided], 50) << seen[state::need_more] << " " << seen[state::failed];
  EXPECT_GT(seen[state::need_more], 10) << seen[state::decided] << " " << seen[state::failed];
  EXPECT_GT(seen[state::failed], 5) << seen[state::decided] << " " << seen[state::need_more];
}

TEST(LedgerQuorum, OutcomePayloadRoundTrips) {
  quorum_outcome o;
  o.st = state::decided;
  o.score = 0.875;
  o.accepted = true;
  o.agreeing = keys({2, 3});
  o.outvoted = keys({1});
  const auto text = outcome_payload("c0ffee", o, R"({"node": "n1", "score": "ignored"})");
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["contribution"], "c0ffee");
  EXPECT_EQ(j["score"], 0.875);
  EXPECT_EQ(j["node"], "n1");
  ASSERT_EQ(j["agreeing"].size(), 2u);
  EXPECT_EQ(j["agreeing"][0], to_hex(key(2)));
  EXPECT_EQ(j["outvoted"][0], to_hex(key(1)));
  EXPECT_NO_THROW(outcome_payload("c", o));
  EXPECT_THROW(outcome_payload("c", o, "[1,2]"), std::invalid_argument);
  EXPECT_THROW(outcome_payload("c", o, "{bad"), std::invalid_argument);
}

/// Scorers sign their score entries; each keeps its own chain.
struct scorer_chain {
  const wire::identity* who;
  std::vector<entry> chain;
  const entry& score(const std::string& contribution, double v) {
    chain.push_back(next_entry(*who, chain.empty() ? nullptr : &chain.back(), kind::score, contribution,
                               static_cast<std::int64_t>(std::llround(v * 1000)), "{}"));
    return chain.back();
  }
};

TEST(LedgerQuorum, TrustFormula) {
  const auto author = wire::generate_identity(), s1 = wire::generate_identity(), s2 = wire::generate_identity();
  scorer_chain c1{&s1, {}}, c2{&s2, {}};
  trust_table t;
  std::vector<entry> chain, all;
  // Scorer 1 agrees 10 times, then is outvoted once: 11/15. Scorer 2 always agrees.
  for (int i = 0; i < 11; ++i) {
    std::string id = "c";  // += (GCC 12 -Wrestrict false positive on "c" + str)
    id += std::to_string(i);
    all.push_back(c1.score(id, i < 10 ? 0.70 : 0.10));
    all.push_back(c2.score(id, 0.72));
    quorum_outcome o;
    o.st = state::decided;
    o.score = 0.71;
    o.agreeing = i < 10 ? std::vector<public_key>{s1.pk, s2.pk} : std::vector<public_key>{s2.pk};
    if (i == 10) o.outvoted = {s1.pk};
    chain.push_back(next_entry(author, chain.empty() ? nullptr : &chain.back(), kind::reward, id, 10,
                               outcome_payload(id, o)));
    all.push_back(chain.back());
  }
  for (const auto& e : all) t.observe(e);
  EXPECT_EQ(t.agreed(s1.pk), 10u);
  EXPECT_EQ(t.outvoted(s1.pk), 1u);
  EXPECT_DOUBLE_EQ(t.trust(s1.pk), 11.0 / 15.0);
  EXPECT_EQ(t.agreed(s2.pk), 11u);
  EXPECT_DOUBLE_EQ(t.trust(key(5)), 1.0);  // never seen
  // Observing the same entries again changes nothing.
  for (const auto& e : all) t.observe(e);
  EXPECT_EQ(t.agreed(s1.pk), 10u);
  EXPECT_EQ(t.outvoted(s1.pk), 1u);
}

TEST(LedgerQuorum, AnOutcomeCannotOutvoteAScorerWithoutItsScore) {
  // A dishonest author lists an honest scorer as outvoted. Without that
  // scorer's signed score it does not count; with the honest score close to
  // the stated quorum score it counts as agreement, whatever the list says.
  const auto liar = wire::generate_identity(), honest = wire::generate_identity(), other = wire::generate_identity();
  scorer_chain ch{&honest, {}}, co{&other, {}};
  quorum_outcome o;
  o.st = state::decided;
  o.score = 0.9;
  o.agreeing = {other.pk};
  o.outvoted = {honest.pk};
  const entry claim = next_entry(liar, nullptr, kind::penalty, "x", 1, outcome_payload("x", o));
  trust_table t;
  t.observe(claim);
  t.observe(co.score("x", 0.9));
  EXPECT_EQ(t.outvoted(honest.pk), 0u);  // no evidence: not judged
  t.observe(ch.score("x", 0.88));
  EXPECT_EQ(t.outvoted(honest.pk), 0u);
  EXPECT_EQ(t.agreed(honest.pk), 1u);  // its own score agrees with the stated quorum
  // A stated score outside every evidenced score is no quorum: ignored.
  quorum_outcome far = o;
  far.score = 0.1;
  trust_table u;
  u.observe(next_entry(liar, nullptr, kind::penalty, "y", 1, outcome_payload("y", far)));
  u.observe(ch.score("y", 0.88));
  u.observe(co.score("y", 0.9));
  EXPECT_EQ(u.outvoted(honest.pk), 0u);
  EXPECT_EQ(u.agreed(honest.pk), 0u);
}

TEST(LedgerQuorum, RepeatedlyOutvotedScorerLosesTrust) {
  // Honest scorers h1..h3 score near the truth; a cheat always reports 1.5.
  // Each quorum takes votes from scorers above min_trust (each signs its
  // score entry), decides, and the coordinator records the outcome as a
  // signed reward entry.
  const auto coordinator = wire::generate_identity();
  const auto h1 = wire::generate_identity(), h2 = wire::generate_identity(), h3 = wire::generate_identity();
  const auto cheat = wire::generate_identity();
  std::vector<scorer_chain> scorers = {{&h1, {}}, {&h2, {}}, {&h3, {}}, {&cheat, {}}};

  trust_table trust;
  ledger_state st;
  std::vector<entry> chain, all;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(-0.05, 0.05);
  int cheat_asked = 0;
  for (int q = 0; q < 10; ++q) {
    const double truth = 0.5 + 0.05 * q;
    const std::string id = "contribution-" + std::to_string(q);
    std::vector<vote> votes;
    for (auto& s : scorers) {
      if (trust.trust(s.who->pk) < min_trust) continue;
      if (s.who == &cheat) ++cheat_asked;
      const double v = std::round((s.who == &cheat ? 1.5 : truth + noise(rng)) * 1000) / 1000;
      votes.push_back({s.who->pk, v});
      all.push_back(s.score(id, v));
      ASSERT_TRUE(st.append(all.back()).ok());
      trust.observe(all.back());
    }
    const auto o = decide(votes, trust.all());
    ASSERT_EQ(o.st, state::decided) << "quorum " << q;
    EXPECT_NEAR(o.score, truth, 0.05);
    entry e = next_entry(coordinator, chain.empty() ? nullptr : &chain.back(), kind::reward, id, 1000,
                         outcome_payload(id, o, R"({"round": )" + std::to_string(q) + "}"));
    ASSERT_TRUE(st.append(e).ok());  // a real, valid ledger entry
    chain.push_back(e);
    all.push_back(e);
    trust.observe(e);
  }
  EXPECT_LT(trust.trust(cheat.pk), min_trust);
  EXPECT_GE(trust.outvoted(cheat.pk), 1u);
  EXPECT_EQ(trust.agreed(cheat.pk), 0u);
  EXPECT_EQ(cheat_asked, 1);  // dropped after its first outvote (trust 1/5)
  for (const auto* h : {&h1, &h2, &h3}) {
    EXPECT_EQ(trust.trust(h->pk), 1.0);
    EXPECT_EQ(trust.agreed(h->pk), 10u);
    EXPECT_EQ(trust.outvoted(h->pk), 0u);
  }

  // The same fold, from the entries in any order (scores after the outcomes
  // that cite them included), gives the same table.
  std::shuffle(all.begin(), all.end(), rng);
  trust_table again;
  for (const auto& e : all) again.observe(e);
  EXPECT_EQ(again.all(), trust.all());
}

TEST(LedgerQuorum, CheatKeptInQuorumIsOutvotedEveryTime) {
  // Without excluding low-trust scorers, ten outvotes drive trust to 1/41.
  const auto coordinator = wire::generate_identity();
  const auto h1 = wire::generate_identity(), h2 = wire::generate_identity(), cheat = wire::generate_identity();
  scorer_chain c1{&h1, {}}, c2{&h2, {}}, cc{&cheat, {}};
  trust_table trust;
  std::vector<entry> chain;
  for (int q = 0; q < 10; ++q) {
    std::string id = "c";
    id += std::to_string(q);
    trust.observe(c1.score(id, 0.70));
    trust.observe(cc.score(id, 0.05));
    trust.observe(c2.score(id, 0.72));
    const auto o = decide({{h1.pk, 0.70}, {cheat.pk, 0.05}, {h2.pk, 0.72}}, trust.all());
    ASSERT_EQ(o.st, state::decided);
    ASSERT_EQ(o.outvoted, std::vector<public_key>{cheat.pk});
    chain.push_back(next_entry(coordinator, chain.empty() ? nullptr : &chain.back(),
                               q % 2 ? kind::penalty : kind::reward, id, 5, outcome_payload(id, o)));
    trust.observe(chain.back());
  }
  EXPECT_DOUBLE_EQ(trust.trust(cheat.pk), 1.0 / 41.0);
  EXPECT_LT(trust.trust(cheat.pk), min_trust);
  EXPECT_EQ(trust.trust(h1.pk), 1.0);
  EXPECT_EQ(trust.trust(h2.pk), 1.0);
}

TEST(LedgerQuorum, MalformedPayloadsAreIgnored) {
  const auto author = wire::generate_identity();
  const std::string good_hex = to_hex(key(1));
  const std::vector<std::pair<kind, std::string>> cases = {
      {kind::reward, ""},
      {kind::reward, "not json"},
      {kind::reward, "{\"agreeing\": ["},
      {kind::reward, "[1, 2, 3]"},
      {kind::reward, "\"agreeing\""},
      {kind::reward, "{}"},
      {kind::reward, "{\"agreeing\": [\"" + good_hex + "\"]}"},                       // no outvoted
      {kind::reward, "{\"agreeing\": \"" + good_hex + "\", \"outvoted\": []}"},       // not an array
      {kind::reward, "{\"agreeing\": [\"" + good_hex + "\", 7], \"outvoted\": []}"},  // not a string
      {kind::reward, "{\"agreeing\": [\"" + good_hex + "\", \"abc\"], \"outvoted\": []}"},      // short key
      {kind::reward, "{\"agreeing\": [\"" + std::string(64, 'g') + "\"], \"outvoted\": []}"},  // not hex
      {kind::penalty, "{\"agreeing\": [\"" + good_hex + "\"], \"outvoted\": [\"" + good_hex + "\"]}"},  // both
      {kind::penalty, std::string(10000, '[')},
      {kind::score, "{\"agreeing\": [], \"outvoted\": [\"" + good_hex + "\"]}"},  // wrong kind
      {kind::contribution, "{\"agreeing\": [], \"outvoted\": [\"" + good_hex + "\"]}"},
  };
  trust_table t;
  std::vector<entry> chain;
  for (const auto& [k, payload] : cases) {
    chain.push_back(next_entry(author, chain.empty() ? nullptr : &chain.back(), k, "c", 1, payload));
    EXPECT_NO_THROW(t.observe(chain.back())) << payload.substr(0, 60);
  }
  EXPECT_TRUE(t.all().empty());
  EXPECT_EQ(t.trust(key(1)), 1.0);

  // A well-formed one still counts, upper-case hex included; a scorer listed
  // twice in one list counts once.
  const auto s1 = wire::generate_identity(), s2 = wire::generate_identity();
  scorer_chain c1{&s1, {}}, c2{&s2, {}};
  t.observe(c1.score("c", 0.1));
  t.observe(c2.score("c", 0.8));
  std::string upper = to_hex(s1.pk);
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  chain.push_back(next_entry(author, &chain.back(), kind::reward, "c", 1,
                             "{\"contribution\": \"c\", \"score\": 0.8, \"agreeing\": [\"" + to_hex(s2.pk) +
                                 "\", \"" + to_hex(s2.pk) + "\"], \"outvoted\": [\"" + upper +
                                 "\"], \"extra\": null}"));
  t.observe(chain.back());
  EXPECT_EQ(t.agreed(s2.pk), 1u);
  EXPECT_EQ(t.outvoted(s1.pk), 1u);
  EXPECT_DOUBLE_EQ(t.trust(s1.pk), 0.2);
}


// ---- role rules (an authority) ----------------------------------------------

using testing::admission_payload;
using testing::test_authority;

/// Entries of several authors, each chain kept.
struct role_fixture {
  wire::identity op = wire::generate_identity();
  test_authority auth{{op}};
  std::map<public_key, entry> last;
  std::vector<entry> all;

  const entry& add(const wire::identity& who, kind k, const std::string& subject, std::int64_t amount,
                   const std::string& payload = "{}") {
    const auto it = last.find(who.pk);
    last[who.pk] = next_entry(who, it == last.end() ? nullptr : &it->second, k, subject, amount, payload);
    all.push_back(last[who.pk]);
    return all.back();
  }
  void admit(const wire::identity& who, std::uint32_t roles) {
    add(who, kind::admission, to_hex(who.pk), 0, admission_payload(test_authority::issue(op, who.pk, roles)));
  }
  const entry& score(const wire::identity& who, const std::string& id, double v) {
    return add(who, kind::score, id, static_cast<std::int64_t>(std::llround(v * 1000)));
  }
  const entry& outcome(const wire::identity& who, const std::string& id, double score,
                       std::vector<public_key> agreeing, std::vector<public_key> outvoted) {
    quorum_outcome o;
    o.st = state::decided;
    o.score = score;
    o.agreeing = std::move(agreeing);
    o.outvoted = std::move(outvoted);
    std::sort(o.agreeing.begin(), o.agreeing.end());
    std::sort(o.outvoted.begin(), o.outvoted.end());
    return add(who, kind::reward, id, 10, outcome_payload(id, o));
  }
};

TEST(LedgerQuorum, ScoresCountOnlyFromScorersOrTrainers) {
  role_fixture f;
  const auto coordinator = wire::generate_identity(), scorer = wire::generate_identity();
  const auto trainer = wire::generate_identity(), stranger = wire::generate_identity();
  f.admit(coordinator, role_collector);
  f.admit(scorer, role_scorer);
  f.admit(trainer, role_trainer);
  f.score(scorer, "x", 0.80);
  f.score(trainer, "x", 0.82);
  f.score(stranger, "x", 0.10);
  f.outcome(coordinator, "x", 0.81, {scorer.pk, trainer.pk}, {stranger.pk});

  trust_table with(quorum_rule{}.tolerance, &f.auth), without;
  for (const auto& e : f.all) with.observe(e), without.observe(e);
  EXPECT_EQ(with.agreed(scorer.pk), 1u);
  EXPECT_EQ(with.agreed(trainer.pk), 1u);
  EXPECT_EQ(with.outvoted(stranger.pk), 0u);  // its score is no evidence: not judged
  EXPECT_EQ(without.outvoted(stranger.pk), 1u);
  EXPECT_EQ(f.auth.cert_checks, 3u);  // once per admission
}

TEST(LedgerQuorum, OutcomesCountOnlyFromCollectorsOrLedgerNodes) {
  // A trainer (or a stranger) writes outcomes calling an honest scorer
  // outvoted; the scorer's own far score is there as evidence. Only the
  // collector's outcome counts, whatever the hashes' order.
  role_fixture f;
  const auto coordinator = wire::generate_identity(), honest = wire::generate_identity();
  const auto trainer = wire::generate_identity(), stranger = wire::generate_identity();
  f.admit(coordinator, role_ledger);
  f.admit(honest, role_scorer);
  f.admit(trainer, role_trainer | role_scorer);
  f.score(honest, "y", 0.20);
  f.score(trainer, "y", 0.90);
  for (int i = 0; i < 8; ++i) {
    f.outcome(trainer, "y", 0.90, {trainer.pk}, {honest.pk});
    f.outcome(stranger, "y", 0.90, {trainer.pk}, {honest.pk});
  }
  trust_table t(quorum_rule{}.tolerance, &f.auth);
  for (const auto& e : f.all) t.observe(e);
  EXPECT_EQ(t.outvoted(honest.pk), 0u);
  EXPECT_TRUE(t.all().empty());
  f.outcome(coordinator, "y", 0.20, {honest.pk}, {trainer.pk});
  t.observe(f.all.back());
  EXPECT_EQ(t.agreed(honest.pk), 1u);
  EXPECT_EQ(t.outvoted(trainer.pk), 1u);
}

TEST(LedgerQuorum, RevokedScorersLaterScoresDoNotCount) {
  role_fixture f;
  const auto coordinator = wire::generate_identity(), s1 = wire::generate_identity(), s2 = wire::generate_identity();
  f.admit(coordinator, role_collector);
  f.admit(s1, role_scorer);  // seq 0
  f.admit(s2, role_scorer);
  f.score(s1, "a", 0.5);  // seq 1: counts
  f.score(s2, "a", 0.5);
  f.score(s1, "b", 0.9);  // seq 2: cut
  f.score(s2, "b", 0.1);
  f.outcome(coordinator, "a", 0.5, {s1.pk, s2.pk}, {});
  f.outcome(coordinator, "b", 0.1, {s2.pk}, {s1.pk});
  f.add(f.op, kind::revocation, to_hex(s1.pk), 0, R"({"after_seq": 1})");
  trust_table t(quorum_rule{}.tolerance, &f.auth);
  for (const auto& e : f.all) t.observe(e);
  EXPECT_EQ(t.agreed(s1.pk), 1u);
  EXPECT_EQ(t.outvoted(s1.pk), 0u);
  EXPECT_EQ(t.agreed(s2.pk), 2u);
}

TEST(LedgerQuorum, TrustWithAuthorityIndependentOfOrder) {
  role_fixture f;
  const auto coordinator = wire::generate_identity(), stranger = wire::generate_identity();
  std::vector<wire::identity> s(4);
  for (auto& id : s) id = wire::generate_identity();
  f.admit(coordinator, role_collector);
  for (std::size_t i = 0; i < 3; ++i) f.admit(s[i], i ? role_scorer : role_trainer);  // s[3] never admitted
  for (int q = 0; q < 8; ++q) {
    std::string id = "c";
    id += std::to_string(q);
    f.score(s[0], id, 0.70);
    f.score(s[1], id, 0.72);
    f.score(s[2], id, q % 3 ? 0.71 : 0.10);
    f.score(s[3], id, 0.05);
    f.outcome(coordinator, id, 0.71, {s[0].pk, s[1].pk}, {s[2].pk, s[3].pk});
    f.outcome(stranger, id, 0.05, {s[3].pk}, {s[0].pk, s[1].pk});
  }
  f.add(f.op, kind::revocation, to_hex(s[1].pk), 0, R"({"after_seq": 4})");
  trust_table reference(quorum_rule{}.tolerance, &f.auth);
  for (const auto& e : f.all) reference.observe(e);
  ASSERT_FALSE(reference.all().empty());
  EXPECT_EQ(reference.outvoted(s[3].pk), 0u);
  EXPECT_EQ(reference.agreed(s[1].pk), 4u);  // seq 1..4
  std::mt19937 rng(5);
  auto shuffled = f.all;
  for (int round = 0; round < 100; ++round) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    trust_table t(quorum_rule{}.tolerance, &f.auth);
    for (const auto& e : shuffled) t.observe(e);
    ASSERT_EQ(t.all(), reference.all()) << "round " << round;
  }
}

}  // namespace
}  // namespace hydra::ledger
