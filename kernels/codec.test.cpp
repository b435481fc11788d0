#include "kernels/codec.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace hydra::kernels {
namespace {

constexpr codec_kind all_codecs[] = {codec_kind::none, codec_kind::fp16, codec_kind::int8, codec_kind::topk};

std::vector<float> random_values(std::size_t n, float magnitude, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g) * magnitude;
  return v;
}

std::vector<float> round_trip(codec_kind k, const std::vector<float>& in, double fraction = 0.01) {
  std::vector<std::byte> bytes;
  encode(k, in, bytes, fraction);
  std::vector<float> out(in.size(), -1.0f);
  auto s = decode(k, bytes, out);
  EXPECT_TRUE(s) << (s ? "" : s.err().message);
  return out;
}

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }

TEST(Codec, ParsesNamesAndRejectsUnknown) {
  for (codec_kind k : all_codecs) {
    auto r = parse_codec(to_string(k));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, k);
  }
  auto bad = parse_codec("zstd");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().code, errc::invalid_input);
}

TEST(Codec, ByteSizesAndAppend) {
  const auto in = random_values(1000, 1.0f, 1);
  EXPECT_EQ(encoded_size(codec_kind::none, 1000), 4000u);
  EXPECT_EQ(encoded_size(codec_kind::fp16, 1000), 2004u);
  EXPECT_EQ(encoded_size(codec_kind::int8, 1000), 1000u + 4 * 4);
  EXPECT_EQ(encoded_size(codec_kind::topk, 1000, 0.01), 80u);
  EXPECT_EQ(encoded_size(codec_kind::topk, 1000, 0.0105), 88u);  // ceil
  for (codec_kind k : all_codecs) {
    std::vector<std::byte> out(3, std::byte{0x5a});
    const std::size_t n = encode(k, in, out, 0.01);
    EXPECT_EQ(n, encoded_size(k, in.size(), 0.01)) << to_string(k);
    EXPECT_EQ(out.size(), 3 + n);
    EXPECT_EQ(out[0], std::byte{0x5a});  // appended, prefix kept
  }
}

TEST(Codec, TopkCountClamps) {
  EXPECT_EQ(topk_count(0, 0.5), 0u);
  EXPECT_EQ(topk_count(10, 0.0), 1u);
  EXPECT_EQ(topk_count(10, std::nan("")), 1u);
  EXPECT_EQ(topk_count(10, 0.01), 1u);
  EXPECT_EQ(topk_count(10, 0.25), 3u);
  EXPECT_EQ(topk_count(10, 2.0), 10u);
}

TEST(Codec, EmptyInputRoundTrips) {
  for (codec_kind k : all_codecs) {
    std::vector<std::byte> bytes;
    encode(k, std::span<const float>{}, bytes);
    EXPECT_TRUE(decode(k, bytes, std::span<float>{})) << to_string(k);
  }
}

TEST(Codec, NoneIsExact) {
  const auto in = random_values(777, 3.0f, 2);
  EXPECT_EQ(round_trip(codec_kind::none, in), in);
}

TEST(Codec, Fp16WithinHalfPrecisionAtAnyScale) {
  for (float mag : {1e-7f, 1e-3f, 1.0f, 1e6f, 1e30f}) {
    auto in = random_values(1001, mag, 3);
    in[5] = 0.0f;
    const auto out = round_trip(codec_kind::fp16, in);
    float maxabs = 0;
    for (float v : in) maxabs = std::max(maxabs, std::fabs(v));
    for (std::size_t i = 0; i < in.size(); ++i)
      ASSERT_LE(std::fabs(out[i] - in[i]), std::fabs(in[i]) * 0x1p-11f + maxabs * 0x1p-38f) << mag << " at " << i;
    EXPECT_EQ(out[5], 0.0f);
  }
}

