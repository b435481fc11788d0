#pragma once
/// Test helpers: build valid per-author chains; a small authority with real
/// Ed25519 certificates (tests and bench/ledger_bench.cpp).

#include <algorithm>
#include <string>
#include <vector>

#include "ledger/authority.hpp"
#include "ledger/chain.hpp"
#include "ledger/entry.hpp"

namespace hydra::ledger::testing {

/// A signed entry that extends `author`'s chain after `prev_entry` (or starts
/// it at seq 0 when `prev_entry` is null).
inline entry next_entry(const wire::identity& author, const entry* prev_entry, kind k, std::string subject,
                        std::int64_t amount, std::string payload = "{}") {
  entry e;
  e.k = k;
  e.seq = prev_entry ? prev_entry->seq + 1 : 0;
  e.prev = prev_entry ? entry_hash(*prev_entry) : digest256{};
  e.subject = std::move(subject);
  e.amount = amount;
  e.payload = std::move(payload);
  return sign(std::move(e), author);
}

/// `n` chained entries by `author`: rewards to subject "s<i % 3>" of i+1.
inline std::vector<entry> make_chain(const wire::identity& author, int n) {
  std::vector<entry> out;
  for (int i = 0; i < n; ++i) {
    const kind k = i % 4 == 3 ? kind::penalty : (i % 2 ? kind::compute_credit : kind::reward);
    std::string subject = "s";  // built with += (GCC 12 -Wrestrict false positive on "s" + str)
    subject += std::to_string(i % 3);
    std::string payload = "{\"i\":";
    payload += std::to_string(i);
    payload += '}';
    out.push_back(next_entry(author, out.empty() ? nullptr : &out.back(), k, subject, i + 1, payload));
  }
  return out;
}

/// A cluster for tests: operator keys, and certificates shaped like the real
/// ones (trust/cert.hpp) but simpler:
///   "TCRT" | 32 subject | u32 roles (LE) | 32 issuer | 64 Ed25519 signature
///   by the issuer of everything before it
/// `cert_roles` checks the signature every time it is called and counts the
/// calls, so tests can see that the ledger caches the answer.
class test_authority : public authority {
 public:
  explicit test_authority(std::vector<wire::identity> operators) : ops_(std::move(operators)) {}

  bool is_operator(const public_key& pk) const override {
    return std::any_of(ops_.begin(), ops_.end(), [&](const wire::identity& o) { return o.pk == pk; });
  }

  std::optional<std::uint32_t> cert_roles(const public_key& author,
                                          std::span<const std::uint8_t> cert) const override {
    ++cert_checks;
    constexpr std::size_t body = 4 + 32 + 4 + 32;
    if (cert.size() != body + 64 || !std::equal(cert.begin(), cert.begin() + 4, "TCRT")) return std::nullopt;
    public_key subject{}, issuer{};
    signature sig{};
    std::copy_n(cert.begin() + 4, 32, subject.begin());
    std::copy_n(cert.begin() + 40, 32, issuer.begin());
    std::copy_n(cert.begin() + body, 64, sig.begin());
    if (subject != author || !is_operator(issuer) || !wire::verify(issuer, cert.first(body), sig)) return std::nullopt;
    std::uint32_t roles = 0;
    for (int i = 0; i < 4; ++i) roles |= std::uint32_t{cert[36 + i]} << (8 * i);
    return roles;
  }

  /// A certificate for `subject` with `roles`, signed by `issuer`.
  static std::vector<std::uint8_t> issue(const wire::identity& issuer, const public_key& subject,
                                         std::uint32_t roles) {
    std::vector<std::uint8_t> out = {'T', 'C', 'R', 'T'};
    out.insert(out.end(), subject.begin(), subject.end());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(roles >> (8 * i)));
    out.insert(out.end(), issuer.pk.begin(), issuer.pk.end());
    const auto sig = wire::sign(issuer, out);
    out.insert(out.end(), sig.begin(), sig.end());
    return out;
  }

  mutable std::size_t cert_checks = 0;

 private:
  std::vector<wire::identity> ops_;
};

/// The payload of an admission entry carrying `cert`.
inline std::string admission_payload(std::span<const std::uint8_t> cert) {
  return "{\"cert\":\"" + to_hex(cert) + "\"}";
}

}  // namespace hydra::ledger::testing
