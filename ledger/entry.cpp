#include "ledger/entry.hpp"

#include "common/bytes.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

namespace hydra::ledger {
namespace {

constexpr std::array<std::uint8_t, 4> tag = {'H', 'L', 'E', 1};
constexpr const char* kind_names[] = {"contribution", "score", "compute_credit", "reward", "penalty", "admission", "revocation"};
constexpr std::size_t kind_count = std::size(kind_names);

void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) { put_le(out, v, 8); }
void put_string(std::vector<std::uint8_t>& out, const std::string& s) { put_text(out, s, 4); }

/// The ledger's strings: a u32 length, at most `max` bytes.
struct reader : byte_reader {
  std::string string(std::size_t max) {
    std::string s;
    if (!text(s, 4, max)) return {};
    return s;
  }
};

error bad(const std::string& what) { return make_error(errc::invalid_input, "ledger entry: " + what); }

}  // namespace

const char* to_string(kind k) {
  const auto i = static_cast<std::size_t>(k);
  return i < kind_count ? kind_names[i] : "unknown";
}

std::optional<kind> parse_kind(std::string_view s) {
  for (std::size_t i = 0; i < kind_count; ++i)
    if (s == kind_names[i]) return static_cast<kind>(i);
  return std::nullopt;
}

std::vector<std::uint8_t> encode_unsigned(const entry& e) {
  std::vector<std::uint8_t> out(tag.begin(), tag.end());
  out.reserve(4 + 1 + 32 + 8 + 32 + 4 + e.subject.size() + 8 + 4 + e.payload.size() + 64);
  out.push_back(static_cast<std::uint8_t>(e.k));
  put_bytes(out, e.author);
  put_u64(out, e.seq);
  put_bytes(out, e.prev);
  put_string(out, e.subject);
  put_u64(out, static_cast<std::uint64_t>(e.amount));
  put_string(out, e.payload);
  return out;
}

std::vector<std::uint8_t> encode(const entry& e) {
  auto out = encode_unsigned(e);
  put_bytes(out, e.sig);
  return out;
}

result<entry> decode(std::span<const std::uint8_t> bytes) {
  reader r{{bytes}};
  std::array<std::uint8_t, 4> t{};
  if (!r.take(t.data(), t.size()) || t != tag) return bad("bad tag or version");
  entry e;
  const auto k = static_cast<std::size_t>(r.uint(1));
  if (r.ok && k >= kind_count) return bad("unknown kind " + std::to_string(k));
  e.k = static_cast<kind>(k);
  r.take(e.author.data(), e.author.size());
  e.seq = r.uint(8);
  r.take(e.prev.data(), e.prev.size());
  e.subject = r.string(max_subject_size);
  e.amount = static_cast<std::int64_t>(r.uint(8));
  e.payload = r.string(max_payload_size);
  r.take(e.sig.data(), e.sig.size());
  if (!r.ok) return bad("truncated or oversized field");
  if (r.pos != bytes.size()) return bad(std::to_string(bytes.size() - r.pos) + " trailing bytes");
  return e;
}

digest256 entry_hash(const entry& e) {
  const auto bytes = encode_unsigned(e);
  return blake2b_256(std::as_bytes(std::span(bytes)));
}

entry sign(entry e, const wire::identity& self) {
  e.author = self.pk;
  const auto bytes = encode_unsigned(e);
  e.sig = wire::sign(self, bytes);
  return e;
}

status verify_signature(const entry& e) {
  static const bool sodium_ok = sodium_init() >= 0;
  if (!sodium_ok) return make_error(errc::internal, "libsodium failed to initialise");
  const auto bytes = encode_unsigned(e);
  if (crypto_sign_verify_detached(e.sig.data(), bytes.data(), bytes.size(), e.author.data()) != 0)
    return make_error(errc::invalid_input, "forged: signature does not verify for author " + author_short(e) +
                                               " seq " + std::to_string(e.seq) +
                                               " (entry altered or signed by another key)");
  return {};
}

std::string author_short(const entry& e) { return to_hex(std::span(e.author.data(), 8)); }

}  // namespace hydra::ledger
