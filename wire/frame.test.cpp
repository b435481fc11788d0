#include "wire/frame.hpp"

#include <gtest/gtest.h>

#include "wire/internal/segment_table.hpp"
#include "wire/internal/test_util.hpp"

namespace hydra::wire {
namespace {

using testing::envelope;
using testing::gossip_frame;
using testing::ping_frame;
using testing::probe_frame;

const identity& alice() {
  static const identity id = generate_identity();
  return id;
}

const identity& bob() {
  static const identity id = generate_identity();
  return id;
}

std::string open_error(std::span<const std::uint8_t> frame) {
  auto r = open(frame);
  if (r) return "opened";
  EXPECT_EQ(r.err().code, errc::invalid_input);
  return r.err().message;
}

TEST(Frame, RoundTripsPing) {
  auto bytes = ping_frame(alice(), 42);
  auto f = open(bytes);
  ASSERT_TRUE(f) << f.err().message;
  EXPECT_EQ(f->sender(), alice().id);
  EXPECT_EQ(f->sender_key(), alice().pk);
  EXPECT_EQ(f->version(), protocol_version);
  EXPECT_EQ(f->frame_bytes(), bytes.size());
  ASSERT_EQ(f->message().which(), Message::PING);
  EXPECT_EQ(f->message().getPing().getNonce(), 42u);
}

TEST(Frame, RoundTripsGossipWithEntries) {
  auto f = open(gossip_frame(alice(), 50));
  ASSERT_TRUE(f) << f.err().message;
  ASSERT_EQ(f->message().which(), Message::GOSSIP);
  auto entries = f->message().getGossip().getEntries();
  ASSERT_EQ(entries.size(), 50u);
  for (unsigned i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].getInfo().getAddress(), "10.0.0." + std::to_string(i) + ":4000");
    EXPECT_EQ(entries[i].getInfo().getId()[0], i);
    EXPECT_EQ(entries[i].getHeartbeat(), 100u + i);
    EXPECT_DOUBLE_EQ(entries[i].getCapabilities().getGflops(), 1.5 * i);
  }
}

TEST(Frame, RoundTripsProbeWithOneMiBBlob) {
  constexpr std::size_t size = 1u << 20;
  auto bytes = probe_frame(alice(), size);
  EXPECT_LT(bytes.size(), size + 512);  // the blob is not re-encoded
  auto f = open(std::move(bytes));
  ASSERT_TRUE(f) << f.err().message;
  ASSERT_EQ(f->message().which(), Message::PROBE);
  auto data = f->message().getProbe().getData();
  ASSERT_EQ(data.size(), size);
  for (std::size_t i = 0; i < size; ++i)
    ASSERT_EQ(data[i], static_cast<std::uint8_t>(i * 31 + 1)) << "at " << i;
}

TEST(Frame, OpenedFrameSurvivesMoveAndSourceReuse) {
  auto bytes = gossip_frame(alice(), 3);
  auto f = open(bytes);
  ASSERT_TRUE(f);
  std::fill(bytes.begin(), bytes.end(), 0xee);  // open(span) copied the frame
  opened_frame moved = std::move(*f);
  EXPECT_EQ(moved.message().getGossip().getEntries()[2].getInfo().getAddress(), "10.0.0.2:4000");
}

TEST(Frame, SealBytesMatchesSeal) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPong().setNonce(9);
  auto f = open(seal_bytes(alice(), testing::to_bytes(m)));
  ASSERT_TRUE(f) << f.err().message;
  EXPECT_EQ(f->message().getPong().getNonce(), 9u);
  EXPECT_EQ(std::vector<std::uint8_t>(f->payload_bytes().begin(), f->payload_bytes().end()),
            testing::to_bytes(m));
}

TEST(Frame, RejectsBadSignature) {
  auto bytes = ping_frame(alice(), 0x0102030405060708);
  const std::size_t at = testing::payload_offset(bytes);
  for (std::size_t i = at; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= 0x01;
    EXPECT_EQ(open_error(flipped), "bad signature") << "payload byte " << i - at;
  }
}

