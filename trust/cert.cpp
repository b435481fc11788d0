#include "trust/cert.hpp"

#include "common/bytes.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/hash.hpp"

namespace hydra::trust {
namespace {

constexpr std::array<std::uint8_t, 4> cluster_tag = {'H', 'Y', 'K', 1};
constexpr std::array<std::uint8_t, 4> cert_tag = {'H', 'Y', 'C', 1};
constexpr std::pair<const char*, std::uint32_t> role_names[] = {
    {"trainer", role_trainer}, {"collector", role_collector}, {"scorer", role_scorer},
    {"ledger", role_ledger},   {"admin", role_admin},         {"contributor", role_contributor}};

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
}

using bytes = std::vector<std::uint8_t>;

void put_uint(bytes& out, std::uint64_t v, int n) { put_le(out, v, n); }
void put_string16(bytes& out, std::string_view s) { put_text(out, s, 2); }

/// Certificates' strings: a u16 length.
struct reader : byte_reader {
  bool string16(std::string& s, std::size_t max) { return text(s, 2, max); }
};

error bad(const char* what, const std::string& reason) {
  return make_error(errc::invalid_input, std::string(what) + ": " + reason);
}

std::string short_hex(const wire::public_key& pk) { return to_hex(std::span(pk.data(), 8)); }

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= max_cluster_name &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool valid_site(std::string_view s) {
  return s.size() <= max_site && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '.' || c == '_' || c == '-';
         });
}

/// Encoding of everything before the signer/issuer key.
bytes cluster_body(const cluster& c) {
  bytes out(cluster_tag.begin(), cluster_tag.end());
  put_bytes(out, c.id);
  put_string16(out, c.name);
  put_uint(out, c.operators.size(), 1);
  for (const auto& k : c.operators) put_bytes(out, k);
  return out;
}

bytes cert_body(const membership_cert& m) {
  bytes out(cert_tag.begin(), cert_tag.end());
  put_bytes(out, m.cluster);
  put_bytes(out, m.subject);
  put_uint(out, m.roles, 4);
  put_uint(out, static_cast<std::uint64_t>(m.not_before), 8);
  put_uint(out, static_cast<std::uint64_t>(m.not_after), 8);
  put_uint(out, m.serial, 8);
  put_string16(out, m.site);
  put_bytes(out, m.issuer);
  return out;
}

/// Parses a certificate's fields without checking its signature.
result<membership_cert> parse_cert(std::span<const std::uint8_t> in) {
  reader r{{in}};
  std::array<std::uint8_t, 4> t{};
  if (!r.take(t.data(), t.size()) || t != cert_tag)
    return bad("certificate", "not a Hydra membership certificate (bad tag or version)");
  membership_cert m;
  r.take(m.cluster.data(), m.cluster.size());
  r.take(m.subject.data(), m.subject.size());
  m.roles = static_cast<std::uint32_t>(r.uint(4));
  m.not_before = static_cast<std::int64_t>(r.uint(8));
  m.not_after = static_cast<std::int64_t>(r.uint(8));
  m.serial = r.uint(8);
  r.string16(m.site, max_site);
  r.take(m.issuer.data(), m.issuer.size());
  r.take(m.sig.data(), m.sig.size());
  if (!r.ok) return bad("certificate", "truncated or oversized field");
  if (r.pos != in.size()) return bad("certificate", std::to_string(in.size() - r.pos) + " trailing bytes");
  if (!valid_site(m.site)) return bad("certificate", "site must be [A-Za-z0-9._-]");
  if (m.not_after < m.not_before) return bad("certificate", "validity ends before it starts");
  return m;
}

bool cert_signature_ok(const membership_cert& m) { return wire::verify(m.issuer, cert_body(m), m.sig); }

std::string age_text(std::int64_t s) {
  const auto unit = [](std::int64_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  if (s >= 86400) return unit(s / 86400, "day");
  if (s >= 3600) return unit(s / 3600, "hour");
  if (s >= 60) return unit(s / 60, "minute");
  return unit(s, "second");
}

}  // namespace

