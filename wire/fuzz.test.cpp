// Random and mutated input through splitter + open: every outcome must be an
// error value or a frame whose signature verified; nothing may crash, throw
// or leave a reader that throws later. Run under HYDRA_SANITIZE too.

#include <gtest/gtest.h>

#include <kj/exception.h>

#include "common/rng.hpp"
#include "wire/frame.hpp"
#include "wire/internal/test_util.hpp"

namespace hydra::wire {
namespace {

const identity& alice() {
  static const identity id = generate_identity();
  return id;
}

/// Feeds `bytes` in random chunks and opens whatever pops; returns the
/// frames that opened.
std::vector<opened_frame> split_and_open(std::span<const std::uint8_t> bytes, rng& r) {
  frame_splitter s(1 << 20);
  std::vector<opened_frame> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t n = std::min<std::size_t>(bytes.size() - at, 1 + r.below(64));
    if (!s.feed(bytes.data() + at, n)) break;
    at += n;
  }
  while (auto f = s.pop()) {
    auto o = open(std::move(*f), 1 << 20);
    if (o) out.push_back(std::move(*o));
  }
  if (auto o = open(bytes, 1 << 20)) out.push_back(std::move(*o));
  return out;
}

/// Reads every field of a message through the typed API.
std::size_t read_everything(Message::Reader m) {
  std::size_t n = 0;
  if (m.which() == Message::GOSSIP) {
    for (auto e : m.getGossip().getEntries()) {
      n += e.getInfo().getId().size() + e.getInfo().getAddress().size();
      n += e.getIncarnation() + e.getHeartbeat() + e.getCapabilities().getCores();
    }
  } else if (m.which() == Message::CTL_REQUEST) {
    for (auto a : m.getCtlRequest().getArgs()) n += a.size();
    n += m.getCtlRequest().getCommand().size();
  }
  return n;
}

std::vector<std::uint8_t> sample_payload() {
  capnp::MallocMessageBuilder m;
  auto list = m.initRoot<Message>().initGossip().initEntries(4);
  for (std::uint32_t i = 0; i < 4; ++i) testing::fill_entry(list[i], i);
  return testing::to_bytes(m);
}

TEST(Fuzz, RandomBytesNeverOpen) {
  rng r(11);
  std::size_t opened = 0, consistent = 0;
  for (int i = 0; i < 10000; ++i) {
    std::vector<std::uint8_t> bytes(r.below(600));
    for (auto& b : bytes) b = static_cast<std::uint8_t>(r.next_u64());
    if (r.below(2) == 0) {
      // A consistent segment table (1-3 segments) so parsing gets further.
      const std::uint32_t segs = 1 + static_cast<std::uint32_t>(r.below(3));
      const std::size_t table = (4 + 4 * segs + 7) / 8 * 8;
      const std::uint32_t words = static_cast<std::uint32_t>(r.below(80));
      bytes.resize(table + 8 * std::size_t{words});
      std::fill(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(table), 0);
      bytes[0] = static_cast<std::uint8_t>(segs - 1);
      std::uint32_t left = words;
      for (std::uint32_t s = 0; s < segs; ++s) {
        const std::uint32_t w = s + 1 == segs ? left : static_cast<std::uint32_t>(r.below(left + 1));
        bytes[4 + 4 * s] = static_cast<std::uint8_t>(w);
        left -= w;
      }
      ++consistent;
    }
    opened += split_and_open(bytes, r).size();
  }
  EXPECT_GT(consistent, 4000u);
  EXPECT_EQ(opened, 0u);  // forging an Ed25519 signature at random: never
}

TEST(Fuzz, MutatedFramesFailOrVerify) {
  const auto payload = sample_payload();
  const auto frame = seal_bytes(alice(), payload);
  auto original = open(frame);
  ASSERT_TRUE(original);
  const std::size_t expected = read_everything(original->message());
  rng r(12);
  std::size_t opened = 0;
  for (int i = 0; i < 10000; ++i) {
    auto bytes = frame;
    const std::size_t at = r.below(bytes.size());
    bytes[at] = static_cast<std::uint8_t>(bytes[at] ^ (1 + r.below(255)));
    for (auto& f : split_and_open(bytes, r)) {
      // Opened despite the change: then the change missed everything signed.
      ++opened;
      EXPECT_EQ(f.sender(), alice().id);
      EXPECT_EQ(f.version(), protocol_version);
      ASSERT_TRUE(std::equal(payload.begin(), payload.end(), f.payload_bytes().begin(),
                             f.payload_bytes().end()))
          << "byte " << at;
      EXPECT_EQ(read_everything(f.message()), expected);
    }
  }
  EXPECT_LT(opened, 2000u);  // only unused bits and padding can change unnoticed
}

TEST(Fuzz, SignedMutatedPayloadsFailOrReadSafely) {
  // A peer with a valid key sending malformed payloads: open() must catch
  // every problem, so reading the accepted ones never throws.
  const auto payload = sample_payload();
  rng r(13);
  std::size_t opened = 0;
  for (int i = 0; i < 10000; ++i) {
    auto bytes = payload;
    const std::size_t at = r.below(bytes.size());
    bytes[at] = static_cast<std::uint8_t>(r.next_u64());
    auto f = open(seal_bytes(alice(), bytes));
    if (!f) {
      EXPECT_EQ(f.err().message.rfind("payload does not parse: ", 0), 0u) << f.err().message;
      continue;
    }
    ++opened;
    try {
      read_everything(f->message());
    } catch (const kj::Exception& e) {
      ADD_FAILURE() << "reader threw after open() accepted byte " << at << ": "
                    << e.getDescription().cStr();
    }
  }
  EXPECT_GT(opened, 0u);
}

}  // namespace
}  // namespace hydra::wire
