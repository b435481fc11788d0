#pragma once
/// Shared by the trust_handshake / trust_session targets and make_seeds: fixed
/// identities and a deterministic libsodium RNG, so that a handshake run in a
/// target draws the same ephemeral keys as the one make_seeds recorded. The
/// recorded transcripts then stay valid seeds, and the fuzzer starts from
/// established sessions instead of stopping at the first AEAD tag.

#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz/fixed_random.hpp"
#include "trust/channel.hpp"
#include "wire/identity.hpp"

namespace hydra::fuzz {

/// RNG states the targets and make_seeds agree on.
inline constexpr std::uint64_t initiator_rng = 1, responder_rng = 2;

inline const wire::identity& initiator_identity() {
  static const wire::identity id = fixed_identity(11);
  return id;
}
inline const wire::identity& responder_identity() {
  static const wire::identity id = fixed_identity(12);
  return id;
}

/// Admits any peer that presents a non-empty certificate (the certificate
/// checks have their own target, trust_cert).
inline trust::channel_config channel_config_for(const wire::identity& self) {
  trust::channel_config c;
  c.self = &self;
  c.cert = {'c', 'e', 'r', 't'};
  c.cluster.fill(0x42);
  c.max_record = 4096;  // small records: the record-size checks are reachable
  c.rekey_every = 3;    // rekeys within a short input
  c.verify = [](const wire::public_key& pk, std::span<const std::uint8_t> cert) -> result<trust::peer_grant> {
    if (cert.empty()) return make_error(errc::invalid_input, "no certificate");
    trust::peer_grant g;
    g.roles = trust::role_trainer;
    return g;
  };
  return c;
}

/// Both sides in memory, from fixed RNG states; aborts if it does not
/// complete (it always should). `initiator_out` gets the initiator's final
/// message (msg3) and `responder_out` the responder's (msg2).
struct established {
  trust::secure_session initiator, responder;
};
inline established establish(std::vector<std::uint8_t>* msg1 = nullptr, std::vector<std::uint8_t>* msg2 = nullptr,
                             std::vector<std::uint8_t>* msg3 = nullptr) {
  reset_random(initiator_rng);
  auto i = trust::handshake::initiator(channel_config_for(initiator_identity()));
  if (!i) std::abort();
  const auto m1 = i->take_output();
  reset_random(responder_rng);
  auto r = trust::handshake::responder(channel_config_for(responder_identity()));
  if (!r || !r->feed(m1)) std::abort();
  const auto m2 = r->take_output();
  if (!i->feed(m2) || !i->done()) std::abort();
  const auto m3 = i->take_output();
  if (!r->feed(m3) || !r->done()) std::abort();
  if (msg1) *msg1 = m1;
  if (msg2) *msg2 = m2;
  if (msg3) *msg3 = m3;
  return {i->take_session(), r->take_session()};
}

}  // namespace hydra::fuzz