TEST(Frame, RejectsSignatureByAnotherKey) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing().setNonce(1);
  const auto payload = testing::to_bytes(m);
  // Bob signs the exact input that Alice's key should have signed.
  const auto sig = sign(bob(), signing_input(protocol_version, alice().pk, payload));
  EXPECT_EQ(open_error(envelope(protocol_version, alice().pk, sig, payload)), "bad signature");
  // Control: the same construction with Alice's own signature opens.
  const auto good = sign(alice(), signing_input(protocol_version, alice().pk, payload));
  auto f = open(envelope(protocol_version, alice().pk, good, payload));
  ASSERT_TRUE(f) << f.err().message;
  EXPECT_EQ(f->sender(), alice().id);
}

TEST(Frame, RejectsOtherProtocolVersion) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing().setNonce(1);
  EXPECT_EQ(open_error(seal_bytes(alice(), testing::to_bytes(m), 1)),
            "protocol version 1, expected 2");
  EXPECT_EQ(open_error(seal_bytes(alice(), testing::to_bytes(m), 7)),
            "protocol version 7, expected 2");
}

TEST(Frame, RejectsWrongKeyOrSignatureLength) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing();
  const auto payload = testing::to_bytes(m);
  const auto sig = sign(alice(), signing_input(protocol_version, alice().pk, payload));
  EXPECT_EQ(open_error(envelope(protocol_version, std::span(alice().pk).first(31), sig, payload)),
            "public key of 31 bytes, expected 32");
  EXPECT_EQ(open_error(envelope(protocol_version, alice().pk, std::span(sig).first(10), payload)),
            "signature of 10 bytes, expected 64");
}

TEST(Frame, RejectsPayloadThatIsNotAMessage) {
  const std::vector<std::uint8_t> junk = {1, 2, 3, 4, 5};
  EXPECT_EQ(open_error(seal_bytes(alice(), junk)).rfind("payload does not parse: ", 0), 0u);
  std::vector<std::uint8_t> bad_pointer(24, 0);
  bad_pointer[4] = 2;    // one segment of 2 words
  bad_pointer[8] = 0x40;  // root: struct pointer 16 words ahead, out of bounds
  bad_pointer[14] = 1;    // with 1 pointer
  auto why = open_error(seal_bytes(alice(), bad_pointer));
  EXPECT_EQ(why.rfind("payload does not parse: ", 0), 0u) << why;
}

TEST(Frame, RejectsMalformedInnerPointerAtOpen) {
  // A gossip entry whose address points outside the segment: caught by the
  // traversal in open(), not later when a reader touches it.
  auto payload = [] {
    capnp::MallocMessageBuilder m;
    auto entries = m.initRoot<Message>().initGossip().initEntries(1);
    entries[0].getInfo().setAddress("x");
    return testing::to_bytes(m);
  }();
  // The Text is the last object written: its list pointer is the word holding
  // element size 2 (bytes) with count 2 ("x\0"); corrupt its offset.
  bool corrupted = false;
  for (std::size_t w = 8; w + 8 <= payload.size(); w += 8) {
    const std::uint32_t lo = internal::load_le32(&payload[w]);
    const std::uint32_t hi = internal::load_le32(&payload[w + 4]);
    if ((lo & 3) == 1 && hi == ((2u << 3) | 2u)) {
      payload[w + 3] = 0x10;  // offset of ~2^26 words
      corrupted = true;
    }
  }
  ASSERT_TRUE(corrupted);
  auto why = open_error(seal_bytes(alice(), payload));
  EXPECT_EQ(why.rfind("payload does not parse: ", 0), 0u) << why;
}

TEST(Frame, OpensUnknownMessageKind) {
  // A newer peer's union member: the frame opens, which() is out of range.
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing().setNonce(3);
  auto payload = testing::to_bytes(m);
  // Table (8 bytes), root pointer (8), then Message's data word: the
  // discriminant is its first 16 bits.
  payload[16] = 99;
  payload[17] = 0;
  auto f = open(seal_bytes(alice(), payload));
  ASSERT_TRUE(f) << f.err().message;
  EXPECT_EQ(static_cast<unsigned>(f->message().which()), 99u);
}

