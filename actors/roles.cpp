#include "actors/roles.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "wire/hydra.capnp.h"

namespace hydra::actors {

snapshot_bytes encode_snapshot(const std::string& logical_id, const std::string& kind,
                               const std::vector<std::uint8_t>& state) {
  capnp::MallocMessageBuilder mb;
  auto s = mb.initRoot<ActorSnapshot>();
  s.setLogicalId(logical_id);
  s.setKind(kind);
  s.setState(kj::arrayPtr(state.data(), state.size()));
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return snapshot_bytes(bytes.begin(), bytes.end());
}

bool decode_snapshot(const snapshot_bytes& bytes, std::string& logical_id, std::string& kind,
                     std::vector<std::uint8_t>& state) {
  if (bytes.size() % sizeof(capnp::word) != 0 || bytes.empty()) return false;
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  try {
    capnp::FlatArrayMessageReader reader(words);
    auto s = reader.getRoot<ActorSnapshot>();
    logical_id = s.getLogicalId();
    kind = s.getKind();
    auto d = s.getState();
    state.assign(d.begin(), d.end());
    return true;
  } catch (const kj::Exception&) {
    return false;
  }
}

namespace {

/// The skeleton of a role: a logical id and a counter of requests served, so
/// that snapshot/restore has state to carry.
struct role_state {
  std::string kind, logical_id;
  std::uint64_t served = 0;
  static inline const char* name = "hydra.role";
};

role_actor::behavior_type role_impl(role_actor::stateful_pointer<role_state> self, std::string kind,
                                    std::string logical_id) {
  self->state.kind = std::move(kind);
  self->state.logical_id = std::move(logical_id);
  return {
      [=](snapshot_atom) -> snapshot_bytes {
        auto& st = self->state;
        std::vector<std::uint8_t> state(8);
        for (int i = 0; i < 8; ++i) state[i] = static_cast<std::uint8_t>(st.served >> (8 * i));
        return encode_snapshot(st.logical_id, st.kind, state);
      },
      [=](restore_atom, const snapshot_bytes& bytes) -> bool {
        std::string id, kind;
        std::vector<std::uint8_t> state;
        if (!decode_snapshot(bytes, id, kind, state) || kind != self->state.kind || state.size() != 8) return false;
        std::uint64_t served = 0;
        for (int i = 0; i < 8; ++i) served |= std::uint64_t(state[i]) << (8 * i);
        self->state.logical_id = id;
        self->state.served = served;
        return true;
      },
      [=](describe_atom) -> std::string {
        auto& st = self->state;
        ++st.served;
        return st.kind + " " + st.logical_id + " (served " + std::to_string(st.served) + ")";
      },
  };
}

}  // namespace

role_actor spawn_role(caf::actor_system& sys, const std::string& kind, const std::string& logical_id) {
  return sys.spawn(role_impl, kind, logical_id);
}

}  // namespace hydra::actors
