#include "actors/node.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/collector.hpp"
#include "actors/failure_detector.hpp"
#include "actors/ledger_sync.hpp"
#include "actors/lookup.hpp"
#include "actors/peer_record.hpp"
#include "actors/routing_table.hpp"
#include "ledger/authority.hpp"
#include "common/env.hpp"
#include "common/rng.hpp"
#include "wire/frame.hpp"
#include "wire/hydra.capnp.h"

namespace hydra::actors {
namespace {

using membership::contact;
using membership::peer_state;

constexpr std::size_t probe_bytes = 1 << 20;   // bandwidth probe size
constexpr double ping_every = 1.0;             // seconds between RTT pings
constexpr double probe_every = 60.0;           // a link's bandwidth re-measured at most this often
constexpr double probe_spacing = 15.0;         // and at most one probe per node this often
constexpr double os_refresh_every = 10.0;
constexpr double bucket_max_age = 60.0;        // Kademlia bucket refresh
constexpr double query_timeout = 2.0;          // a FIND_NODE answer is late after this
constexpr std::int64_t compute_credit_per_sample = 10;  // milli-credits per trained sample

node_id to_id(capnp::Data::Reader d) {
  node_id id{};
  if (d.size() == id.size()) std::memcpy(id.data(), d.begin(), id.size());
  return id;
}

struct peer_record {
  peer_record_data signed_record;  ///< as its subject signed it: what we relay
  trust::peer_grant grant;         ///< what its certificate admits it to
  std::string address, data_address;
  std::uint64_t incarnation = 0, heartbeat = 0;
  capabilities caps;
  double ping_sent = -1;
  std::uint64_t ping_nonce = 0;
  double last_ping = -1e9;
  double probe_sent = -1, last_probe = -1e9;
  std::uint64_t probe_nonce = 0;
  double bandwidth_bps = 0;
  peer_state last_state = peer_state::alive;
};

struct pending_lookup {
  node_id target;
  membership::lookup search;
  std::map<node_id, double> in_flight;  // queried id -> time asked
  bool self_lookup = false;
};

struct node_state {
  node_config cfg;
  transport* tp = nullptr;
  env* clock = &default_env();
  env::clock::time_point start{};
  std::uint64_t heartbeat = 0, ticks = 0, nonce = 1;
  std::unique_ptr<membership::routing_table> table;
  std::unique_ptr<membership::failure_detector> detector;
  std::map<node_id, peer_record> peers;
  std::map<std::string, conn_id> out_conns;  // listen address -> our connection
  std::map<std::uint64_t, pending_lookup> lookups;
  std::map<std::string, role_actor> roles;   // logical id -> actor
  rng random{1};
  double last_os_refresh = 0;
  bool membership_changed = false;  // the snapshot is stale
  std::unique_ptr<ledger_sync> ledger;
  std::unique_ptr<collector> coll;
  double last_service_tick = 0, last_watch = 0;
  double last_probe_sent = -1e9;
  // --watch: name -> (size, polls it stayed that size); names being decided.
  std::map<std::string, std::pair<std::uintmax_t, int>> watch_seen;
  std::set<std::string> watch_busy;
  double last_save = -1e9;
  peer_record_data self_record;            ///< our own signed record (re-signed when it changes)
  trust::peer_grant self_grant;            ///< what our own certificate grants
  std::map<wire::public_key, std::pair<std::vector<std::uint8_t>, trust::peer_grant>> cert_cache;
  std::map<std::string, double> refusal_logged;  ///< reason -> when last logged (rate limit)
  static inline const char* name = "hydra.node";