cluster make_cluster(std::string name, const wire::public_key& first_operator) {
  ensure_sodium();
  cluster c;
  randombytes_buf(c.id.data(), c.id.size());
  c.name = std::move(name);
  c.operators.push_back(first_operator);
  return c;
}

bool is_operator(const cluster& c, const wire::public_key& pk) {
  return std::find(c.operators.begin(), c.operators.end(), pk) != c.operators.end();
}

result<std::vector<std::uint8_t>> encode_cluster(const cluster& c, const wire::identity& signer) {
  if (!valid_name(c.name))
    return bad("cluster", "name must be 1.." + std::to_string(max_cluster_name) + " printable ASCII characters");
  if (c.operators.empty() || c.operators.size() > max_operators)
    return bad("cluster", "needs 1.." + std::to_string(max_operators) + " operator keys, has " +
                              std::to_string(c.operators.size()));
  for (std::size_t i = 0; i < c.operators.size(); ++i)
    if (std::count(c.operators.begin(), c.operators.end(), c.operators[i]) > 1)
      return bad("cluster", "operator key " + short_hex(c.operators[i]) + " listed twice");
  if (!is_operator(c, signer.pk))
    return bad("cluster", "signer " + short_hex(signer.pk) + " is not one of its operators");
  auto out = cluster_body(c);
  put_bytes(out, signer.pk);
  put_bytes(out, wire::sign(signer, out));
  return out;
}

result<cluster> decode_cluster(std::span<const std::uint8_t> in) {
  reader r{{in}};
  std::array<std::uint8_t, 4> t{};
  if (!r.take(t.data(), t.size()) || t != cluster_tag)
    return bad("cluster file", "not a Hydra cluster file (bad tag or version)");
  cluster c;
  r.take(c.id.data(), c.id.size());
  r.string16(c.name, max_cluster_name);
  const auto n = static_cast<std::size_t>(r.uint(1));
  if (r.ok && (n == 0 || n > max_operators))
    return bad("cluster file", "operator count " + std::to_string(n) + " not in 1..32");
  c.operators.resize(n);
  for (auto& k : c.operators) r.take(k.data(), k.size());
  const std::size_t signed_len = r.pos;
  wire::public_key signer{};
  wire::signature sig{};
  r.take(signer.data(), signer.size());
  r.take(sig.data(), sig.size());
  if (!r.ok) return bad("cluster file", "truncated or oversized field");
  if (r.pos != in.size()) return bad("cluster file", std::to_string(in.size() - r.pos) + " trailing bytes");
  if (!valid_name(c.name)) return bad("cluster file", "name is empty or not printable ASCII");
  for (std::size_t i = 0; i < n; ++i)
    if (std::count(c.operators.begin(), c.operators.end(), c.operators[i]) > 1)
      return bad("cluster file", "operator key " + short_hex(c.operators[i]) + " listed twice");
  if (!is_operator(c, signer))
    return bad("cluster file", "signed by " + short_hex(signer) + ", which is not one of its operators");
  if (!wire::verify(signer, in.first(signed_len + signer.size()), sig))
    return bad("cluster file", "bad signature (file altered or signed by another key)");
  return c;
}

result<std::vector<std::uint8_t>> issue_cert(const wire::identity& op, const cluster& c,
                                             const wire::public_key& subject, std::uint32_t roles,
                                             std::int64_t not_before, std::int64_t not_after, std::string_view site) {
  ensure_sodium();
  if (!is_operator(c, op.pk))
    return bad("certificate", "key " + short_hex(op.pk) + " is not an operator of cluster " + c.name);
  if (roles == 0 || (roles & ~all_roles) != 0)
    return bad("certificate", "roles must be a non-empty set of known roles");
  if (!valid_site(site))
    return bad("certificate", "site '" + std::string(site) + "' must be at most 64 of [A-Za-z0-9._-]");
  if (not_after < not_before) return bad("certificate", "not_after is before not_before");
  membership_cert m;
  m.cluster = c.id;
  m.subject = subject;
  m.roles = roles;
  m.not_before = not_before;
  m.not_after = not_after;
  randombytes_buf(&m.serial, sizeof m.serial);
  m.site = std::string(site);
  m.issuer = op.pk;
  auto out = cert_body(m);
  put_bytes(out, wire::sign(op, out));
  return out;
}

