// A real `hydra node` process is fed malformed, oversized, unsigned, wrongly
// signed and wrong-version frames over real sockets — inside the cluster's
// encrypted channel, by an admitted key, and in the clear by a stranger.
// Each connection must be closed with the reason in the node's log, and the
// node must stay up and keep serving its peer and the admin client.

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <iostream>

#include "e2e_harness.hpp"
#include "ledger/entry.hpp"
#include "wire/hydra.capnp.h"
#include "wire/identity.hpp"

namespace hydra {
namespace {

using namespace e2e;

std::vector<std::uint8_t> ping_payload() {
  capnp::MallocMessageBuilder mb;
  mb.initRoot<Message>().initPing().setNonce(42);
  auto words = capnp::messageToFlatArray(mb);
  auto b = words.asBytes();
  return {b.begin(), b.end()};
}

std::vector<std::uint8_t> envelope(std::uint16_t version, const wire::public_key& pk,
                                   std::span<const std::uint8_t> sig, const std::vector<std::uint8_t>& payload) {
  capnp::MallocMessageBuilder mb;
  auto e = mb.initRoot<Envelope>();
  e.setVersion(version);
  e.setPublicKey(kj::arrayPtr(pk.data(), pk.size()));
  e.setSignature(kj::arrayPtr(sig.data(), sig.size()));
  e.setPayload(kj::arrayPtr(payload.data(), payload.size()));
  auto words = capnp::messageToFlatArray(mb);
  auto b = words.asBytes();
  return {b.begin(), b.end()};
}

/// Sends `bytes` inside a channel opened as `as`; true when the node hangs up.
bool node_hangs_up(const std::string& address, const actors::credentials& as, const std::vector<std::uint8_t>& bytes) {
  secure_conn c(address, as);
  if (!c.ok()) return false;
  c.send_plain(bytes);
  return c.hung_up();
}

TEST(BadFrames, EachIsRejectedWithAReasonAndTheNodeKeepsServing) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = fs::temp_directory_path() / ("hydra-badframes-" + std::to_string(getpid()));
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  tc.admit_dir(base + "/b");
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  node_process b(base + "/b", a.address);
  ASSERT_FALSE(b.address.empty()) << b.log();
  const auto op = tc.operator_creds();

  const auto member = tc.member(trust::role_trainer);
  const auto& me = member.id;
  const auto other = wire::generate_identity();
  const auto payload = ping_payload();

  // In the clear, without a handshake: refused before any frame is parsed.
  EXPECT_TRUE(hangs_up_on_raw(a.address, wire::seal_bytes(me, payload)));
  EXPECT_TRUE(log_has(a, "rejected handshake")) << a.log();

  // Malformed: a plausible segment table, then bytes that are no envelope.
  std::vector<std::uint8_t> garbage = {0, 0, 0, 0, 4, 0, 0, 0};
  for (int i = 0; i < 32; ++i) garbage.push_back(static_cast<std::uint8_t>(0xA5 ^ i));
  EXPECT_TRUE(node_hangs_up(a.address, member, garbage));
  EXPECT_TRUE(log_has(a, "envelope does not parse")) << a.log();

  // Oversized: a segment table that claims 1 GiB.
  std::vector<std::uint8_t> huge = {0, 0, 0, 0, 0, 0, 0, 0x08};
  EXPECT_TRUE(node_hangs_up(a.address, member, huge));
  EXPECT_TRUE(log_has(a, "exceeds limit")) << a.log();

  // Unsigned: no signature at all.
  EXPECT_TRUE(node_hangs_up(a.address, member, envelope(wire::protocol_version, me.pk, {}, payload)));
  EXPECT_TRUE(log_has(a, "signature of 0 bytes")) << a.log();

  // Wrongly signed: signed by another key than the one it names.
  const auto input = wire::signing_input(wire::protocol_version, me.pk, payload, {});
  std::array<std::uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, input.data(), input.size(), other.sk.data());
  EXPECT_TRUE(node_hangs_up(a.address, member, envelope(wire::protocol_version, me.pk, sig, payload)));
  EXPECT_TRUE(log_has(a, "bad signature")) << a.log();

  // Wrong protocol version, correctly signed.
  EXPECT_TRUE(node_hangs_up(a.address, member, wire::seal_bytes(me, payload, 7)));
  EXPECT_TRUE(log_has(a, "protocol version 7, expected 2")) << a.log();

  // Still up, still answering, still a member with its peer.
  EXPECT_TRUE(a.running());
  bool both = false;
  for (int i = 0; i < 100 && !both; ++i) {
    both = alive_in_view(op, a.address) == 2 && alive_in_view(op, b.address) == 2;
    if (!both) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(both) << "a sees " << alive_in_view(op, a.address) << ", b sees " << alive_in_view(op, b.address) << "\n"
                    << a.log();
  // A well-formed ping from an admitted key gets its pong.
  secure_conn c(a.address, member);
  ASSERT_TRUE(c.ok()) << c.error;
  capnp::MallocMessageBuilder mb;
  mb.initRoot<Message>().initPing().setNonce(99);
  c.send_message(mb, false);
  auto pong = c.receive([](Message::Reader m) { return m.isPong() && m.getPong().getNonce() == 99; });
  EXPECT_TRUE(pong.has_value());
  fs::remove_all(base);
}

}  // namespace
}  // namespace hydra

