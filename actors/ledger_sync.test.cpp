// The ledger replica's trust boundary: catch-up batches stay far inside
// the frame limit whatever the entries' size, and "durable on N replicas"
// counts only acks that prove it.

#include "actors/ledger_sync.hpp"

#include <gtest/gtest.h>

#include <capnp/serialize.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ledger/entry.hpp"
#include "wire/frame.hpp"
#include "wire/identity.hpp"

namespace hydra::actors {
namespace {

/// A service_host that records what it is asked to send.
struct fake_host {
  std::vector<peer_ref> peers;
  double clock = 0;
  std::map<std::string, std::vector<kj::Array<capnp::word>>> sent;  ///< by address
  std::vector<kj::Array<capnp::word>> replies;

  service_host host() {
    service_host h;
    h.send_to = [this](const std::string& a, capnp::MallocMessageBuilder& mb) {
      sent[a].push_back(capnp::messageToFlatArray(mb));
    };
    h.reply = [this](conn_id, capnp::MallocMessageBuilder& mb) { replies.push_back(capnp::messageToFlatArray(mb)); };
    h.live = [this] { return peers; };
    h.now = [this] { return clock; };
    return h;
  }
};

/// The LedgerEntries messages sent to `address`, in order (heads are skipped).
std::vector<capnp::FlatArrayMessageReader> pushes(fake_host& h, const std::string& address) {
  std::vector<capnp::FlatArrayMessageReader> out;
  for (const auto& words : h.sent[address]) {
    capnp::FlatArrayMessageReader r(words);
    if (r.getRoot<Message>().isLedgerEntries()) out.emplace_back(words);
  }
  return out;
}

node_id id_of(std::uint8_t b) {
  node_id id{};
  id.fill(b);
  return id;
}

class LedgerSync : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hydra-ledger-sync-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<ledger_sync> open(fake_host& h) {
    auto s = ledger_sync::open(dir_.string(), me_, h.host());
    EXPECT_TRUE(s) << s.err().message;
    return std::move(*s);
  }
  std::filesystem::path dir_;
  wire::identity me_ = wire::generate_identity();
};

/// Acks `req` from `from` naming `hash`.
void ack(ledger_sync& s, const node_id& from, std::uint64_t req, const digest256& hash) {
  capnp::MallocMessageBuilder mb;
  auto a = mb.initRoot<LedgerAck>();
  a.setRequestId(req);
  a.setStored(1);
  a.setHash(kj::arrayPtr(hash.data(), hash.size()));
  s.on_ack(from, a.asReader());
}

TEST_F(LedgerSync, CatchUpBatchesOfMaxSizeEntriesStayWithinTheByteBound) {
  fake_host h;
  auto s = open(h);
  const int n = 300;  // ~19 MiB of entries at the largest payload
  for (int i = 0; i < n; ++i)
    ASSERT_TRUE(s->author(ledger::kind::contribution, "subject", 1,
                          std::string(ledger::max_payload_size, static_cast<char>('a' + i % 26))));
  capnp::MallocMessageBuilder mb;
  auto heads = mb.initRoot<LedgerHeads>();  // a peer that holds nothing
  heads.setReply(true);
  s->on_heads(1, heads.asReader());
  ASSERT_GE(h.replies.size(), 3u);
  std::size_t got = 0;
  std::uint64_t next_seq = 0;
  for (const auto& words : h.replies) {
    EXPECT_LT(words.asBytes().size(), wire::default_max_frame / 4);
    capnp::FlatArrayMessageReader reader(words, {1u << 30, 64});
    auto list = reader.getRoot<Message>().getLedgerEntries().getEntries();
    ASSERT_GE(list.size(), 1u);
    std::size_t bytes = 0;
    for (auto d : list) {
      bytes += d.size();
      auto e = ledger::decode(std::span<const std::uint8_t>(d.begin(), d.size()));
      ASSERT_TRUE(e);
      EXPECT_EQ(e->seq, next_seq++);  // in order, none lost or repeated
    }
    EXPECT_LE(bytes, max_batch_bytes);
    got += list.size();
  }
  EXPECT_EQ(got, static_cast<std::size_t>(n));
}

TEST_F(LedgerSync, OnlyAcksFromReplicasSentTheEntryNamingItCount) {
  fake_host h;
  h.peers = {{id_of(1), "a", false}, {id_of(2), "b", false}, {id_of(3), "c", false}};
  auto s = open(h);
  int calls = 0, replicas = 0;
  bool ok = false;
  auto e = s->author(ledger::kind::contribution, "subject", 1, "x", [&](bool acked, int n) {
    ++calls;
    ok = acked;
    replicas = n;
  });
  ASSERT_TRUE(e);
  auto sent = pushes(h, "a");
  ASSERT_EQ(sent.size(), 1u);
  const std::uint64_t req = sent[0].getRoot<Message>().getLedgerEntries().getRequestId();
  const digest256 hash = ledger::entry_hash(*e);
  digest256 wrong = hash;
  wrong[0] ^= 1;

  ack(*s, id_of(9), req, hash);   // a stranger: never sent the entry
  ack(*s, id_of(1), req, hash);   // replica a: counts
  ack(*s, id_of(1), req, hash);   // a again: once per replica
  ack(*s, id_of(2), req, wrong);  // b, for another entry
  EXPECT_EQ(calls, 0) << "durable on " << replicas << " replicas after one true ack";
  ack(*s, id_of(2), req, hash);   // b, for this entry: three copies now
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(ok);
  EXPECT_EQ(replicas, 3);
}

TEST_F(LedgerSync, AnAckWithoutAHashDoesNotCount) {
  fake_host h;
  h.peers = {{id_of(1), "a", false}, {id_of(2), "b", false}};
  auto s = open(h);
  int calls = 0;
  auto e = s->author(ledger::kind::contribution, "subject", 1, "x", [&](bool, int) { ++calls; });
  ASSERT_TRUE(e);
  auto sent = pushes(h, "a");
  ASSERT_EQ(sent.size(), 1u);
  capnp::MallocMessageBuilder mb;
  auto a = mb.initRoot<LedgerAck>();
  a.setRequestId(sent[0].getRoot<Message>().getLedgerEntries().getRequestId());
  a.setStored(1);
  s->on_ack(id_of(1), a.asReader());
  s->on_ack(id_of(2), a.asReader());
  EXPECT_EQ(calls, 0);
}

TEST_F(LedgerSync, AReplicaAcksWithTheHashOfTheRequestsLastEntry) {
  // The other side: a replica that stores a pushed entry names it in its ack.
  fake_host author_host, replica_host;
  auto author = open(author_host);
  author_host.peers = {{id_of(1), "r", false}};
  auto e = author->author(ledger::kind::contribution, "subject", 1, "x");
  ASSERT_TRUE(e);
  std::filesystem::create_directories(dir_ / "replica");
  auto replica = ledger_sync::open((dir_ / "replica").string(), wire::generate_identity(), replica_host.host());
  ASSERT_TRUE(replica);
  auto pushed = pushes(author_host, "r");
  ASSERT_EQ(pushed.size(), 1u);
  (*replica)->on_entries(1, me_.id, pushed[0].getRoot<Message>().getLedgerEntries());
  ASSERT_EQ(replica_host.replies.size(), 1u);
  capnp::FlatArrayMessageReader reply(replica_host.replies[0]);
  auto a = reply.getRoot<Message>().getLedgerAck();
  const auto hash = ledger::entry_hash(*e);
  ASSERT_EQ(a.getHash().size(), hash.size());
  EXPECT_EQ(std::memcmp(a.getHash().begin(), hash.data(), hash.size()), 0);
  int calls = 0;
  author->tick();
  // Feeding the replica's real ack back is acknowledged (2 of min(3, 2)).
  auto again = author->author(ledger::kind::contribution, "subject", 1, "y", [&](bool ok, int) { calls += ok; });
  ASSERT_TRUE(again);
  pushed = pushes(author_host, "r");
  ASSERT_EQ(pushed.size(), 2u);
  (*replica)->on_entries(1, me_.id, pushed[1].getRoot<Message>().getLedgerEntries());
  capnp::FlatArrayMessageReader reply2(replica_host.replies[1]);
  author->on_ack(id_of(1), reply2.getRoot<Message>().getLedgerAck());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace hydra::actors
