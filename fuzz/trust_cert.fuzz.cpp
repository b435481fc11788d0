// Certificates and the cluster file (trust/cert.hpp) as a node meets them:
// bytes a peer presents in the handshake, cluster.pub, ledger revocation
// entries and the operator's revocation list. Linked with wire::verify()
// accepting any signature (nosig_verify.cpp), so that check_peer's rules
// (cluster, issuer, validity window, revocation, roles) behind the
// signature check are fuzzed. Input: one byte choosing the parser (below),
// then its bytes.
//   0  check_peer(cert) for the certificate's own subject and for an
//      operator key; decode_cert
//   1  decode_cluster
//   2  parse_revocation: SUBJECT, part separator, PAYLOAD
//   3  parse_roles, parse_serial, parse_revocation_subject
//   4  load_revocations_file

#include <cstdint>
#include <string>

#include "fuzz/fixed_random.hpp"
#include "fuzz/fuzz_util.hpp"
#include "trust/cert.hpp"

namespace {

using namespace hydra;

constexpr std::int64_t now = 1800000000;  // 2027-01-15

const wire::identity& operator_key() {
  static const wire::identity id = fuzz::fixed_identity(21);
  return id;
}

const trust::cluster& the_cluster() {
  static const trust::cluster c = [] {
    trust::cluster c;
    c.id.fill(0x17);
    c.name = "fuzz";
    c.operators = {operator_key().pk, fuzz::fixed_identity(22).pk};
    return c;
  }();
  return c;
}

const trust::revocations& revoked() {
  static const trust::revocations* r = [] {
    auto* r = new trust::revocations;  // not copyable (it holds a mutex)
    trust::revocation by_key;
    by_key.subject = fuzz::fixed_identity(31).pk;
    (void)r->add(by_key);
    trust::revocation by_serial;
    by_serial.serial = 0x1234;
    (void)r->add(by_serial);
    return r;
  }();
  return *r;
}

void certificate(std::span<const std::uint8_t> b) {
  if (auto m = trust::decode_cert(b)) {
    if (auto g = trust::check_peer(the_cluster(), revoked(), m->subject, b, now)) {
      (void)trust::days_left(*g, now);
      (void)trust::roles_to_string(g->roles);
    }
    (void)trust::iso_time(m->not_after);
    (void)trust::serial_hex(m->serial);
  }
  (void)trust::check_peer(the_cluster(), revoked(), operator_key().pk, b, now);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return sodium_init() < 0 ? 1 : 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::memory_file file("revoked");
  if (size < 1) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
  switch (data[0] % 5) {
    case 0: certificate(rest); break;
    case 1:
      if (auto c = trust::decode_cluster(rest)) (void)trust::is_operator(*c, operator_key().pk);
      break;
    case 2: {
      const auto parts = fuzz::split_parts(rest.data(), rest.size());
      (void)trust::parse_revocation(the_cluster(), operator_key().pk, parts[0], parts.size() > 1 ? parts[1] : "");
      break;
    }
    case 3:
      (void)trust::parse_roles(text);
      (void)trust::parse_serial(text);
      (void)trust::parse_revocation_subject(text);
      break;
    case 4: {
      file.set(text);
      trust::revocations r;
      (void)trust::load_revocations_file(file.path(), r);
      break;
    }
  }
  return 0;
}
