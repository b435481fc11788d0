#include "kernels/codec.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HYDRA_KERNELS_X86 1
#else
#define HYDRA_KERNELS_X86 0
#endif

namespace hydra::kernels {
namespace {

static_assert(std::endian::native == std::endian::little, "codec encodings are little-endian");

constexpr int fp16_top_exp = 14;     // the largest magnitude maps into [2^14, 2^15)
constexpr int fp16_max_shift = 110;  // 2^±110 is a normal float

/// Clears FTZ/DAZ for the scope, so decoding gives the same floats on every
/// thread, whatever mode the compute team set (kernels::context sets both).
class ieee_mode {
 public:
#if HYDRA_KERNELS_X86
  ieee_mode() : saved_(_mm_getcsr()) {
    if (saved_ & ftz_daz) _mm_setcsr(saved_ & ~ftz_daz);
  }
  ~ieee_mode() {
    if (saved_ & ftz_daz) _mm_setcsr(saved_);
  }
  ieee_mode(const ieee_mode&) = delete;
  ieee_mode& operator=(const ieee_mode&) = delete;

 private:
  static constexpr unsigned ftz_daz = 0x8040;
  unsigned saved_;
#else
  ieee_mode() {}
#endif
};

inline float load_f32(const std::byte* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store_u32(std::byte* p, std::uint32_t v) { std::memcpy(p, &v, 4); }

/// max |v| as the bit pattern of a non-negative float: integer order is float
/// order there, inf and NaN compare above every finite value, and the integer
/// max reduction vectorises without fast-math.
std::uint32_t max_abs_bits(const float* v, std::size_t n) {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::bit_cast<std::uint32_t>(v[i]) & 0x7fffffffu);
  return m;
}
constexpr std::uint32_t inf_bits = 0x7f800000u;

status bad_size(const char* codec, std::size_t got, std::size_t want) {
  return make_error(errc::invalid_input, std::string("decode ") + codec + ": " + std::to_string(got) +
                                             " bytes, expected " + std::to_string(want));
}

// ---- fp16 -------------------------------------------------------------------

int fp16_exponent(std::span<const float> in) {
  const std::uint32_t m = max_abs_bits(in.data(), in.size());
  if (m == 0 || m >= inf_bits) return 0;
  return std::clamp(std::ilogb(std::bit_cast<float>(m)) - fp16_top_exp, -fp16_max_shift, fp16_max_shift);
}

#if HYDRA_KERNELS_X86
__attribute__((target("avx,f16c"))) void f2h_f16c(const float* in, std::size_t n, float scale, std::byte* out) {
  const __m256 s = _mm256_set1_ps(scale);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(in + i), s), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), h);
  }
  for (; i < n; ++i) {
    const std::uint16_t h = float_to_half_scalar(in[i] * scale);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

template <bool Add>
__attribute__((target("avx,f16c"))) void h2f_f16c(const std::byte* in, std::size_t n, float scale, float* out) {
  const __m256 s = _mm256_set1_ps(scale);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i))), s);
    if constexpr (Add) v = _mm256_add_ps(_mm256_loadu_ps(out + i), v);
    _mm256_storeu_ps(out + i, v);
  }
  for (; i < n; ++i) {
    std::uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    const float v = half_to_float_scalar(h) * scale;
    out[i] = Add ? out[i] + v : v;
  }
}
#endif

