#pragma once
/// Codecs that shrink float buffers on the wire (gradients, weight deltas).
/// Pure compute on spans: no allocation beyond the output vector, no state,
/// thread-safe.
///
/// Encodings (host byte order; every supported target is little-endian):
/// - none:  the floats' bytes, 4 B/value.
/// - fp16:  int32 exponent e, then one IEEE half per value holding v * 2^-e.
///          e is chosen from the largest magnitude so that it maps near 2^14:
///          sums of sample-weighted gradients never overflow to inf and small
///          gradients keep 11 significant bits instead of going subnormal.
///          Scaling by a power of two is exact. 2 B/value + 4 B.
/// - int8:  one float scale per block of 256 values (max-abs / 127), all the
///          scales first, then one int8 per value. ~1 B/value + 4 B/256.
///          |error| <= scale / 2 for every value of a finite block; a block
///          holding inf or NaN decodes to NaN.
/// - topk:  the k = ceil(fraction * n) largest magnitudes (NaN counts as
///          largest, ties go to the lower index): uint32 indices in strictly
///          increasing order, then their float values. 8 B * k. Lossy in a
///          way that needs error feedback (see comm/allreduce.hpp).
///
/// decode is bit-exact and independent of the calling thread's floating-point
/// mode (FTZ/DAZ), so ranks that decode the same bytes hold the same floats.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace hydra::kernels {

enum class codec_kind { none, fp16, int8, topk };

/// "none", "fp16", "int8" or "topk"; anything else is errc::invalid_input.
result<codec_kind> parse_codec(std::string_view name);
const char* to_string(codec_kind k);

/// Values per int8 scale block.
inline constexpr std::size_t int8_block = 256;

/// k for topk over n values: ceil(fraction * n) clamped to [1, n] (0 if n == 0).
/// A fraction that is NaN or <= 0 keeps one value; >= 1 keeps all.
std::size_t topk_count(std::size_t n, double fraction);

/// Bytes that encode() appends for n values.
std::size_t encoded_size(codec_kind k, std::size_t n, double topk_fraction = 0.01);

/// Appends the encoding of `in` to `out` and returns the number of bytes
/// appended (== encoded_size). `topk_fraction` is used by topk only.
std::size_t encode(codec_kind k, std::span<const float> in, std::vector<std::byte>& out, double topk_fraction = 0.01);

/// Writes the encoding of `in` to the start of `out` and returns the bytes
/// written (== encoded_size), or 0 and writes nothing if `out` is shorter
/// than that. For callers that build messages in a buffer they keep sized.
std::size_t encode_into(codec_kind k, std::span<const float> in, std::span<std::byte> out, double topk_fraction = 0.01);

/// Decodes `in` into `out` (out.size() values; topk writes zeros elsewhere).
/// Malformed input — wrong size, out-of-range or unsorted topk indices, an
/// fp16 exponent out of range — is errc::invalid_input, and `out` is left
/// unchanged. Never reads or writes out of bounds.
status decode(codec_kind k, std::span<const std::byte> in, std::span<float> out);

/// acc += decode(in), fused (no temporary). Same validation as decode; on
/// error `acc` is unchanged.
status decode_add(codec_kind k, std::span<const std::byte> in, std::span<float> acc);

/// IEEE binary16 conversions (round to nearest even, quiet NaNs): F16C when
/// the CPU has it, else the portable `_scalar` versions, which give the same
/// bits. Exposed for the codec and its tests.
void float_to_half(std::span<const float> in, std::uint16_t* out);
void half_to_float(std::span<const std::uint16_t> in, float* out);
std::uint16_t float_to_half_scalar(float f);
float half_to_float_scalar(std::uint16_t h);
/// Whether the F16C path is in use on this CPU.
bool has_f16c();

}  // namespace hydra::kernels
