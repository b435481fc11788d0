#include "actors/peer_record.hpp"

#include <cstring>

namespace hydra::actors {
namespace {

template <class T>
void put(std::vector<std::uint8_t>& out, T v) {
  std::uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86-64 and every target we build for is little-endian
  out.insert(out.end(), b, b + sizeof(T));
}

void put_text(std::vector<std::uint8_t>& out, const std::string& s) {
  put<std::uint16_t>(out, static_cast<std::uint16_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

constexpr std::size_t max_address = 300;
constexpr std::size_t max_cert = 2048;
constexpr std::size_t max_paused = 512;

error bad(std::string why) { return make_error(errc::invalid_input, std::move(why)); }

}  // namespace

std::vector<std::uint8_t> record_signing_bytes(const peer_record_data& r) {
  std::vector<std::uint8_t> out = {'H', 'Y', 'R', 0x01};
  out.insert(out.end(), r.pk.begin(), r.pk.end());
  put(out, r.incarnation);
  put(out, r.heartbeat);
  put_text(out, r.address);
  put_text(out, r.data_address);
  put(out, r.caps.gflops);
  put(out, r.caps.cores);
  put(out, r.caps.memory_bytes);
  put(out, r.caps.cpu_limit);
  put<std::uint8_t>(out, r.caps.on_battery ? 1 : 0);
  put(out, r.caps.battery_percent);
  put(out, r.caps.load1);
  put<std::uint8_t>(out, r.caps.idle ? 1 : 0);
  // Appended only when set, so a record that is not paused signs the same
  // bytes as before the field existed (older nodes still verify it).
  if (!r.caps.paused.empty()) put_text(out, r.caps.paused);
  return out;
}

void sign_record(peer_record_data& r, const wire::identity& self) {
  r.pk = self.pk;
  r.sig = wire::sign(self, record_signing_bytes(r));
}

void write_record(const peer_record_data& r, PeerEntry::Builder e) {
  const node_id id = wire::id_of(r.pk);
  auto info = e.initInfo();
  info.setId(kj::arrayPtr(id.data(), id.size()));
  info.setAddress(r.address);
  e.setDataAddress(r.data_address);
  e.setIncarnation(r.incarnation);
  e.setHeartbeat(r.heartbeat);
  auto c = e.initCapabilities();
  c.setGflops(r.caps.gflops);
  c.setCores(r.caps.cores);
  c.setMemoryBytes(r.caps.memory_bytes);
  c.setCpuLimit(r.caps.cpu_limit);
  c.setOnBattery(r.caps.on_battery);
  c.setBatteryPercent(r.caps.battery_percent);
  c.setLoad1(r.caps.load1);
  c.setIdle(r.caps.idle);
  if (!r.caps.paused.empty()) c.setPaused(r.caps.paused);
  e.setPublicKey(kj::arrayPtr(r.pk.data(), r.pk.size()));
  if (!r.cert.empty()) e.setCert(kj::arrayPtr(r.cert.data(), r.cert.size()));
  e.setSignature(kj::arrayPtr(r.sig.data(), r.sig.size()));
}

result<peer_record_data> read_record(PeerEntry::Reader e) {
  peer_record_data r;
  auto pk = e.getPublicKey();
  auto sig = e.getSignature();
  if (pk.size() == 0 || sig.size() == 0) return bad("unsigned peer record");
  if (pk.size() != r.pk.size() || sig.size() != r.sig.size()) return bad("peer record with a malformed key or signature");
  std::memcpy(r.pk.data(), pk.begin(), pk.size());
  std::memcpy(r.sig.data(), sig.begin(), sig.size());
  const node_id id = wire::id_of(r.pk);
  auto claimed = e.getInfo().getId();
  if (claimed.size() != id.size() || std::memcmp(claimed.begin(), id.data(), id.size()) != 0)
    return bad("peer record's id is not its key's");
  auto address = e.getInfo().getAddress();
  auto data_address = e.getDataAddress();
  if (address.size() > max_address || data_address.size() > max_address) return bad("peer record address too long");
  r.address.assign(address.begin(), address.end());
  r.data_address.assign(data_address.begin(), data_address.end());
  r.incarnation = e.getIncarnation();
  r.heartbeat = e.getHeartbeat();
  auto c = e.getCapabilities();
  r.caps.gflops = c.getGflops();
  r.caps.cores = c.getCores();
  r.caps.memory_bytes = c.getMemoryBytes();
  r.caps.cpu_limit = c.getCpuLimit();
  r.caps.on_battery = c.getOnBattery();
  r.caps.battery_percent = c.getBatteryPercent();
  r.caps.load1 = c.getLoad1();
  r.caps.idle = c.getIdle();
  auto paused = c.getPaused();
  if (paused.size() > max_paused) return bad("peer record pause reason too long");
  r.caps.paused.assign(paused.begin(), paused.end());
  auto cert = e.getCert();
  if (cert.size() > max_cert) return bad("peer record certificate too large");
  r.cert.assign(cert.begin(), cert.end());
  if (!wire::verify(r.pk, record_signing_bytes(r), r.sig)) return bad("peer record signature does not verify");
  return r;
}

}  // namespace hydra::actors