void encode_fp16(std::span<const float> in, std::byte* out) {
  const int e = fp16_exponent(in);
  const float scale = std::ldexp(1.0f, -e);
  const std::int32_t e32 = e;
  std::memcpy(out, &e32, 4);
  out += 4;
#if HYDRA_KERNELS_X86
  if (has_f16c()) return f2h_f16c(in.data(), in.size(), scale, out);
#endif
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::uint16_t h = float_to_half_scalar(in[i] * scale);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

template <bool Add>
status decode_fp16(std::span<const std::byte> in, std::span<float> out) {
  const std::size_t want = encoded_size(codec_kind::fp16, out.size());
  if (in.size() != want) return bad_size("fp16", in.size(), want);
  std::int32_t e;
  std::memcpy(&e, in.data(), 4);
  if (e < -fp16_max_shift || e > fp16_max_shift)
    return make_error(errc::invalid_input, "decode fp16: exponent " + std::to_string(e) + " out of range");
  const float scale = std::ldexp(1.0f, e);
  const std::byte* h = in.data() + 4;
  ieee_mode guard;
#if HYDRA_KERNELS_X86
  if (has_f16c()) {
    h2f_f16c<Add>(h, out.size(), scale, out.data());
    return {};
  }
#endif
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint16_t b;
    std::memcpy(&b, h + 2 * i, 2);
    const float v = half_to_float_scalar(b) * scale;
    out[i] = Add ? out[i] + v : v;
  }
  return {};
}

// ---- int8 -------------------------------------------------------------------

std::size_t int8_blocks(std::size_t n) { return (n + int8_block - 1) / int8_block; }

/// Quantises one block; returns its scale. inf/NaN → NaN scale and zeros;
/// a max-abs so small that 127/max overflows → scale 0 and zeros.
float quantize_block(const float* v, std::size_t n, std::uint8_t* q) {
  const std::uint32_t mb = max_abs_bits(v, n);
  const float m = std::bit_cast<float>(mb);
  const float inv = mb < inf_bits && mb != 0 ? 127.0f / m : 0.0f;
  if (mb >= inf_bits || !(inv <= std::numeric_limits<float>::max())) {
    std::memset(q, 0, n);
    return mb >= inf_bits ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const float t = std::min(std::max(v[i] * inv, -127.0f), 127.0f);
    q[i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(static_cast<int>(t + (t >= 0.0f ? 0.5f : -0.5f))));
  }
  return m / 127.0f;
}

void encode_int8(std::span<const float> in, std::byte* out) {
  const std::size_t nb = int8_blocks(in.size());
  auto* q = reinterpret_cast<std::uint8_t*>(out + 4 * nb);
  for (std::size_t b = 0; b < nb; ++b) {
    const std::size_t lo = b * int8_block, len = std::min(int8_block, in.size() - lo);
    const float s = quantize_block(in.data() + lo, len, q + lo);
    std::memcpy(out + 4 * b, &s, 4);
  }
}

template <bool Add>
status decode_int8(std::span<const std::byte> in, std::span<float> out) {
  const std::size_t n = out.size(), nb = int8_blocks(n), want = encoded_size(codec_kind::int8, n);
  if (in.size() != want) return bad_size("int8", in.size(), want);
  const auto* q = reinterpret_cast<const std::uint8_t*>(in.data() + 4 * nb);
  ieee_mode guard;
  for (std::size_t b = 0; b < nb; ++b) {
    const float s = load_f32(in.data() + 4 * b);
    const std::size_t lo = b * int8_block, hi = std::min(n, lo + int8_block);
    for (std::size_t i = lo; i < hi; ++i) {
      const float v = static_cast<float>(static_cast<std::int8_t>(q[i])) * s;
      out[i] = Add ? out[i] + v : v;
    }
  }
  return {};
}

// ---- topk -------------------------------------------------------------------

void encode_topk(std::span<const float> in, std::size_t k, std::byte* out) {
  const std::size_t n = in.size();
  assert(n <= std::numeric_limits<std::uint32_t>::max());
  std::byte* vals = out + 4 * k;
  std::size_t j = 0;
  auto put = [&](std::size_t i) {
    store_u32(out + 4 * j, static_cast<std::uint32_t>(i));
    std::memcpy(vals + 4 * j, &in[i], 4);
    ++j;
  };
  auto key = [&](std::size_t i) { return std::bit_cast<std::uint32_t>(in[i]) & 0x7fffffffu; };
  if (k == n) {
    for (std::size_t i = 0; i < n; ++i) put(i);
    return;
  }
  if (k == 0) return;
  // Magnitudes as integers: a total order, NaN above inf (so it is sent).
  thread_local std::vector<std::uint32_t> keys;
  keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = key(i);
  std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k - 1), keys.end(), std::greater<>());
  const std::uint32_t thr = keys[k - 1];
  std::size_t ties =
      k - static_cast<std::size_t>(std::count_if(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k - 1),
                                                 [thr](std::uint32_t x) { return x > thr; }));
  for (std::size_t i = 0; i < n && j < k; ++i) {
    const std::uint32_t ki = key(i);
    if (ki > thr) {
      put(i);
    } else if (ki == thr && ties > 0) {
      --ties;
      put(i);
    }
  }
}

