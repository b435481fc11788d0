#include "ledger/entry.hpp"

#include <gtest/gtest.h>

#include "ledger/internal/test_util.hpp"

namespace hydra::ledger {
namespace {

TEST(LedgerEntry, SignThenVerify) {
  const auto id = wire::generate_identity();
  const entry e = testing::next_entry(id, nullptr, kind::contribution, "c1", 0, R"({"rows":10})");
  EXPECT_EQ(e.author, id.pk);
  EXPECT_TRUE(verify_signature(e).ok());
}

TEST(LedgerEntry, EncodeDecodeRoundTrips) {
  const auto id = wire::generate_identity();
  const entry a = testing::next_entry(id, nullptr, kind::reward, "node", -42, "{}");
  const entry b = testing::next_entry(id, &a, kind::score, "", 7, std::string(1000, 'x'));
  for (const entry& e : {a, b}) {
    auto d = decode(encode(e));
    ASSERT_TRUE(d) << d.err().message;
    EXPECT_EQ(*d, e);
  }
}

TEST(LedgerEntry, DecodeRejectsTruncatedAndTrailingBytes) {
  const auto id = wire::generate_identity();
  auto bytes = encode(testing::next_entry(id, nullptr, kind::reward, "n", 1));
  auto shorter = bytes;
  shorter.pop_back();
  EXPECT_FALSE(decode(shorter));
  bytes.push_back(0);
  EXPECT_FALSE(decode(bytes));
}

TEST(LedgerEntry, HashIgnoresSignatureButCoversEveryField) {
  const auto id = wire::generate_identity();
  entry e = testing::next_entry(id, nullptr, kind::reward, "n", 1);
  const digest256 h = entry_hash(e);
  entry other = e;
  other.sig[0] ^= 1;
  EXPECT_EQ(entry_hash(other), h);
  other = e;
  other.amount = 2;
  EXPECT_NE(entry_hash(other), h);
  other = e;
  other.k = kind::penalty;
  EXPECT_NE(entry_hash(other), h);
}

TEST(LedgerEntry, ForgedSignatureByOtherKeyFails) {
  const auto alice = wire::generate_identity();
  const auto mallory = wire::generate_identity();
  entry e = testing::next_entry(mallory, nullptr, kind::reward, "mallory", 1000);
  e.author = alice.pk;  // claims to be alice, signed by mallory
  auto s = verify_signature(e);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().message.rfind("forged", 0), 0u) << s.err().message;
}

TEST(LedgerEntry, AlteredPayloadFailsVerification) {
  const auto id = wire::generate_identity();
  entry e = testing::next_entry(id, nullptr, kind::score, "c1", 5, R"({"score":5})");
  e.payload[2] ^= 1;
  EXPECT_FALSE(verify_signature(e));
}

TEST(LedgerEntry, KindNamesRoundTrip) {
  for (kind k : {kind::contribution, kind::score, kind::compute_credit, kind::reward, kind::penalty,
                 kind::admission, kind::revocation})
    EXPECT_EQ(parse_kind(to_string(k)), k);
  EXPECT_FALSE(parse_kind("bonus"));
}

TEST(LedgerEntry, KindValuesAreStable) {
  // The kind byte is part of the signed encoding: old entries must decode.
  EXPECT_EQ(static_cast<int>(kind::penalty), 4);
  EXPECT_EQ(static_cast<int>(kind::admission), 5);
  EXPECT_EQ(static_cast<int>(kind::revocation), 6);
  const auto id = wire::generate_identity();
  auto bytes = encode(testing::next_entry(id, nullptr, kind::revocation, std::string(64, 'a'), 0, "{}"));
  auto back = decode(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->k, kind::revocation);
  bytes[4] = 7;  // the kind byte, one past the last kind
  EXPECT_FALSE(decode(bytes));
}

}  // namespace
}  // namespace hydra::ledger