namespace hydra {
namespace {

/// Sends one LedgerEntries frame (from an admitted ledger replica) holding `entries`.
void push_entries(const std::string& address, const actors::credentials& as, const std::vector<ledger::entry>& entries) {
  capnp::MallocMessageBuilder mb;
  auto le = mb.initRoot<Message>().initLedgerEntries();
  le.setRequestId(7);
  auto list = le.initEntries(static_cast<unsigned>(entries.size()));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto bytes = ledger::encode(entries[i]);
    list.set(static_cast<unsigned>(i), kj::arrayPtr(bytes.data(), bytes.size()));
  }
  secure_conn c(address, as);
  ASSERT_TRUE(c.ok()) << c.error;
  c.send_message(mb, false);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the node store and ack
}

ledger::entry make_entry(const wire::identity& who, std::uint64_t seq, const digest256& prev, std::int64_t amount,
                         ledger::kind k = ledger::kind::reward) {
  ledger::entry e;
  e.k = k;
  e.seq = seq;
  e.prev = prev;
  e.subject = "acct";
  e.amount = amount;
  e.payload = "{}";
  return ledger::sign(std::move(e), who);
}

TEST(BadLedgerEntries, ForgedAlteredReplayedAndReorderedAreRejectedAndStrangersMintNothing) {
  ASSERT_GE(sodium_init(), 0);
  const std::string base = fs::temp_directory_path() / ("hydra-badledger-" + std::to_string(getpid()));
  test_cluster tc(base);
  tc.admit_dir(base + "/a");
  node_process a(base + "/a", "");
  ASSERT_FALSE(a.address.empty()) << a.log();
  const auto op = tc.operator_creds();
  const auto replica = tc.member(trust::role_ledger);  // an admitted replica pushes what others wrote
  const auto x = wire::generate_identity(), y = wire::generate_identity();
  ASSERT_TRUE(eventually([&] { return ctl_json(op, a.address, "ledger", {"summary"}).value("entries", 0) >= 1; }));
  const int before = ctl_json(op, a.address, "ledger", {"summary"})["entries"].get<int>();  // a's admission

  const auto e0 = make_entry(x, 0, {}, 5);
  push_entries(a.address, replica, {e0, e0});  // a duplicate in the same batch is stored once

  auto forged = make_entry(y, 1, ledger::entry_hash(e0), 1000);
  forged.author = x.pk;  // claims to be x's, signed by y
  auto altered = make_entry(x, 1, ledger::entry_hash(e0), 5);
  altered.amount = 5000;  // changed after signing
  const auto replayed = make_entry(x, 0, {}, 6);                    // an old seq with new bytes
  const auto gap = make_entry(x, 5, ledger::entry_hash(e0), 7);     // reordered / missing 1..4
  const auto bad_prev = make_entry(x, 1, ledger::entry_hash(replayed), 8);  // prev is not e0
  push_entries(a.address, replica, {forged, altered, replayed, gap, bad_prev});

  const auto j = ctl_json(op, a.address, "ledger", {"summary"});
  EXPECT_EQ(j["entries"].get<int>(), before + 1) << j;
  EXPECT_EQ(j["rejected"].get<int>(), 5) << j;
  EXPECT_TRUE(log_has(a, "forged")) << a.log();
  EXPECT_TRUE(log_has(a, "replayed")) << a.log();
  EXPECT_TRUE(log_has(a, "altered chain")) << a.log();

  // x holds no certificate: its rewards are stored (the chain is sound) but
  // mint nothing.
  push_entries(a.address, replica, {make_entry(x, 1, ledger::entry_hash(e0), 10)});
  auto balances = ctl_json(op, a.address, "ledger", {"balances"});
  EXPECT_EQ(balances.value("acct", 0), 0) << balances;

  // A collector that published its admission: its reward counts.
  auto coll = tc.member(trust::role_collector);
  ledger::entry adm;
  adm.k = ledger::kind::admission;
  adm.subject = to_hex(coll.id.pk);
  adm.payload = nlohmann::json({{"cert", to_hex(coll.cert)}}).dump();
  adm = ledger::sign(adm, coll.id);
  push_entries(a.address, replica, {adm, make_entry(coll.id, 1, ledger::entry_hash(adm), 7)});
  balances = ctl_json(op, a.address, "ledger", {"balances"});
  EXPECT_EQ(balances.value("acct", 0), 7) << balances;
  EXPECT_TRUE(a.running());
  fs::remove_all(base);
}

}  // namespace
}  // namespace hydra
