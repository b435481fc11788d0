#include "ledger/chain.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

}  // namespace
}  // namespace hydra::ledger