result<membership_cert> decode_cert(std::span<const std::uint8_t> in) {
  auto m = parse_cert(in);
  if (m && !cert_signature_ok(*m)) return bad("certificate", "bad certificate signature");
  return m;
}

status revocations::add(const revocation& r) {
  std::lock_guard lock(mu_);
  if (r.serial ? by_serial_.count(r.serial) : by_key_.count(r.subject)) return {};
  if (by_key_.size() + by_serial_.size() >= capacity_)
    return make_error(errc::unavailable, "revocation list is full (" + std::to_string(capacity_) + " entries)");
  if (r.serial)
    by_serial_.emplace(r.serial, r);
  else
    by_key_.emplace(r.subject, r);
  return {};
}

std::optional<revocation> revocations::find(const wire::public_key& subject, std::uint64_t serial) const {
  std::lock_guard lock(mu_);
  if (auto it = by_key_.find(subject); it != by_key_.end()) return it->second;
  if (auto it = by_serial_.find(serial); serial && it != by_serial_.end()) return it->second;
  return std::nullopt;
}

std::size_t revocations::size() const {
  std::lock_guard lock(mu_);
  return by_key_.size() + by_serial_.size();
}

std::string revocation_subject(const wire::public_key& pk) { return to_hex(pk); }

result<wire::public_key> parse_revocation_subject(std::string_view s) {
  wire::public_key pk{};
  std::size_t len = 0;
  if (s.size() != 64 || sodium_hex2bin(pk.data(), pk.size(), s.data(), s.size(), nullptr, &len, nullptr) != 0 ||
      len != pk.size()) {
    std::string msg = "'";
    msg.append(s.substr(0, 80)).append("' is not a public key (64 hex digits)");
    return make_error(errc::invalid_input, std::move(msg));
  }
  return pk;
}

std::string revocation_payload(const revocation& r) {
  nlohmann::json j = nlohmann::json::object();
  if (r.serial) j["serial"] = serial_hex(r.serial);
  if (r.at) j["at"] = r.at;
  return j.dump();
}

result<revocation> parse_revocation(const cluster& c, const wire::public_key& author, std::string_view subject,
                                    std::string_view payload) {
  if (!is_operator(c, author))
    return bad("revocation", "author " + short_hex(author) + " is not an operator of cluster " + c.name);
  auto pk = parse_revocation_subject(subject);
  if (!pk) return bad("revocation", pk.err().message);
  revocation r{*pk, 0, author, 0};
  const auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("revocation", "payload is not a JSON object");
  if (j.contains("serial")) {
    auto serial = j["serial"].is_string() ? parse_serial(j["serial"].get<std::string>())
                                          : result<std::uint64_t>(bad("serial", "not a string"));
    if (!serial) return bad("revocation", serial.err().message);
    r.serial = *serial;
  }
  if (j.contains("at")) {
    if (!j["at"].is_number_integer()) return bad("revocation", "at must be an integer");
    r.at = j["at"].get<std::int64_t>();
  }
  return r;
}

