#pragma once
/// Helpers shared by the wire tests: sample messages and hand-made envelopes.

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "wire/frame.hpp"

namespace hydra::wire::testing {

inline std::vector<std::uint8_t> to_bytes(capnp::MessageBuilder& m) {
  auto words = capnp::messageToFlatArray(m);
  auto bytes = words.asBytes();
  return {bytes.begin(), bytes.end()};
}

inline std::vector<std::uint8_t> ping_frame(const identity& self, std::uint64_t nonce) {
  capnp::MallocMessageBuilder m;
  m.initRoot<Message>().initPing().setNonce(nonce);
  return seal(self, m);
}

inline void fill_entry(PeerEntry::Builder e, std::uint32_t i) {
  std::uint8_t id[32] = {};
  id[0] = static_cast<std::uint8_t>(i);
  e.getInfo().setId(capnp::Data::Reader(id, sizeof id));
  e.getInfo().setAddress("10.0.0." + std::to_string(i) + ":4000");
  e.setIncarnation(i);
  e.setHeartbeat(100 + i);
  e.getCapabilities().setGflops(1.5 * i);
  e.getCapabilities().setCores(i);
}

inline std::vector<std::uint8_t> gossip_frame(const identity& self, std::uint32_t entries) {
  capnp::MallocMessageBuilder m;
  auto list = m.initRoot<Message>().initGossip().initEntries(entries);
  for (std::uint32_t i = 0; i < entries; ++i) fill_entry(list[i], i);
  return seal(self, m);
}

/// A Probe whose data is `size` bytes of a simple pattern.
inline std::vector<std::uint8_t> probe_frame(const identity& self, std::size_t size) {
  capnp::MallocMessageBuilder m;
  auto probe = m.initRoot<Message>().initProbe();
  probe.setNonce(7);
  auto data = probe.initData(static_cast<unsigned>(size));
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 1);
  return seal(self, m);
}

/// An Envelope built field by field, so tests can break any of them.
inline std::vector<std::uint8_t> envelope(std::uint16_t version, std::span<const std::uint8_t> pk,
                                          std::span<const std::uint8_t> sig,
                                          std::span<const std::uint8_t> payload) {
  capnp::MallocMessageBuilder m;
  auto env = m.initRoot<Envelope>();
  env.setVersion(version);
  env.setPublicKey(capnp::Data::Reader(pk.data(), pk.size()));
  env.setSignature(capnp::Data::Reader(sig.data(), sig.size()));
  env.setPayload(capnp::Data::Reader(payload.data(), payload.size()));
  return to_bytes(m);
}

/// Where the envelope's payload bytes start inside `frame`.
inline std::size_t payload_offset(const std::vector<std::uint8_t>& frame) {
  auto words = kj::heapArray<capnp::word>(frame.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), frame.data(), frame.size());
  capnp::FlatArrayMessageReader r(words);
  auto p = r.getRoot<Envelope>().getPayload();
  return static_cast<std::size_t>(p.begin() - words.asBytes().begin());
}

inline std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace hydra::wire::testing