TEST(Codec, HalfScalarRoundsToNearestEven) {
  EXPECT_EQ(float_to_half_scalar(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half_scalar(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half_scalar(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half_scalar(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half_scalar(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_half_scalar(0x1p-24f), 0x0001);
  EXPECT_EQ(float_to_half_scalar(0x1p-25f), 0x0000);         // tie → even (0)
  EXPECT_EQ(float_to_half_scalar(0x3p-25f), 0x0002);         // tie → even (2)
  EXPECT_EQ(float_to_half_scalar(1.0f + 0x1p-11f), 0x3c00);  // tie → even
  EXPECT_EQ(float_to_half_scalar(1.0f + 0x3p-11f), 0x3c02);
  EXPECT_EQ(float_to_half_scalar(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(float_to_half_scalar(std::nanf("")) & 0x7e00, 0x7e00);
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    const float f = half_to_float_scalar(static_cast<std::uint16_t>(h));
    ASSERT_EQ(float_to_half_scalar(f), h) << h;
  }
}

TEST(Codec, HalfF16cMatchesScalar) {
  if (!has_f16c()) GTEST_SKIP() << "no F16C on this CPU";
  std::vector<std::uint16_t> halves(0x10000);
  for (std::uint32_t h = 0; h < 0x10000; ++h) halves[h] = static_cast<std::uint16_t>(h);
  std::vector<float> f(halves.size());
  half_to_float(halves, f.data());
  for (std::uint32_t h = 0; h < 0x10000; ++h)
    ASSERT_EQ(bits(f[h]), bits(half_to_float_scalar(static_cast<std::uint16_t>(h)))) << h;
  // Floats: every exponent, mantissas near the rounding points, plus random bits.
  std::mt19937 g(4);
  std::vector<float> in;
  for (std::uint32_t e = 0; e < 256; ++e)
    for (std::uint32_t m : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x2000u, 0x3000u, 0x7fffffu, 0x400000u})
      for (std::uint32_t s : {0u, 0x80000000u}) in.push_back(std::bit_cast<float>(s | (e << 23) | m));
  for (int i = 0; i < 200000; ++i) in.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(g())));
  std::vector<std::uint16_t> out(in.size());
  float_to_half(in, out.data());
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], float_to_half_scalar(in[i])) << std::hex << bits(in[i]);
}

TEST(Codec, Int8WithinHalfScalePerBlock) {
  auto in = random_values(1000, 5.0f, 5);
  for (std::size_t i = 256; i < 512; ++i) in[i] *= 1e-4f;  // a quiet block keeps its own scale
  const auto out = round_trip(codec_kind::int8, in);
  for (std::size_t b = 0; b < in.size(); b += int8_block) {
    float maxabs = 0;
    const std::size_t e = std::min(in.size(), b + int8_block);
    for (std::size_t i = b; i < e; ++i) maxabs = std::max(maxabs, std::fabs(in[i]));
    const float bound = maxabs / 127.0f * 0.5f * 1.0001f;
    for (std::size_t i = b; i < e; ++i) ASSERT_LE(std::fabs(out[i] - in[i]), bound) << i;
  }
}

TEST(Codec, Int8ZeroAndNonFiniteBlocks) {
  std::vector<float> in(600, 0.0f);
  in[300] = std::numeric_limits<float>::infinity();
  in[520] = 2.0f;
  const auto out = round_trip(codec_kind::int8, in);
  for (std::size_t i = 0; i < 256; ++i) EXPECT_EQ(out[i], 0.0f);
  for (std::size_t i = 256; i < 512; ++i) EXPECT_TRUE(std::isnan(out[i]));
  EXPECT_EQ(out[520], 2.0f);
  EXPECT_EQ(out[521], 0.0f);
}

TEST(Codec, TopkKeepsLargestMagnitudesInIndexOrder) {
  const std::vector<float> in{0.1f, -5.0f, 2.0f, 0.0f, 3.0f, -3.0f, 3.0f, 1.0f};
  std::vector<std::byte> bytes;
  ASSERT_EQ(encode(codec_kind::topk, in, bytes, 0.5), 32u);  // k = 4
  std::uint32_t idx[4];
  std::memcpy(idx, bytes.data(), 16);
  // -5 and the three 3s tie at the threshold: the lower indices win.
  EXPECT_EQ(idx[0], 1u);
  EXPECT_EQ(idx[1], 4u);
  EXPECT_EQ(idx[2], 5u);
  EXPECT_EQ(idx[3], 6u);
  std::vector<float> out(in.size(), 9.0f);
  ASSERT_TRUE(decode(codec_kind::topk, bytes, out));
  EXPECT_EQ(out, (std::vector<float>{0, -5, 0, 0, 3, -3, 3, 0}));
}

TEST(Codec, TopkTieBreakGoesToLowerIndex) {
  const std::vector<float> in{1, 1, 1, 1, 1, 1};
  const auto out = round_trip(codec_kind::topk, in, 0.5);
  EXPECT_EQ(out, (std::vector<float>{1, 1, 1, 0, 0, 0}));
}

TEST(Codec, TopkSendsNaN) {
  std::vector<float> in(100, 1.0f);
  in[42] = std::nanf("");
  const auto out = round_trip(codec_kind::topk, in, 0.01);
  EXPECT_TRUE(std::isnan(out[42]));
}

TEST(Codec, DecodeAddAccumulates) {
  const auto in = random_values(700, 2.0f, 6);
  for (codec_kind k : all_codecs) {
    std::vector<std::byte> bytes;
    encode(k, in, bytes, 0.1);
    std::vector<float> dec(in.size()), acc = random_values(in.size(), 1.0f, 7), before = acc;
    ASSERT_TRUE(decode(k, bytes, dec));
    ASSERT_TRUE(decode_add(k, bytes, acc));
    // Not bit-equal: the fused loop may contract multiply and add into an FMA.
    for (std::size_t i = 0; i < in.size(); ++i)
      ASSERT_NEAR(acc[i], before[i] + dec[i], 1e-6f * (std::fabs(before[i]) + std::fabs(dec[i])))
          << to_string(k) << " " << i;
  }
}

void expect_rejected(codec_kind k, std::vector<std::byte> bytes, std::size_t n) {
  std::vector<float> out(n, 7.0f);
  auto s = decode(k, bytes, out);
  ASSERT_FALSE(s) << to_string(k) << " accepted " << bytes.size() << " bytes for " << n;
  EXPECT_EQ(s.err().code, errc::invalid_input);
  for (float v : out) ASSERT_EQ(v, 7.0f);  // untouched
  auto a = decode_add(k, bytes, out);
  EXPECT_FALSE(a);
  for (float v : out) ASSERT_EQ(v, 7.0f);
}

TEST(Codec, MalformedInputIsRejected) {
  const auto in = random_values(300, 1.0f, 8);
  for (codec_kind k : all_codecs) {
    std::vector<std::byte> bytes;
    encode(k, in, bytes, 0.1);
    auto shorter = bytes, longer = bytes;
    shorter.pop_back();
    longer.push_back(std::byte{0});
    expect_rejected(k, shorter, in.size());
    if (k != codec_kind::topk) expect_rejected(k, longer, in.size());  // topk: 8 more bytes would be a legal k
    if (k != codec_kind::topk) expect_rejected(k, bytes, in.size() + 1);
  }
  std::vector<std::byte> fp16;
  encode(codec_kind::fp16, in, fp16);
  const std::int32_t big = 1000;
  std::memcpy(fp16.data(), &big, 4);
  expect_rejected(codec_kind::fp16, fp16, in.size());

  auto topk = [](std::vector<std::uint32_t> idx) {
    std::vector<std::byte> b(idx.size() * 8);
    std::memcpy(b.data(), idx.data(), idx.size() * 4);
    return b;
  };
  expect_rejected(codec_kind::topk, topk({0, 10}), 10);               // index out of range
  expect_rejected(codec_kind::topk, topk({3, 3}), 10);                // duplicate
  expect_rejected(codec_kind::topk, topk({4, 2}), 10);                // unsorted
  expect_rejected(codec_kind::topk, topk({0, 1, 2}), 2);              // k > n
  expect_rejected(codec_kind::topk, std::vector<std::byte>(12), 10);  // not 8 * k
}

TEST(Codec, RandomBytesNeverCrashDecode) {
  std::mt19937 g(9);
  for (int iter = 0; iter < 2000; ++iter) {
    const std::size_t n = g() % 600, size = g() % 1300;
    std::vector<std::byte> bytes(size);
    for (auto& b : bytes) b = static_cast<std::byte>(g());
    std::vector<float> out(n);
    for (codec_kind k : all_codecs) {
      auto s = decode(k, bytes, out);
      auto a = decode_add(k, bytes, out);
      ASSERT_TRUE(s || s.err().code == errc::invalid_input);
      ASSERT_TRUE(a || a.err().code == errc::invalid_input);
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
TEST(Codec, DecodeIgnoresFlushToZeroMode) {
  // Tiny blocks: their decoded values are subnormal floats, which FTZ/DAZ
  // would flush; ranks in different modes must still agree bit for bit.
  auto in = random_values(512, 1e-36f, 10);
  for (codec_kind k : all_codecs) {
    std::vector<std::byte> bytes;
    encode(k, in, bytes, 0.5);
    std::vector<float> ieee(in.size()), flushed(in.size());
    ASSERT_TRUE(decode(k, bytes, ieee));
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
    auto s = decode(k, bytes, flushed);
    EXPECT_EQ(_mm_getcsr(), csr | 0x8040);  // restored
    _mm_setcsr(csr);
    ASSERT_TRUE(s);
    EXPECT_EQ(std::memcmp(ieee.data(), flushed.data(), 4 * in.size()), 0) << to_string(k);
  }
}
#endif

}  // namespace
}  // namespace hydra::kernels
