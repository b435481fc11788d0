#include <gtest/gtest.h>

#include <malloc.h>

#include "common/rng.hpp"
#include "wire/frame.hpp"
#include "wire/internal/test_util.hpp"

namespace hydra::wire {
namespace {

/// Bytes the C allocator has handed out (heap and mmap'd blocks).
std::size_t heap_in_use() {
  const struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

const identity& alice() {
  static const identity id = generate_identity();
  return id;
}

/// A bare segment table: `count` segments of `words` words each.
std::vector<std::uint8_t> table(std::uint32_t count, std::uint32_t words) {
  std::vector<std::uint8_t> t((4 + 4 * std::size_t{count} + 7) / 8 * 8, 0);
  auto put = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) t[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  put(0, count - 1);
  for (std::uint32_t i = 0; i < count; ++i) put(4 + 4 * i, words);
  return t;
}

std::vector<std::vector<std::uint8_t>> drain(frame_splitter& s) {
  std::vector<std::vector<std::uint8_t>> out;
  while (auto f = s.pop()) out.push_back(std::move(*f));
  return out;
}

TEST(Splitter, SplitsFramesFedByteByByte) {
  const auto a = testing::ping_frame(alice(), 1);
  const auto b = testing::gossip_frame(alice(), 4);
  const auto c = testing::probe_frame(alice(), 3000);
  const auto stream = testing::concat({a, b, c});
  frame_splitter s;
  std::vector<std::vector<std::uint8_t>> got;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(s.feed(&stream[i], 1));
    for (auto& f : drain(s)) got.push_back(std::move(f));
    if (i + 1 == a.size()) {
      EXPECT_EQ(got.size(), 1u);
    }
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1], b);
  EXPECT_EQ(got[2], c);
  EXPECT_EQ(s.buffered(), 0u);
  for (auto& f : got) EXPECT_TRUE(open(std::move(f)));
}

TEST(Splitter, SplitsSeveralFramesInOneBuffer) {
  std::vector<std::vector<std::uint8_t>> frames;
  for (std::uint64_t i = 0; i < 10; ++i) frames.push_back(testing::ping_frame(alice(), i));
  std::vector<std::uint8_t> stream;
  for (auto& f : frames) stream.insert(stream.end(), f.begin(), f.end());

  frame_splitter s;
  ASSERT_TRUE(s.feed(stream));
  EXPECT_EQ(s.buffered(), stream.size());
  auto got = drain(s);
  ASSERT_EQ(got, frames);
  for (std::uint64_t i = 0; i < got.size(); ++i) {
    auto f = open(got[i]);
    ASSERT_TRUE(f) << f.err().message;
    EXPECT_EQ(f->message().getPing().getNonce(), i);
  }
}

TEST(Splitter, SplitsRandomChunks) {
  const auto stream = testing::concat({testing::probe_frame(alice(), 70000),
                                       testing::ping_frame(alice(), 2),
                                       testing::gossip_frame(alice(), 30)});
  rng r(3);
  for (int round = 0; round < 20; ++round) {
    frame_splitter s;
    std::size_t at = 0;
    while (at < stream.size()) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + r.below(9000));
      ASSERT_TRUE(s.feed(stream.data() + at, n));
      at += n;
    }
    EXPECT_EQ(drain(s).size(), 3u);
  }
}

TEST(Splitter, TruncatedFrameNeverPops) {
  const auto f = testing::gossip_frame(alice(), 3);
  frame_splitter s;
  ASSERT_TRUE(s.feed(f.data(), f.size() - 1));
  EXPECT_FALSE(s.pop());
  EXPECT_EQ(s.buffered(), f.size() - 1);
  ASSERT_TRUE(s.feed(&f.back(), 1));
  EXPECT_EQ(s.pop(), f);
}

TEST(Splitter, RejectsHugeSegmentTableWithoutAllocating) {
  frame_splitter s;
  const auto header = table(1, (1u << 28) - 1);  // 8 + 2^31 - 8 bytes
  const std::size_t before = heap_in_use();
  auto st = s.feed(header);
  const std::size_t grown = heap_in_use() - before;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, errc::invalid_input);
  EXPECT_EQ(st.err().message, "frame of 2147483648 bytes exceeds limit of 67108864");
  EXPECT_LT(grown, 64u << 10);  // nothing near 2 GiB was reserved
  EXPECT_LE(s.buffered(), header.size());
}

TEST(Splitter, RejectsSegmentsSummingOverLimit) {
  frame_splitter s(1 << 20);
  auto st = s.feed(table(3, 50000));  // 3 x 400 kB: each fits, the sum does not
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "frame of 1200016 bytes exceeds limit of 1048576");
}

TEST(Splitter, RejectsSixHundredSegments) {
  frame_splitter s;
  auto st = s.feed(table(600, 1));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().message, "segment table declares 600 segments (limit 64)");
  EXPECT_LE(s.buffered(), 8u);  // rejected from the first 8 bytes
}

TEST(Splitter, AcceptsSixtyFourSegmentsRejectsSixtyFive) {
  frame_splitter ok;
  ASSERT_TRUE(ok.feed(table(64, 0)));
  EXPECT_EQ(ok.pop(), table(64, 0));
  frame_splitter bad;
  EXPECT_FALSE(bad.feed(table(65, 0)));
}

TEST(Splitter, StaysFailedAfterError) {
  const auto good = testing::ping_frame(alice(), 1);
  frame_splitter s;
  auto st = s.feed(testing::concat({good, table(600, 0), good}));
  ASSERT_FALSE(st);
  EXPECT_FALSE(s.feed(good));
  EXPECT_EQ(s.pop(), good);  // completed before the error
  EXPECT_FALSE(s.pop());
}

}  // namespace
}  // namespace hydra::wire