TEST(Frame, RejectsTruncatedAndPaddedFrames) {
  auto bytes = ping_frame(alice(), 5);
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_NE(open_error(std::span(bytes).first(n)), "opened") << n;
  auto longer = bytes;
  longer.resize(bytes.size() + 8);
  EXPECT_NE(open_error(longer).find("segment table declares"), std::string::npos);
}

TEST(Frame, RejectsFrameOverLimit) {
  auto bytes = probe_frame(alice(), 4096);
  auto r = open(bytes, 1024);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("exceeds limit of 1024"), std::string::npos) << r.err().message;
}


TEST(Frame, SignsRecipientNonceAndExpiry) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing().setNonce(3);
  envelope_fields f;
  f.recipient = bob().id;
  f.nonce = 42;
  f.expires = 1'900'000'000;
  auto opened = open(seal(alice(), m, f));
  ASSERT_TRUE(opened) << opened.err().message;
  EXPECT_EQ(opened->fields().recipient, bob().id);
  EXPECT_EQ(opened->fields().nonce, 42u);
  EXPECT_EQ(opened->fields().expires, 1'900'000'000);
  // The fields are signed: a frame whose expiry was moved does not verify.
  const auto payload = testing::to_bytes(m);
  const auto sig = sign(alice(), signing_input(protocol_version, alice().pk, payload, f));
  EXPECT_TRUE(open(envelope(protocol_version, alice().pk, sig, payload)).err().message == "bad signature");
}

TEST(Frame, SealPicksFreshNonceAndExpiry) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing();
  auto a = open(seal(alice(), m));
  auto b = open(seal(alice(), m));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->fields().nonce, b->fields().nonce);
  EXPECT_GT(a->fields().expires, 0);
}

TEST(ReplayGuard, RefusesReplayExpiryAndOtherRecipient) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing();
  const std::int64_t now = 1'800'000'000;
  replay_guard g;
  envelope_fields f;
  f.recipient = bob().id;
  f.nonce = 7;
  f.expires = now + 60;
  auto frame = open(seal(alice(), m, f));
  ASSERT_TRUE(frame);
  EXPECT_TRUE(g.admit(*frame, bob().id, now));
  EXPECT_EQ(g.admit(*frame, bob().id, now + 1).err().message, "replayed frame (nonce seen)");
  EXPECT_EQ(g.admit(*frame, alice().id, now).err().message, "frame for another node");
  EXPECT_EQ(g.admit(*frame, bob().id, now + 65).err().message, "frame expired 5 s ago");
  f.expires = now + 86400;
  f.nonce = 8;
  auto long_lived = open(seal(alice(), m, f));
  EXPECT_EQ(g.admit(*long_lived, bob().id, now).err().message, "frame claims to live 86400 s (limit 3600)");
  // Once expired, nonces are forgotten: the guard stays bounded.
  f.expires = now + 10;
  for (std::uint64_t n = 100; n < 110; ++n) {
    f.nonce = n;
    EXPECT_TRUE(g.admit(*open(seal(alice(), m, f)), bob().id, now));
  }
  EXPECT_EQ(g.remembered(), 11u);
  f.nonce = 500;
  f.expires = now + 200;
  EXPECT_TRUE(g.admit(*open(seal(alice(), m, f)), bob().id, now + 100));
  EXPECT_EQ(g.remembered(), 1u);
}

TEST(ReplayGuard, BoundsEachSender) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing();
  replay_guard g(3, 100);
  const std::int64_t now = 1'800'000'000;
  envelope_fields f;
  f.expires = now + 60;
  for (std::uint64_t n = 1; n <= 3; ++n) {
    f.nonce = n;
    EXPECT_TRUE(g.admit(*open(seal(alice(), m, f)), bob().id, now));
  }
  f.nonce = 4;
  EXPECT_EQ(g.admit(*open(seal(alice(), m, f)), bob().id, now).err().message,
            "too many recent frames from this sender");
  EXPECT_TRUE(g.admit(*open(seal(bob(), m, f)), alice().id, now));  // others are not affected
}

}  // namespace
}  // namespace hydra::wire