/// Checks size and indices; returns k.
result<std::size_t> check_topk(std::span<const std::byte> in, std::size_t n) {
  if (in.size() % 8 != 0 || in.size() / 8 > n)
    return make_error(errc::invalid_input, "decode topk: " + std::to_string(in.size()) +
                                               " bytes is not 8 * k with k <= " + std::to_string(n));
  const std::size_t k = in.size() / 8;
  std::uint64_t prev = 0;
  for (std::size_t j = 0; j < k; ++j) {
    const std::uint64_t i = load_u32(in.data() + 4 * j);
    if (i >= n || (j > 0 && i <= prev))
      return make_error(errc::invalid_input, "decode topk: index " + std::to_string(i) + " at " + std::to_string(j) +
                                                 " out of range or order");
    prev = i;
  }
  return k;
}

template <bool Add>
status decode_topk(std::span<const std::byte> in, std::span<float> out) {
  auto k = check_topk(in, out.size());
  if (!k) return k.err();
  if (!Add) std::fill(out.begin(), out.end(), 0.0f);
  const std::byte* vals = in.data() + 4 * *k;
  ieee_mode guard;
  for (std::size_t j = 0; j < *k; ++j) {
    const std::uint32_t i = load_u32(in.data() + 4 * j);
    const float v = load_f32(vals + 4 * j);
    out[i] = Add ? out[i] + v : v;
  }
  return {};
}

// ---- none -------------------------------------------------------------------

template <bool Add>
status decode_none(std::span<const std::byte> in, std::span<float> out) {
  if (in.size() != 4 * out.size()) return bad_size("none", in.size(), 4 * out.size());
  if (!Add) {
    if (!out.empty()) std::memcpy(out.data(), in.data(), in.size());
    return {};
  }
  ieee_mode guard;
  const std::byte* p = in.data();
  float* a = out.data();
  for (std::size_t i = 0; i < out.size(); ++i) a[i] += load_f32(p + 4 * i);
  return {};
}

template <bool Add>
status decode_any(codec_kind k, std::span<const std::byte> in, std::span<float> out) {
  switch (k) {
    case codec_kind::none: return decode_none<Add>(in, out);
    case codec_kind::fp16: return decode_fp16<Add>(in, out);
    case codec_kind::int8: return decode_int8<Add>(in, out);
    case codec_kind::topk: return decode_topk<Add>(in, out);
  }
  return make_error(errc::invalid_input, "decode: unknown codec");
}

}  // namespace

result<codec_kind> parse_codec(std::string_view name) {
  for (codec_kind k : {codec_kind::none, codec_kind::fp16, codec_kind::int8, codec_kind::topk})
    if (name == to_string(k)) return k;
  return make_error(errc::invalid_input,
                    "codec: unknown '" + std::string(name) + "' (expected none, fp16, int8 or topk)");
}

const char* to_string(codec_kind k) {
  switch (k) {
    case codec_kind::none: return "none";
    case codec_kind::fp16: return "fp16";
    case codec_kind::int8: return "int8";
    case codec_kind::topk: return "topk";
  }
  return "unknown";
}