  double now() const { return seconds_between(start, clock->now()); }
  std::string me() const { return id_short(cfg.identity.id); }
};

using self_ptr = node_actor::stateful_pointer<node_state>;

// ---- message building -------------------------------------------------------

/// Our record, re-signed only when something in it changed.
const peer_record_data& self_record(node_state& st) {
  auto& r = st.self_record;
  const auto& c = st.cfg.caps;
  const bool same = r.pk == st.cfg.identity.pk && r.incarnation == st.cfg.incarnation && r.heartbeat == st.heartbeat &&
                    r.address == st.cfg.listen_address && r.data_address == st.cfg.data_address &&
                    r.caps.gflops == c.gflops && r.caps.cpu_limit == c.cpu_limit && r.caps.load1 == c.load1 &&
                    r.caps.idle == c.idle && r.caps.on_battery == c.on_battery &&
                    r.caps.battery_percent == c.battery_percent && r.caps.cores == c.cores &&
                    r.caps.memory_bytes == c.memory_bytes && r.caps.paused == c.paused && r.cert == st.cfg.cert;
  if (!same) {
    r.incarnation = st.cfg.incarnation;
    r.heartbeat = st.heartbeat;
    r.address = st.cfg.listen_address;
    r.data_address = st.cfg.data_address;
    r.caps = c;
    r.cert = st.cfg.cert;
    sign_record(r, st.cfg.identity);
  }
  return r;
}

void fill_self_entry(node_state& st, PeerEntry::Builder e) { write_record(self_record(st), e); }

/// Logs a refusal at most once every 10 s per reason (a hostile peer must
/// not be able to fill the log).
void log_refusal(node_state& st, const std::string& what) {
  const double now = st.now();
  auto& last = st.refusal_logged[what];
  if (last != 0 && now - last < 10) return;
  if (st.refusal_logged.size() > 4096) st.refusal_logged.clear();
  last = now;
  spdlog::warn("[{}] refused: {}", st.me(), what);
}

template <class Fill>
void send_message(node_state& st, conn_id conn, Fill&& fill) {
  capnp::MallocMessageBuilder mb;
  fill(mb.initRoot<Message>());
  st.tp->send(conn, wire::seal(st.cfg.identity, mb));
}

conn_id conn_to(node_state& st, const std::string& address) {
  auto it = st.out_conns.find(address);
  if (it != st.out_conns.end()) return it->second;
  const conn_id c = st.tp->connect(address);
  st.out_conns[address] = c;
  return c;
}

void send_hello(node_state& st, conn_id conn) {
  send_message(st, conn, [&](Message::Builder m) { fill_self_entry(st, m.initHello().initSelf()); });
}

std::vector<node_id> live_peers(node_state& st, double now) {
  std::vector<node_id> out;
  for (auto& [id, p] : st.peers)
    if (st.detector->state(id, now) != peer_state::dead) out.push_back(id);
  return out;
}

void send_gossip(node_state& st, conn_id conn, double now) {
  auto live = live_peers(st, now);
  send_message(st, conn, [&](Message::Builder m) {
    auto entries = m.initGossip().initEntries(static_cast<unsigned>(live.size() + 1));
    fill_self_entry(st, entries[0]);
    // Relayed as their subjects signed them: we cannot alter them.
    for (std::size_t i = 0; i < live.size(); ++i)
      write_record(st.peers[live[i]].signed_record, entries[static_cast<unsigned>(i + 1)]);
  });
}

// ---- membership ---------------------------------------------------------------

/// HOST:PORT with a port other than 0; the data plane also needs an IPv4
/// literal (comm/tcp_link dials no names).
bool dialable(const std::string& address, bool ipv4_literal) {
  auto a = parse_address(address);
  if (!a || a->second == 0 || a->first.empty()) return false;
  in_addr v4{};
  return !ipv4_literal || inet_pton(AF_INET, a->first.c_str(), &v4) == 1;
}

/// Whether a key with this certificate is admitted; cached per key (the
/// check verifies an operator signature).
result<trust::peer_grant> admit_key(node_state& st, const wire::public_key& pk, const std::vector<std::uint8_t>& cert) {
  if (!st.cfg.verify_peer) {
    trust::peer_grant g;
    g.pk = pk;
    g.id = wire::id_of(pk);
    g.roles = trust::all_roles;
    return g;
  }
  auto it = st.cert_cache.find(pk);
  if (it != st.cert_cache.end() && it->second.first == cert && it->second.second.not_after > 0 &&
      st.clock->unix_seconds() <= it->second.second.not_after)
    return it->second.second;
  auto g = st.cfg.verify_peer(pk, cert);
  if (!g) return g.err();
  if (st.cert_cache.size() > 65536) st.cert_cache.clear();
  st.cert_cache[pk] = {cert, *g};
  return g;
}

/// A node that sees a record of itself, signed with its own key, from a
/// later incarnation than its own (a copy of its state directory runs, or
/// its incarnation file was lost) moves past it, so its own view wins.
void refute(node_state& st, const peer_record_data& r) {
  if (r.incarnation < st.cfg.incarnation) return;
  if (r.incarnation == st.cfg.incarnation && r.heartbeat <= st.heartbeat && r.address == st.cfg.listen_address) return;
  spdlog::warn("[{}] refuting a record of this node from incarnation {} (ours {}): now {}", st.me(), r.incarnation,
               st.cfg.incarnation, r.incarnation + 1);
  st.cfg.incarnation = r.incarnation + 1;
  if (!st.cfg.state_dir.empty()) {
    std::ofstream f(st.cfg.state_dir + "/incarnation", std::ios::trunc);
    f << st.cfg.incarnation << "\n";
  }
}

/// Takes in a peer's signed record (already verified) from a hello or
/// gossip. Returns true when the peer is new to us or has restarted.
bool learn(node_state& st, const peer_record_data& rec, const trust::peer_grant& grant, double now) {
  const node_id id = wire::id_of(rec.pk);
  const std::string& address = rec.address;
  const std::uint64_t inc = rec.incarnation, hb = rec.heartbeat;
  const capabilities& caps = rec.caps;
  const std::string& data_address = rec.data_address;
  if (id == st.cfg.identity.id) {
    refute(st, rec);
    return false;
  }
  if (address.empty()) return false;
  // A record is signed by its subject, but the subject may still be wrong
  // or hostile: an address we cannot dial is refused here, once, rather
  // than handed to a trainer's data plane.
  if (!dialable(address, false) || (!data_address.empty() && !dialable(data_address, true))) {
    log_refusal(st, "peer " + id_short(id) + " advertises an unusable address ('" + address.substr(0, 64) + "', data '" +
                        data_address.substr(0, 64) + "')");
    return false;
  }
  const bool is_new = !st.peers.count(id);
  auto& p = st.peers[id];
  const bool restarted = !is_new && inc > p.incarnation;
  const bool newer = st.detector->observe(id, inc, hb, now);
  if (is_new || newer) {
    if (inc > p.incarnation) {
      if (!is_new) spdlog::info("[{}] peer {} restarted (incarnation {})", st.me(), id_short(id), inc);
      p.last_probe = -1e9;  // re-measure the link of a restarted peer
    }
    if (p.address != address && !p.address.empty()) st.out_conns.erase(p.address);
    p.signed_record = rec;
    p.grant = grant;
    p.address = address;
    p.incarnation = inc;
    p.heartbeat = hb;
    p.caps = caps;
    p.data_address = data_address;
  }
  if (st.detector->state(id, now) != peer_state::dead) {
    if (auto stale = st.table->update({id, address}, now)) {
      // Bucket full: Kademlia keeps the old contact unless it is dead.
      if (st.detector->state(stale->id, now) == peer_state::dead) st.table->replace(stale->id, {id, address}, now);
    }
  }
  if (is_new) spdlog::info("[{}] new peer {} at {}", st.me(), id_short(id), address);
  if (is_new || restarted) st.membership_changed = true;
  return is_new || restarted;
}

void start_lookup(node_state& st, const node_id& target, bool self_lookup, double now) {
  auto seeds = st.table->closest(target, st.cfg.k);
  if (seeds.empty()) return;
  const std::uint64_t rid = st.nonce++;
  st.lookups.emplace(rid,
                     pending_lookup{target, membership::lookup(target, std::move(seeds), st.cfg.k, 3), {}, self_lookup});
  (void)now;
}

void drive_lookups(node_state& st, double now) {
  for (auto it = st.lookups.begin(); it != st.lookups.end();) {
    auto& pl = it->second;
    for (auto q = pl.in_flight.begin(); q != pl.in_flight.end();) {
      if (now - q->second > query_timeout) {
        pl.search.on_failure(q->first);
        q = pl.in_flight.erase(q);
      } else {
        ++q;
      }
    }
    for (auto& c : pl.search.next_queries()) {
      pl.in_flight[c.id] = now;
      const std::uint64_t rid = it->first;
      send_message(st, conn_to(st, c.address), [&](Message::Builder m) {
        auto f = m.initFindNode();
        f.setRequestId(rid);
        f.setTarget(kj::arrayPtr(pl.target.data(), pl.target.size()));
      });
    }
    if (pl.search.done()) {
      // Contacts the lookup met become candidates: say hello, they answer.
      for (auto& c : pl.search.result())
        if (!st.peers.count(c.id) && c.id != st.cfg.identity.id) send_hello(st, conn_to(st, c.address));
      it = st.lookups.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- JSON view ------------------------------------------------------------------

std::string roles_text(const trust::peer_grant& g) {
  if (g.is_operator) return "operator";
  static const std::pair<std::uint32_t, const char*> names[] = {
      {trust::role_trainer, "trainer"}, {trust::role_collector, "collector"}, {trust::role_scorer, "scorer"},
      {trust::role_ledger, "ledger"},   {trust::role_admin, "admin"},         {trust::role_contributor, "contributor"}};
  std::string out;
  for (auto& [bit, name] : names)
    if (g.roles & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

std::string peers_json(node_state& st) {
  const double now = st.now();
  nlohmann::json list = nlohmann::json::array();
  list.push_back({{"id", id_hex(st.cfg.identity.id)},
                  {"address", st.cfg.listen_address},
                  {"data_address", st.cfg.data_address},
                  {"state", "alive"},
                  {"self", true},
                  {"incarnation", st.cfg.incarnation},
                  {"heartbeat", st.heartbeat},
                  {"last_heard_seconds", 0.0},
                  {"capabilities", to_json(st.cfg.caps)},
                  {"roles", roles_text(st.self_grant)},
                  {"site", st.self_grant.site},
                  {"cert_days_left", st.self_grant.not_after > 0
                                         ? nlohmann::json(double(st.self_grant.not_after - st.clock->unix_seconds()) / 86400.0)
                                         : nlohmann::json(nullptr)}});
  for (auto& [id, p] : st.peers) {
    const auto* rtt = st.detector->rtt(id);
    nlohmann::json j = {{"id", id_hex(id)},
                        {"address", p.address},
                        {"data_address", p.data_address},
                        {"state", membership::to_string(st.detector->state(id, now))},
                        {"self", false},
                        {"incarnation", p.incarnation},
                        {"heartbeat", p.heartbeat},
                        {"last_heard_seconds", now - st.detector->last_heard(id)},
                        {"suspect_after_seconds", st.detector->suspect_after(id)},
                        {"dead_after_seconds", st.detector->dead_after(id)},
                        {"capabilities", to_json(p.caps)},
                        {"roles", roles_text(p.grant)},
                        {"site", p.grant.site}};
    if (p.grant.is_operator || p.grant.not_after == 0)
      j["cert_days_left"] = nullptr;
    else
      j["cert_days_left"] = double(p.grant.not_after - st.clock->unix_seconds()) / 86400.0;
    j["rtt_ms"] = rtt && rtt->has_sample() ? nlohmann::json(rtt->srtt() * 1e3) : nlohmann::json(nullptr);
    j["bandwidth_mbps"] = p.bandwidth_bps > 0 ? nlohmann::json(p.bandwidth_bps * 8 / 1e6) : nlohmann::json(nullptr);
    j["public_key"] = to_hex(p.signed_record.pk);
    list.push_back(std::move(j));
  }
  list[0]["public_key"] = to_hex(st.cfg.identity.pk);
  nlohmann::json out = {{"node", id_hex(st.cfg.identity.id)},
                        {"address", st.cfg.listen_address},
                        {"routing_table_size", st.table->size()},
                        {"roles", nlohmann::json::array()},
                        {"peers", std::move(list)}};
  for (auto& [lid, a] : st.roles) out["roles"].push_back(lid);
  return out.dump();
}

/// Everything the metrics server and the status page show about this node:
/// the membership view, contributions, the ledger, the control plane's bytes.
std::string status_json(node_state& st) {
  auto parse = [](const std::string& s) { return nlohmann::json::parse(s, nullptr, false); };
  nlohmann::json out = {{"view", parse(peers_json(st))},
                        {"cpu_limit", st.cfg.caps.cpu_limit > 0 ? double(st.cfg.caps.cpu_limit) : 100.0},
                        {"ledger_replicas", st.cfg.ledger_replicas},
                        {"control_bytes_sent", st.tp ? st.tp->bytes_sent() : 0},
                        {"control_bytes_received", st.tp ? st.tp->bytes_received() : 0}};
  out["contributions"] = st.coll ? parse(st.coll->status_json()) : nlohmann::json(nullptr);
  out["ledger"] = st.ledger ? parse(st.ledger->summary_json()) : nlohmann::json(nullptr);
  out["balances"] = st.ledger ? parse(st.ledger->balances_json()) : nlohmann::json(nullptr);
  return out.dump();
}

// ---- persistence ------------------------------------------------------------------

void save_snapshot(node_state& st) {
  if (st.cfg.state_dir.empty()) return;
  capnp::MallocMessageBuilder mb;
  auto s = mb.initRoot<NodeSnapshot>();
  s.setIncarnation(st.cfg.incarnation);
  const double now = st.now();
  auto live = live_peers(st, now);
  auto list = s.initPeers(static_cast<unsigned>(live.size()));
  for (std::size_t i = 0; i < live.size(); ++i) {
    list[static_cast<unsigned>(i)].setId(kj::arrayPtr(live[i].data(), live[i].size()));
    list[static_cast<unsigned>(i)].setAddress(st.peers[live[i]].address);
  }
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  const std::string path = st.cfg.state_dir + "/node.snapshot", tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = ::write(fd, bytes.begin(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (ok) std::rename(tmp.c_str(), path.c_str());
}

std::vector<std::string> snapshot_peers(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream f(dir + "/node.snapshot", std::ios::binary);
  if (!f) return out;
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  if (bytes.empty() || bytes.size() % 8 || bytes.size() > (16u << 20)) return out;
  auto words = kj::heapArray<capnp::word>(bytes.size() / 8);
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  try {
    capnp::FlatArrayMessageReader reader(words);
    for (auto p : reader.getRoot<NodeSnapshot>().getPeers()) out.emplace_back(p.getAddress());
  } catch (const kj::Exception& e) {
    spdlog::warn("ignoring unreadable {}/node.snapshot: {}", dir, e.getDescription().cStr());
  }
  return out;
}

// ---- handlers ------------------------------------------------------------------

std::optional<std::vector<std::uint8_t>> from_hex(const std::string& h) {
  if (h.size() % 2 || h.size() > 2 * (ledger::max_payload_size + 4096)) return std::nullopt;
  std::vector<std::uint8_t> out(h.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = h[2 * i + k];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(d);
    }
    out[i] = static_cast<std::uint8_t>(v);
  }
  return out;
}

std::optional<wire::public_key> parse_hex_key(const std::string& h) {
  auto b = from_hex(h);
  if (!b || b->size() != 32) return std::nullopt;
  wire::public_key k{};
  std::memcpy(k.data(), b->data(), k.size());
  return k;
}

/// {"author": hex, "seq": last seq or -1, "hash": hex of that entry or ""}.
std::string head_json(const ledger::ledger_state& state, const wire::public_key& author) {
  const auto heads = state.heads();
  auto it = heads.find(author);
  if (it == heads.end()) return nlohmann::json({{"author", to_hex(author)}, {"seq", -1}, {"hash", ""}}).dump();
  return nlohmann::json({{"author", to_hex(author)},
                         {"seq", it->second.seq},
                         {"hash", to_hex(it->second.hash)}})
      .dump();
}

/// The roles a message kind requires of its sender (0 = any admitted peer).
std::uint32_t required_roles(Message::Which w) {
  switch (w) {
    case Message::LEDGER_HEADS:
    case Message::LEDGER_ENTRIES:
    case Message::LEDGER_ACK: return trust::role_ledger;
    case Message::CONTRIBUTE: return trust::role_contributor;
    case Message::SCORE_REQUEST:
    case Message::SAMPLES_SEEN: return trust::role_collector;
    default: return 0;
  }
}

const char* kind_name(Message::Which w) {
  switch (w) {
    case Message::LEDGER_HEADS: return "ledgerHeads";
    case Message::LEDGER_ENTRIES: return "ledgerEntries";
    case Message::LEDGER_ACK: return "ledgerAck";
    case Message::CONTRIBUTE: return "contribute";
    case Message::SCORE_REQUEST: return "scoreRequest";
    case Message::SCORE_REPLY: return "scoreReply";
    case Message::SAMPLES_SEEN: return "samplesSeen";
    case Message::CTL_REQUEST: return "ctlRequest";
    default: return "message";
  }
}

/// Commands that change the node (only `admin` holders and operators).
bool mutating_ctl(const std::string& cmd, capnp::List<capnp::Text>::Reader args) {
  if (cmd == "set") return true;
  if (cmd == "ledger" && args.size() > 0) {
    const std::string sub = args[0];
    return sub == "append" || sub == "submit";
  }
  return cmd != "peers" && cmd != "ledger" && cmd != "contributions";  // unknown ones too: the handler refuses them
}

bool any_id(const node_id& r) {
  for (auto b : r)
    if (b) return false;
  return true;
}

/// Seals a reply for the requester only (its id is the recipient).
template <class Fill>
void reply_to(node_state& st, const inbound& in, Fill&& fill) {
  capnp::MallocMessageBuilder mb;
  fill(mb.initRoot<Message>());
  wire::envelope_fields f;
  f.recipient = in.frame->sender();
  st.tp->send(in.conn, wire::seal(st.cfg.identity, mb, f));
}

void handle_frame(self_ptr self, const inbound& in) {
  auto& st = self->state;
  const double now = st.now();
  auto msg = in.frame->message();
  const node_id from = in.frame->sender();
  // The transport admits frames only on authenticated channels, and only
  // from the key the channel authenticated; roles decide the rest.
  trust::peer_grant open_grant;
  if (!in.grant) {
    open_grant.pk = in.frame->sender_key();
    open_grant.id = from;
    open_grant.roles = st.cfg.verify_peer ? 0 : trust::all_roles;
  }
  const trust::peer_grant& grant = in.grant ? *in.grant : open_grant;
  if (grant.pk != in.frame->sender_key()) {
    log_refusal(st, "frame signed by " + id_short(from) + " on a channel of " + id_short(grant.id));
    st.tp->close(in.conn);
    return;
  }
  if (const auto need = required_roles(msg.which()); need && !(grant.is_operator || (grant.roles & need))) {
    log_refusal(st, std::string(kind_name(msg.which())) + " from " + id_short(from) + ": its certificate grants " +
                        (roles_text(grant).empty() ? "no roles" : roles_text(grant)));
    return;
  }
  if ((msg.which() == Message::CTL_REQUEST || msg.which() == Message::CONTRIBUTE) &&
      any_id(in.frame->fields().recipient)) {
    log_refusal(st, std::string(kind_name(msg.which())) + " from " + id_short(from) + " names no recipient");
    return;
  }
  switch (msg.which()) {
    case Message::HELLO: {
      auto e = msg.getHello().getSelf();
      auto rec = read_record(e);
      if (!rec || rec->pk != in.frame->sender_key()) {
        log_refusal(st, "hello from " + id_short(from) + ": " + (rec ? "record of another key" : rec.err().message));
        st.tp->close(in.conn);
        return;
      }
      auto g = in.grant ? result<trust::peer_grant>(*in.grant) : admit_key(st, rec->pk, rec->cert);
      if (!g) {
        log_refusal(st, "hello from " + id_short(from) + ": " + g.err().message);
        st.tp->close(in.conn);
        return;
      }
      const bool news = learn(st, *rec, *g, now);
      if (news) {
        // A newcomer (or a restarted node): answer with who we are and
        // everyone we know, so it learns the membership in one round trip.
        // Known senders get no answer, which ends the exchange.
        send_hello(st, in.conn);
        send_gossip(st, in.conn, now);
      }
      break;
    }
    case Message::GOSSIP: {
      auto entries = msg.getGossip().getEntries();
      if (entries.size() > 4096) {
        log_refusal(st, "gossip from " + id_short(from) + " with " + std::to_string(entries.size()) + " records");
        break;
      }
      for (auto e : entries) {
        // Verify only what would change our view: stale copies are skipped.
        const node_id id = to_id(e.getInfo().getId());
        auto known = st.peers.find(id);
        if (known != st.peers.end() &&
            std::pair(e.getIncarnation(), e.getHeartbeat()) <= std::pair(known->second.incarnation, known->second.heartbeat))
          continue;
        if (id == st.cfg.identity.id && e.getIncarnation() < st.cfg.incarnation) continue;
        auto rec = read_record(e);
        if (!rec) {
          log_refusal(st, "gossip from " + id_short(from) + " about " + id_short(id) + ": " + rec.err().message);
          continue;
        }
        if (rec->pk == st.cfg.identity.pk) {
          refute(st, *rec);
          continue;
        }
        auto g = admit_key(st, rec->pk, rec->cert);
        if (!g) {
          log_refusal(st, "gossip from " + id_short(from) + " about " + id_short(id) + ": " + g.err().message);
          continue;
        }
        learn(st, *rec, *g, now);
      }
      break;
    }
    case Message::PING:
      send_message(st, in.conn, [&](Message::Builder m) { m.initPong().setNonce(msg.getPing().getNonce()); });
      break;
    case Message::PONG: {
      auto it = st.peers.find(from);
      if (it != st.peers.end() && it->second.ping_sent >= 0 && msg.getPong().getNonce() == it->second.ping_nonce) {
        st.detector->rtt_sample(from, now - it->second.ping_sent);
        it->second.ping_sent = -1;
      }
      break;
    }
    case Message::PROBE:
      send_message(st, in.conn, [&](Message::Builder m) {
        auto a = m.initProbeAck();
        a.setNonce(msg.getProbe().getNonce());
        a.setBytes(msg.getProbe().getData().size());
      });
      break;
    case Message::PROBE_ACK: {
      auto it = st.peers.find(from);
      if (it != st.peers.end() && it->second.probe_sent >= 0 && msg.getProbeAck().getNonce() == it->second.probe_nonce) {
        const auto* rtt = st.detector->rtt(from);
        const double elapsed = now - it->second.probe_sent - (rtt && rtt->has_sample() ? rtt->srtt() : 0.0);
        it->second.bandwidth_bps = double(msg.getProbeAck().getBytes()) / std::max(elapsed, 1e-6);
        it->second.probe_sent = -1;
      }
      break;
    }
    case Message::FIND_NODE: {
      const node_id target = to_id(msg.getFindNode().getTarget());
      auto closest = st.table->closest(target, st.cfg.k);
      send_message(st, in.conn, [&](Message::Builder m) {
        auto f = m.initFoundNodes();
        f.setRequestId(msg.getFindNode().getRequestId());
        auto nodes = f.initNodes(static_cast<unsigned>(closest.size()));
        for (std::size_t i = 0; i < closest.size(); ++i) {
          nodes[static_cast<unsigned>(i)].setId(kj::arrayPtr(closest[i].id.data(), closest[i].id.size()));
          nodes[static_cast<unsigned>(i)].setAddress(closest[i].address);
        }
      });
      break;
    }
    case Message::FOUND_NODES: {
      auto it = st.lookups.find(msg.getFoundNodes().getRequestId());
      if (it == st.lookups.end()) break;
      std::vector<contact> nodes;
      for (auto n : msg.getFoundNodes().getNodes()) nodes.push_back({to_id(n.getId()), n.getAddress()});
      it->second.in_flight.erase(from);
      it->second.search.on_response(from, nodes);
      drive_lookups(st, now);
      break;
    }
    case Message::CTL_REQUEST: {
      auto req = msg.getCtlRequest();
      const std::string cmd = req.getCommand();
      bool ok = true;
      std::string json;
      if (mutating_ctl(cmd, req.getArgs()) && !grant.has(trust::role_admin)) {
        log_refusal(st, "ctl " + cmd + " from " + id_short(from) + ": not an operator or admin");
        ok = false;
        json = nlohmann::json({{"error", "'" + cmd + "' needs an operator key or an admin certificate (hydra ctl --as OPDIR)"}})
                   .dump();
      } else if (cmd == "peers") {
        json = peers_json(st);
      } else if (cmd == "set" && req.getArgs().size() == 2 && std::string(req.getArgs()[0]) == "cpu-limit") {
        // Operators steer a running node: the new cap applies from the next step.
        const std::string text = req.getArgs()[1];
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != 0 || !(v >= 1 && v <= 100)) {
          ok = false;
          json = nlohmann::json({{"error", "cpu-limit must be a number from 1 to 100, not '" + text + "'"}}).dump();
        } else {
          const double old = st.cfg.caps.cpu_limit > 0 ? st.cfg.caps.cpu_limit : 100.0;
          if (st.cfg.duty) st.cfg.duty->set(v);
          st.cfg.caps.gflops *= v / old;  // the advert follows the cap
          st.cfg.caps.cpu_limit = static_cast<float>(v);
          spdlog::info("[{}] cpu-limit set to {}%", st.me(), v);
          json = nlohmann::json({{"cpu_limit", v}}).dump();
        }
      } else if (cmd == "ledger" && st.ledger) {
        const std::string sub = req.getArgs().size() ? std::string(req.getArgs()[0]) : "summary";
        if (sub == "summary") {
          json = st.ledger->summary_json();
        } else if (sub == "balances") {
          json = st.ledger->balances_json();
        } else if (sub == "head" && req.getArgs().size() == 2) {
          // An author's last entry here, so an operator can chain its own
          // entries (revocations) without keeping a replica.
          auto key = parse_hex_key(std::string(req.getArgs()[1]));
          if (!key) {
            ok = false;
            json = nlohmann::json({{"error", "ledger head AUTHOR: AUTHOR is a 64-digit hex key"}}).dump();
          } else {
            json = head_json(st.ledger->state(), *key);
          }
        } else if (sub == "submit" && req.getArgs().size() == 2) {
          // An entry its author signed elsewhere (an operator's revocation).
          auto bytes = from_hex(std::string(req.getArgs()[1]));
          auto e = bytes ? ledger::decode(*bytes) : result<ledger::entry>(make_error(errc::invalid_input, "not hex"));
          status st2 = e ? st.ledger->accept(*e) : status(e.err());
          ok = static_cast<bool>(st2);
          json = ok ? nlohmann::json({{"stored", to_hex(ledger::entry_hash(*e))}}).dump()
                    : nlohmann::json({{"error", st2.err().message}}).dump();
        } else if (sub == "append" && (req.getArgs().size() == 4 || req.getArgs().size() == 5)) {
          // Deferred: answered once the entry is acknowledged (durable on
          // min(replicas, live nodes) nodes) or its wait times out.
          const auto k = ledger::parse_kind(std::string(req.getArgs()[1]));
          const std::string amount_text = req.getArgs()[3];
          char* end = nullptr;
          const long long amount = std::strtoll(amount_text.c_str(), &end, 10);
          if (!k || end == amount_text.c_str() || *end) {
            ok = false;
            json = nlohmann::json({{"error", "usage: ledger append KIND SUBJECT AMOUNT [PAYLOAD]"}}).dump();
          } else {
            const conn_id conn = in.conn;
            const std::uint64_t rid = req.getRequestId();
            // The answer waits for the acknowledgement, which may come
            // before author() returns (one live replica): then it is sent
            // once the entry's hash is known.
            struct pending_reply {
              std::string hash;
              bool ready = false, acked = false;
              int replicas = 0;
            };
            auto pr = std::make_shared<pending_reply>();
            auto answer = [self, conn, rid, pr, to = in.frame->sender()] {
              auto& s2 = self->state;
              capnp::MallocMessageBuilder mb;
              wire::envelope_fields f;
              f.recipient = to;
              auto r = mb.initRoot<Message>().initCtlReply();
              r.setRequestId(rid);
              r.setOk(pr->acked);
              r.setJson(nlohmann::json({{"hash", pr->hash}, {"acknowledged", pr->acked}, {"replicas", pr->replicas}})
                            .dump());
              s2.tp->send(conn, wire::seal(s2.cfg.identity, mb, f));
            };
            auto e = st.ledger->author(
                *k, req.getArgs()[2], amount, req.getArgs().size() == 5 ? std::string(req.getArgs()[4]) : "{}",
                [pr, answer](bool acked, int replicas) {
                  pr->acked = acked;
                  pr->replicas = replicas;
                  pr->ready = true;
                  if (!pr->hash.empty()) answer();
                });
            if (e) {
              pr->hash = to_hex(ledger::entry_hash(*e));
              if (pr->ready) answer();
              break;  // the callback answers (or has, just above)
            }
            ok = false;
            json = nlohmann::json({{"error", e.err().message}}).dump();
          }
        } else {
          ok = false;
          json = nlohmann::json({{"error", "ledger commands: summary, balances, head AUTHOR, submit ENTRYHEX, append KIND "
                                            "SUBJECT AMOUNT [PAYLOAD]"}})
                     .dump();
        }
      } else if (cmd == "contributions" && st.coll) {
        json = st.coll->status_json();
      } else {
        ok = false;
        json = nlohmann::json(
                   {{"error", "unknown command '" + cmd +
                                  "' (try: peers, set cpu-limit PCT, ledger summary|balances|append, contributions)"}})
                   .dump();
      }
      reply_to(st, in, [&](Message::Builder m) {
        auto r = m.initCtlReply();
        r.setRequestId(req.getRequestId());
        r.setOk(ok);
        r.setJson(json);
      });
      break;
    }
    case Message::LEDGER_HEADS:
      if (st.ledger) st.ledger->on_heads(in.conn, msg.getLedgerHeads());
      break;
    case Message::LEDGER_ENTRIES:
      if (st.ledger) st.ledger->on_entries(in.conn, from, msg.getLedgerEntries());
      break;
    case Message::LEDGER_ACK:
      if (st.ledger) st.ledger->on_ack(from, msg.getLedgerAck());
      break;
    case Message::CONTRIBUTE:
      // Sealed by the contributor: the envelope's key is who is credited.
      if (st.coll) st.coll->on_contribute(in.conn, in.frame->sender_key(), msg.getContribute());
      break;
    case Message::SCORE_REQUEST:
      if (st.coll) st.coll->on_score_request(in.conn, from, msg.getScoreRequest());
      break;
    case Message::SCORE_REPLY:
      if (!grant.has(trust::role_scorer) && !grant.has(trust::role_trainer)) {
        log_refusal(st, "scoreReply from " + id_short(from) + ": not a scorer");
        break;
      }
      if (st.coll) st.coll->on_score_reply(from, msg.getScoreReply());
      break;
    case Message::SAMPLES_SEEN:
      if (st.coll) st.coll->on_samples_seen(from, msg.getSamplesSeen());
      break;
    case Message::CTL_REPLY:
    case Message::CONTRIBUTE_REPLY:
    case Message::LINK_HELLO:  // belongs to the data plane (comm/tcp_link)
      break;
    default:  // a newer peer's message kind: ignore it (docs/protocol.md)
      break;
  }
}

/// --watch DIR: every file or folder that appears in DIR (names starting
/// with '.' aside) is taken in as a contribution by this node once its size
/// has been stable for two polls; afterwards it moves to DIR/.accepted or
/// DIR/.rejected with NAME.verdict.json beside it.
void poll_watch_dir(self_ptr self) {
  auto& st = self->state;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = st.cfg.watch_dir;
  if (!fs::is_directory(dir, ec)) return;
  std::set<std::string> present;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    if (name.empty() || name[0] == '.' || st.watch_busy.count(name)) continue;
    present.insert(name);
    std::uintmax_t size = 0;
    if (f.is_directory(ec)) {
      for (const auto& g : fs::recursive_directory_iterator(f.path(), ec))
        if (g.is_regular_file(ec)) size += g.file_size(ec) + 1;
    } else {
      size = f.file_size(ec);
    }
    auto& seen = st.watch_seen[name];
    if (seen.first != size) {
      seen = {size, 0};
      continue;
    }
    if (++seen.second < 2) continue;
    st.watch_seen.erase(name);
    st.watch_busy.insert(name);
    const fs::path path = f.path();
    auto finish = [self, dir, path, name](bool ok, const std::string& verdict) {
      auto& s2 = self->state;
      std::error_code e2;
      const fs::path to = dir / (ok ? ".accepted" : ".rejected");
      fs::create_directories(to, e2);
      fs::rename(path, to / name, e2);
      std::ofstream(to / (name + ".verdict.json")) << verdict << "\n";
      s2.watch_busy.erase(name);
      spdlog::info("[{}] --watch: {} {}", s2.me(), name, ok ? "accepted" : "rejected");
    };
    auto bundle = data::read_contribution(path.string());
    if (!bundle) {
      // Unreadable as a contribution: nothing to credit or penalise.
      finish(false, nlohmann::json({{"status", "invalid"}, {"reason", bundle.err().message}}).dump());
      continue;
    }
    st.coll->submit(st.cfg.identity.pk, bundle->format, std::move(bundle->files), finish);
  }
  for (auto it = st.watch_seen.begin(); it != st.watch_seen.end();)
    it = present.count(it->first) ? std::next(it) : st.watch_seen.erase(it);
}

void on_tick(self_ptr self) {
  auto& st = self->state;
  const double now = st.now();
  ++st.heartbeat;
  ++st.ticks;

  // State changes: log them; forget the dead in the routing table.
  for (auto& [id, p] : st.peers) {
    const auto s = st.detector->state(id, now);
    if (s != p.last_state) {
      spdlog::info("[{}] peer {} is now {}", st.me(), id_short(id), membership::to_string(s));
      if (s == peer_state::dead) {
        st.table->remove(id);
        auto c = st.out_conns.find(p.address);
        if (c != st.out_conns.end()) {
          st.tp->close(c->second);
          st.out_conns.erase(c);
        }
      }
      p.last_state = s;
    }
  }

  // Gossip to a few random live peers.
  auto live = live_peers(st, now);
  for (std::size_t i = live.size(); i > 1; --i) std::swap(live[i - 1], live[st.random.below(i)]);
  const std::size_t fanout = std::min(live.size(), st.cfg.gossip_fanout);
  for (std::size_t i = 0; i < fanout; ++i) send_gossip(st, conn_to(st, st.peers[live[i]].address), now);

  // RTT pings and bandwidth probes with a budget per node that does not
  // grow with the cluster: per tick, the live peer pinged longest ago (if
  // not within ping_every), and per probe_spacing seconds one bandwidth
  // probe, to the live peer probed longest ago (if not within probe_every).
  // A small cluster keeps its old pace (every peer pinged each second,
  // probed each minute); a large one measures each link less often, never
  // every member at once.
  const peer_record* due_ping = nullptr;
  const peer_record* due_probe = nullptr;
  node_id ping_id{}, probe_id{};
  for (auto& id : live) {
    const auto& p = st.peers[id];
    if (now - p.last_ping >= ping_every && (!due_ping || p.last_ping < due_ping->last_ping)) {
      due_ping = &p;
      ping_id = id;
    }
    if (now - p.last_probe >= probe_every && (!due_probe || p.last_probe < due_probe->last_probe)) {
      due_probe = &p;
      probe_id = id;
    }
  }
  if (due_ping) {
    auto& p = st.peers[ping_id];
    p.last_ping = now;
    p.ping_sent = now;
    p.ping_nonce = st.nonce++;
    send_message(st, conn_to(st, p.address), [&](Message::Builder m) { m.initPing().setNonce(p.ping_nonce); });
  }
  if (due_probe && now - st.last_probe_sent >= probe_spacing) {
    auto& p = st.peers[probe_id];
    st.last_probe_sent = now;
    p.last_probe = now;
    p.probe_sent = now;
    p.probe_nonce = st.nonce++;
    send_message(st, conn_to(st, p.address), [&](Message::Builder m) {
      auto pr = m.initProbe();
      pr.setNonce(p.probe_nonce);
      pr.initData(probe_bytes);
    });
  }

  if (now - st.last_os_refresh >= os_refresh_every) {
    st.last_os_refresh = now;
    read_os_state(st.cfg.caps);
  }
  // Keep the snapshot fresh (at most once a second) so a node killed early
  // still knows whom to rejoin.
  if (st.membership_changed && now - st.last_save >= 1.0) {
    st.membership_changed = false;
    st.last_save = now;
    save_snapshot(st);
  }
  for (int b : st.table->stale_buckets(now, bucket_max_age)) {
    st.table->touch_bucket(b, now);
    start_lookup(st, st.table->random_id_in_bucket(b, st.random), false, now);
  }
  drive_lookups(st, now);
  if (st.ledger) st.ledger->tick();
  if (st.coll && now - st.last_service_tick >= 1.0) {
    st.last_service_tick = now;
    st.coll->tick();
  }
  if (st.coll && !st.cfg.watch_dir.empty() && now - st.last_watch >= 1.0) {
    st.last_watch = now;
    poll_watch_dir(self);
  }
  self->delayed_send(self, std::chrono::microseconds(static_cast<long>(st.cfg.gossip_interval * 1e6)), tick_atom::value);
}

/// A revocation stored in the ledger: when it is an operator's and names a
/// peer, that peer is dropped and its connections closed; the channel
/// refuses it from now on (cfg.apply_revocation adds it to the list).
void apply_revocation(node_state& st, const ledger::entry& e) {
  if (!st.cfg.apply_revocation || !st.cfg.apply_revocation(e)) return;
  auto key = parse_hex_key(e.subject);
  if (!key) return;
  const node_id id = wire::id_of(*key);
  st.cert_cache.erase(*key);
  st.tp->close_key(*key);
  auto it = st.peers.find(id);
  if (it != st.peers.end()) {
    spdlog::warn("[{}] peer {} revoked by operator {}: dropped", st.me(), id_short(id), ledger::author_short(e));
    st.out_conns.erase(it->second.address);
    st.table->remove(id);
    st.peers.erase(it);
    st.membership_changed = true;
  }
}

/// Writes this node's certificate into the ledger once (an `admission`
/// entry), so every replica can tell which roles its entries were written
/// under.
void publish_admission(node_state& st) {
  if (st.cfg.cert.empty() || !st.ledger) return;
  const std::string cert_hex = to_hex(st.cfg.cert);
  for (const auto& e : st.ledger->state().entries())
    if (e.k == ledger::kind::admission && e.author == st.cfg.identity.pk && e.payload.find(cert_hex) != std::string::npos)
      return;
  auto e = st.ledger->author(ledger::kind::admission, to_hex(st.cfg.identity.pk), 0,
                             nlohmann::json({{"cert", cert_hex}}).dump());
  if (!e) spdlog::warn("[{}] could not record this node's admission: {}", st.me(), e.err().message);
}

/// The ledger replica and the collector/scorer, wired to this actor.
void start_services(self_ptr self) {
  auto& st = self->state;
  if (st.cfg.state_dir.empty()) return;
  node_state* sp = &st;
  service_host host;
  host.send_to = [sp](const std::string& address, capnp::MallocMessageBuilder& mb) {
    sp->tp->send(conn_to(*sp, address), wire::seal(sp->cfg.identity, mb));
  };
  host.reply = [sp](conn_id c, capnp::MallocMessageBuilder& mb) { sp->tp->send(c, wire::seal(sp->cfg.identity, mb)); };
  host.live = [sp] {
    std::vector<peer_ref> out;
    for (auto& id : live_peers(*sp, sp->now())) {
      const auto& p = sp->peers[id];
      out.push_back({id, p.address, !p.data_address.empty()});
    }
    return out;
  };
  host.now = [sp] { return sp->now(); };
  auto ledger = ledger_sync::open(st.cfg.state_dir, st.cfg.identity, host, st.cfg.ledger_replicas,
                                 st.cfg.ledger_authority.get());
  if (!ledger) {
    spdlog::error("[{}] ledger disabled: {}", st.me(), ledger.err().message);
    return;
  }
  st.ledger = std::move(*ledger);
  collector_config cc;
  cc.state_dir = st.cfg.state_dir;
  cc.lie = st.cfg.lie_scores;
  cc.authority = st.cfg.ledger_authority.get();
  st.coll = std::make_unique<collector>(cc, st.cfg.identity, host, *st.ledger, st.cfg.pool, st.cfg.scorer_role);
  st.ledger->set_on_stored([sp](const ledger::entry& e) {
    if (sp->coll) sp->coll->on_ledger_entry(e);
    if (e.k == ledger::kind::revocation) apply_revocation(*sp, e);
  });
  // Revocations already in the log are in force from the start.
  for (const auto& e : st.ledger->state().entries())
    if (e.k == ledger::kind::revocation) apply_revocation(st, e);
  publish_admission(st);
}

node_actor::behavior_type node_impl(self_ptr self, node_config cfg, transport* tp) {
  auto& st = self->state;
  st.tp = tp;
  st.start = st.clock->now();
  st.random = rng(std::hash<std::string>{}(id_hex(cfg.identity.id)));
  st.table = std::make_unique<membership::routing_table>(cfg.identity.id, cfg.k);
  st.detector = std::make_unique<membership::failure_detector>(cfg.gossip_interval);
  st.cfg = std::move(cfg);
  if (st.cfg.verify_peer) {
    auto own = st.cfg.verify_peer(st.cfg.identity.pk, st.cfg.cert);
    if (own) st.self_grant = *own;
    else spdlog::error("[{}] this node's own certificate is not valid: {}", st.me(), own.err().message);
  } else {
    st.self_grant.roles = trust::all_roles;
  }
  // Join: through every --join peer, plus the peers the snapshot remembers.
  auto targets = st.cfg.join;
  for (auto& a : snapshot_peers(st.cfg.state_dir))
    if (std::find(targets.begin(), targets.end(), a) == targets.end()) targets.push_back(a);
  for (auto& a : targets)
    if (a != st.cfg.listen_address) send_hello(st, conn_to(st, a));
  start_services(self);
  self->send(self, tick_atom::value);
  // Look ourselves up once the first peers have answered: fills the buckets.
  self->delayed_send(self, std::chrono::seconds(1), lookup_atom::value);
  return {
      [=](tick_atom) { on_tick(self); },
      [=](lookup_atom) {
        auto& s = self->state;
        start_lookup(s, s.cfg.identity.id, true, s.now());
        drive_lookups(s, s.now());
      },
      [=](frame_atom, const inbound& in) {
        // A frame that passed open() is fully bounds-checked, but Cap'n
        // Proto still throws when a hostile layout makes reads exceed the
        // traversal budget: that costs the sender its connection, never
        // the node.
        try {
          handle_frame(self, in);
        } catch (const kj::Exception& e) {
          log_refusal(self->state, "frame from " + id_short(in.frame->sender()) +
                                       " could not be read: " + std::string(e.getDescription().cStr()).substr(0, 120));
          self->state.tp->close(in.conn);
        } catch (const std::exception& e) {
          log_refusal(self->state, "frame from " + id_short(in.frame->sender()) + ": " + e.what());
          self->state.tp->close(in.conn);
        }
      },
      [=](closed_atom, conn_id c, const std::string& reason) {
        auto& s = self->state;
        for (auto it = s.out_conns.begin(); it != s.out_conns.end(); ++it)
          if (it->second == c) {
            s.out_conns.erase(it);
            break;
          }
        (void)reason;
      },
      [=](peers_atom) -> std::string { return peers_json(self->state); },
      [=](status_atom) -> std::string { return status_json(self->state); },
      [=](spawn_atom, const std::string& kind) -> std::string {
        auto& s = self->state;
        std::size_t n = 0;
        while (s.roles.count(kind + "/" + std::to_string(n))) ++n;
        const std::string lid = kind + "/" + std::to_string(n);
        s.roles.emplace(lid, spawn_role(self->system(), kind, lid));
        return lid;
      },
      [=](describe_atom, const std::string& lid) -> caf::result<std::string> {
        auto& s = self->state;
        auto it = s.roles.find(lid);
        if (it == s.roles.end()) return std::string("no actor " + lid);
        return self->delegate(it->second, describe_atom::value);
      },
      [=](snapshot_atom) -> snapshot_bytes {
        save_snapshot(self->state);
        return encode_snapshot("node/" + id_short(self->state.cfg.identity.id), "node", {});
      },
      [=](credit_atom, const std::string& text) {
        // Compute credits for verified work: samples each member trained in
        // rounds that completed with every replica agreeing.
        auto& s = self->state;
        if (!s.ledger) return;
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.contains("accounts") || !j.contains("samples")) return;
        for (std::size_t i = 0; i < j["accounts"].size() && i < j["samples"].size(); ++i) {
          const auto samples = j["samples"][i].get<std::int64_t>();
          if (samples <= 0) continue;
          nlohmann::json pay = {{"samples", samples},
                                {"from_step", j.value("from_step", 0)},
                                {"to_step", j.value("to_step", 0)},
                                {"verified", "rounds completed with agreeing replicas"}};
          (void)s.ledger->author(ledger::kind::compute_credit, j["accounts"][i].get<std::string>(),
                                 samples * compute_credit_per_sample, pay.dump());
        }
      },
      [=](guest_atom, const std::string& reason) {
        // The next record we sign and gossip carries it (self_record).
        self->state.cfg.caps.paused = reason.substr(0, 400);
      },
      [=](stop_atom) {
        save_snapshot(self->state);
        for (auto& [lid, a] : self->state.roles) self->send_exit(a, caf::exit_reason::user_shutdown);
        self->quit();
      },
  };
}

}  // namespace

node_actor spawn_node(caf::actor_system& sys, node_config cfg, transport& tp) {
  return sys.spawn(node_impl, std::move(cfg), &tp);
}

transport_events forward_to(caf::actor_system& sys, node_actor node) {
  transport_events ev;
  ev.on_frame = [node](conn_id c, std::shared_ptr<wire::opened_frame> f,
                       std::shared_ptr<const trust::peer_grant> g) {
    caf::anon_send(node, frame_atom::value, inbound{c, std::move(f), std::move(g)});
  };
  ev.on_closed = [node](conn_id c, const std::string& reason) {
    caf::anon_send(node, closed_atom::value, c, reason);
  };
  ev.on_log = [](const std::string& line) { spdlog::warn("{}", line); };
  (void)sys;
  return ev;
}

result<std::uint64_t> bump_incarnation(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/incarnation";
  std::uint64_t n = 0;
  {
    std::ifstream f(path);
    if (f) f >> n;
  }
  ++n;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errc::io, path + ": cannot write: " + std::strerror(errno));
  const std::string text = std::to_string(n) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return make_error(errc::io, path + ": cannot write");
  return n;
}

}  // namespace hydra::actors
