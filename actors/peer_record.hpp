#pragma once
/// A node's self-description as gossip carries it (PeerEntry in
/// wire/hydra.capnp), signed by the node it describes: a relay can pass it on
/// but can neither forge one for a node that does not exist, nor move an
/// address, nor raise an incarnation (the "mark any node dead for good with
/// incarnation 2^64-1" attack of an unsigned view).
///
/// Signed bytes (little-endian): "HYR" 0x01 | 32 pk | u64 incarnation |
/// u64 heartbeat | u16 len + address | u16 len + data address | f64 gflops |
/// u32 cores | u64 memory | f32 cpu limit | u8 on battery | f32 battery % |
/// f32 load1 | u8 idle [| u16 len + pause reason, only when paused]. The certificate is not signed here: it carries its
/// own operator signature and names the key it was issued to.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "actors/capabilities.hpp"
#include "common/result.hpp"
#include "wire/hydra.capnp.h"
#include "wire/identity.hpp"

namespace hydra::actors {

struct peer_record_data {
  wire::public_key pk{};
  std::uint64_t incarnation = 0, heartbeat = 0;
  std::string address, data_address;
  capabilities caps;
  std::vector<std::uint8_t> cert;
  wire::signature sig{};
};

/// The bytes the record's signature covers.
std::vector<std::uint8_t> record_signing_bytes(const peer_record_data& r);

/// Fills r.sig with self's signature (r.pk must be self.pk).
void sign_record(peer_record_data& r, const wire::identity& self);

/// Writes r into a PeerEntry (id, address, versions, caps, key, cert, sig).
void write_record(const peer_record_data& r, PeerEntry::Builder e);

/// Reads and verifies a PeerEntry: a 32-byte key whose id matches info.id,
/// a 64-byte signature by that key over the record, sizes within bounds.
/// errc::invalid_input with the reason otherwise ("unsigned peer record",
/// "peer record signature does not verify", ...).
result<peer_record_data> read_record(PeerEntry::Reader e);

}  // namespace hydra::actors