result<peer_grant> check_peer(const cluster& c, const revocations& revoked, const wire::public_key& presented_pk,
                              std::span<const std::uint8_t> cert_bytes, std::int64_t now) {
  peer_grant g;
  g.pk = presented_pk;
  g.id = wire::id_of(presented_pk);
  if (is_operator(c, presented_pk)) {
    g.roles = all_roles;
    g.is_operator = true;
    return g;
  }
  const auto refuse = [](std::string reason) { return make_error(errc::invalid_input, std::move(reason)); };
  if (cert_bytes.empty())
    return refuse("no certificate (key " + short_hex(presented_pk) + " is not an operator of cluster " + c.name + ")");
  auto m = parse_cert(cert_bytes);
  if (!m) return m.err();
  if (m->cluster != c.id) return refuse("certificate is for another cluster");
  if (m->subject != presented_pk)
    return refuse("certificate was issued to another key (" + short_hex(m->subject) + ")");
  if (!is_operator(c, m->issuer))
    return refuse("certificate signed by a key that is not an operator of cluster " + c.name + " (" +
                  short_hex(m->issuer) + ")");
  if (!cert_signature_ok(*m)) return refuse("bad certificate signature");
  if (now > m->not_after)
    return refuse("certificate expired " + age_text(now - m->not_after) + " ago (" + iso_date(m->not_after) + ")");
  if (now < m->not_before - clock_skew_s)
    return refuse("certificate not valid before " + iso_time(m->not_before) + " (in " + age_text(m->not_before - now) +
                  ")");
  if (auto r = revoked.find(m->subject, m->serial))
    return refuse("certificate revoked (serial " + serial_hex(m->serial) +
                  (r->by == wire::public_key{} ? std::string(", in the local revocation list")
                                               : ", by operator " + short_hex(r->by)) +
                  ")");
  if (m->roles == 0 || (m->roles & ~all_roles) != 0)
    return refuse("certificate grants " +
                  (m->roles ? "unknown roles " + roles_to_string(m->roles) : std::string("no roles")));
  g.roles = m->roles;
  g.not_after = m->not_after;
  g.serial = m->serial;
  g.site = m->site;
  return g;
}

std::string serial_hex(std::uint64_t serial) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(serial));
  return buf;
}

result<std::uint64_t> parse_serial(std::string_view s) {
  std::uint64_t v = 0;
  const bool ok = !s.empty() && s.size() <= 16 && std::all_of(s.begin(), s.end(), [&](char c) {
    const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
    v = (v << 4) | static_cast<std::uint64_t>(d & 15);
    return d >= 0;
  });
  if (!ok || v == 0)
    return make_error(errc::invalid_input,
                      "serial '" + std::string(s.substr(0, 40)) + "' must be 1..16 hex digits, not 0");
  return v;
}

std::int64_t days_left(std::int64_t not_after, std::int64_t now) {
  const auto d = not_after - now;
  return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

std::int64_t days_left(const peer_grant& g, std::int64_t now) {
  return g.is_operator && g.not_after == 0 ? no_expiry : days_left(g.not_after, now);
}

result<std::uint32_t> parse_roles(std::string_view names) {
  std::uint32_t bits = 0;
  std::size_t start = 0;
  while (start <= names.size()) {
    const auto comma = std::min(names.find(',', start), names.size());
    const auto name = names.substr(start, comma - start);
    start = comma + 1;
    if (name == "all") {
      bits |= all_roles;
      continue;
    }
    const auto it =
        std::find_if(std::begin(role_names), std::end(role_names), [&](auto& p) { return name == p.first; });
    if (it == std::end(role_names))
      return make_error(errc::invalid_input,
                        (name.empty() ? std::string("empty role name") : "unknown role '" + std::string(name) + "'") +
                            " (known: trainer, collector, scorer, ledger, admin, contributor, all)");
    bits |= it->second;
  }
  return bits;
}

std::string roles_to_string(std::uint32_t roles) {
  if (roles == 0) return "none";
  std::string s;
  for (const auto& [name, bit] : role_names)
    if (roles & bit) s.append(s.empty() ? "" : ",").append(name);
  if (const auto rest = roles & ~all_roles) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", rest);
    s.append(s.empty() ? "" : ",").append(buf);
  }
  return s;
}

std::string iso_date(std::int64_t unix_s) { return iso_time(unix_s).substr(0, 10); }

std::string iso_time(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  char buf[40];
  if (!::gmtime_r(&t, &tm) || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return std::to_string(unix_s);
  return buf;
}

}  // namespace hydra::trust
