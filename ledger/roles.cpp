#include "ledger/roles.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "ledger/internal/hex.hpp"

namespace hydra::ledger {
namespace {

std::string key_short(const public_key& k) { return to_hex(std::span(k.data(), 8)); }

/// The payload as a JSON object; a discarded value when it is not one.
nlohmann::json parse_object(const std::string& payload) {
  auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json(nlohmann::json::value_t::discarded);
}

}  // namespace

std::string role_names(std::uint32_t roles) {
  static constexpr std::pair<std::uint32_t, const char*> names[] = {
      {role_trainer, "trainer"}, {role_collector, "collector"}, {role_scorer, "scorer"},
      {role_ledger, "ledger"},   {role_admin, "admin"},         {role_contributor, "contributor"}};
  if (roles == 0) return "none";
  std::string out;
  for (const auto& [bit, name] : names) {
    if (!(roles & bit)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  if (const std::uint32_t unknown = roles & ~all_roles) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", unknown);
    out += out.empty() ? buf : std::string(",") + buf;
  }
  return out;
}

role_book::admission_rec role_book::check_admission(const entry& e) const {
  admission_rec r{e.author, e.seq, 0, {}};
  const auto subject = internal::parse_key_hex(e.subject);
  if (!subject || *subject != e.author) {
    r.problem = "admission subject is not the author's own key";
    return r;
  }
  const auto j = parse_object(e.payload);
  if (j.is_discarded() || !j.contains("cert") || !j["cert"].is_string()) {
    r.problem = "admission payload has no \"cert\" hex string";
    return r;
  }
  const auto cert = internal::parse_hex(j["cert"].get_ref<const std::string&>());
  if (!cert) {
    r.problem = "admission \"cert\" is not hex";
    return r;
  }
  const auto roles = auth_->cert_roles(e.author, *cert);
  if (!roles) {
    r.problem = "admission certificate is not a valid certificate of this cluster for author " + key_short(e.author);
    return r;
  }
  r.roles = *roles;
  return r;
}

role_book::revocation_rec role_book::check_revocation(const entry& e) const {
  revocation_rec r;
  if (!auth_->is_operator(e.author)) {
    r.problem = "revocation by a key that is not an operator";
    return r;
  }
  const auto subject = internal::parse_key_hex(e.subject);
  if (!subject) {
    r.problem = "revocation subject is not a 64-hex-digit key";
    return r;
  }
  r.subject = *subject;
  if (auth_->is_operator(*subject)) {
    r.problem = "revocation of an operator key (operators leave through the cluster file)";
    return r;
  }
  const auto j = parse_object(e.payload);
  if (j.is_discarded()) {
    r.problem = "revocation payload is not a JSON object";
    return r;
  }
  if (const auto it = j.find("after_seq"); it != j.end()) {
    if (it->is_number_unsigned())
      r.after_seq = static_cast<std::int64_t>(
          std::min<std::uint64_t>(it->get<std::uint64_t>(), std::numeric_limits<std::int64_t>::max()));
    else if (it->is_number_integer() && it->get<std::int64_t>() >= -1)
      r.after_seq = it->get<std::int64_t>();
    else
      r.problem = "revocation \"after_seq\" is not an integer >= -1";
    return r;
  }
  if (const auto it = j.find("all"); it != j.end()) {
    if (*it != true) r.problem = "revocation \"all\" is not true";
    return r;  // after_seq stays -1
  }
  if (j.contains("serial"))
    r.problem = "revocation names one certificate serial; the ledger revokes keys (after_seq or all)";
  return r;  // neither: every entry of the subject
}

void role_book::observe(const entry& e, const digest256& hash) {
  if (!auth_) return;
  if (e.k == kind::admission) {
    if (admissions_.count(hash)) return;
    admissions_.emplace(hash, check_admission(e));
  } else if (e.k == kind::revocation) {
    if (revocations_.count(hash)) return;
    revocations_.emplace(hash, check_revocation(e));
  } else {
    return;
  }
  dirty_ = true;
}

void role_book::refresh() const {
  if (!dirty_) return;
  dirty_ = false;
  cut_.clear();
  roles_.clear();
  for (const auto& [h, r] : revocations_) {
    if (!r.problem.empty()) continue;
    const auto [it, fresh] = cut_.emplace(r.subject, r.after_seq);
    if (!fresh) it->second = std::min(it->second, r.after_seq);
  }
  for (const auto& [h, a] : admissions_) {
    if (!a.problem.empty()) continue;
    if (const auto c = cut_.find(a.author); c != cut_.end() && static_cast<std::int64_t>(a.seq) > c->second) continue;
    roles_[a.author] |= a.roles;
  }
}

std::uint32_t role_book::roles(const public_key& author) const {
  if (!auth_) return 0;
  if (auth_->is_operator(author)) return all_roles;
  refresh();
  const auto it = roles_.find(author);
  return it == roles_.end() ? 0 : it->second;
}

std::optional<std::string> role_book::revoked(const public_key& author, std::uint64_t seq) const {
  if (!auth_) return std::nullopt;
  refresh();
  const auto it = cut_.find(author);
  if (it == cut_.end()) return std::nullopt;
  if (it->second >= 0 && seq <= static_cast<std::uint64_t>(it->second)) return std::nullopt;
  if (it->second < 0) return "author " + key_short(author) + " revoked (all entries)";
  return "author " + key_short(author) + " revoked after seq " + std::to_string(it->second);
}

std::optional<std::string> role_book::refusal_of(const digest256& hash) const {
  if (const auto a = admissions_.find(hash); a != admissions_.end() && !a->second.problem.empty())
    return a->second.problem;
  if (const auto r = revocations_.find(hash); r != revocations_.end() && !r->second.problem.empty())
    return r->second.problem;
  return std::nullopt;
}

const std::map<public_key, std::int64_t>& role_book::cutoffs() const {
  refresh();
  return cut_;
}

}  // namespace hydra::ledger