std::size_t topk_count(std::size_t n, double fraction) {
  if (n == 0) return 0;
  if (!(fraction > 0.0)) return 1;
  if (fraction >= 1.0) return n;
  // The slack keeps 0.01 * 1000 at 10 whatever the last bit of the product.
  const double k = std::ceil(fraction * static_cast<double>(n) - 1e-9);
  return std::clamp<std::size_t>(static_cast<std::size_t>(k), 1, n);
}

std::size_t encoded_size(codec_kind k, std::size_t n, double topk_fraction) {
  switch (k) {
    case codec_kind::none: return 4 * n;
    case codec_kind::fp16: return 4 + 2 * n;
    case codec_kind::int8: return 4 * int8_blocks(n) + n;
    case codec_kind::topk: return 8 * topk_count(n, topk_fraction);
  }
  return 0;
}

std::size_t encode_into(codec_kind k, std::span<const float> in, std::span<std::byte> out, double topk_fraction) {
  const std::size_t size = encoded_size(k, in.size(), topk_fraction);
  if (out.size() < size) return 0;
  std::byte* dst = out.data();
  switch (k) {
    case codec_kind::none:
      if (size) std::memcpy(dst, in.data(), size);
      break;
    case codec_kind::fp16: encode_fp16(in, dst); break;
    case codec_kind::int8: encode_int8(in, dst); break;
    case codec_kind::topk: encode_topk(in, topk_count(in.size(), topk_fraction), dst); break;
  }
  return size;
}

std::size_t encode(codec_kind k, std::span<const float> in, std::vector<std::byte>& out, double topk_fraction) {
  const std::size_t at = out.size();
  out.resize(at + encoded_size(k, in.size(), topk_fraction));
  return encode_into(k, in, std::span(out).subspan(at), topk_fraction);
}

status decode(codec_kind k, std::span<const std::byte> in, std::span<float> out) {
  return decode_any<false>(k, in, out);
}

status decode_add(codec_kind k, std::span<const std::byte> in, std::span<float> acc) {
  return decode_any<true>(k, in, acc);
}

std::uint16_t float_to_half_scalar(float f) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  std::uint32_t h;
  if (x >= inf_bits) {
    h = x > inf_bits ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u;  // NaN stays NaN, made quiet
  } else if (x >= 0x477ff000u) {
    h = 0x7c00u;  // >= 65520 rounds to inf
  } else if (x < 0x38800000u) {
    // Below 2^-14 (half subnormal): adding 0.5 makes the FPU round at bit 2^-24.
    h = std::bit_cast<std::uint32_t>(std::bit_cast<float>(x) + 0.5f) - 0x3f000000u;
  } else {
    // Rebias the exponent and round to nearest even on the 13 dropped bits.
    x += 0xc8000fffu + ((x >> 13) & 1u);
    h = x >> 13;
  }
  return static_cast<std::uint16_t>(h | sign);
}

float half_to_float_scalar(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = inf_bits | (mant << 13) | (mant ? 0x00400000u : 0u);  // quiet NaN, as F16C does
  } else if (exp != 0) {
    bits = ((exp + 112) << 23) | (mant << 13);
  } else {
    bits = std::bit_cast<std::uint32_t>(static_cast<float>(mant) * 0x1p-24f);  // zero or subnormal: exact
  }
  return std::bit_cast<float>(bits | sign);
}

bool has_f16c() {
#if HYDRA_KERNELS_X86
  static const bool yes = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return yes;
#else
  return false;
#endif
}

void float_to_half(std::span<const float> in, std::uint16_t* out) {
#if HYDRA_KERNELS_X86
  if (has_f16c()) return f2h_f16c(in.data(), in.size(), 1.0f, reinterpret_cast<std::byte*>(out));
#endif
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = float_to_half_scalar(in[i]);
}

void half_to_float(std::span<const std::uint16_t> in, float* out) {
  ieee_mode guard;
#if HYDRA_KERNELS_X86
  if (has_f16c()) return h2f_f16c<false>(reinterpret_cast<const std::byte*>(in.data()), in.size(), 1.0f, out);
#endif
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = half_to_float_scalar(in[i]);
}

}  // namespace hydra::kernels
