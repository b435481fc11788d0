#include "actors/ledger_sync.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstring>

namespace hydra::actors {
namespace {

constexpr double round_every = 1.0;     // seconds between anti-entropy rounds
constexpr double ack_timeout = 10.0;    // an authored entry waits this long for acks

void fill_encoded(LedgerEntries::Builder b, std::uint64_t request, const std::vector<std::vector<std::uint8_t>>& es) {
  b.setRequestId(request);
  auto list = b.initEntries(static_cast<unsigned>(es.size()));
  for (std::size_t i = 0; i < es.size(); ++i) list.set(static_cast<unsigned>(i), kj::arrayPtr(es[i].data(), es[i].size()));
}

void fill_entries(LedgerEntries::Builder b, std::uint64_t request, const std::vector<ledger::entry>& es) {
  std::vector<std::vector<std::uint8_t>> encoded;
  for (const auto& e : es) encoded.push_back(ledger::encode(e));
  fill_encoded(b, request, encoded);
}

}  // namespace

std::vector<ledger::entry> decode_entries(LedgerEntries::Reader r, std::size_t& bad) {
  std::vector<ledger::entry> out;
  for (auto d : r.getEntries()) {
    auto e = ledger::decode(std::span<const std::uint8_t>(d.begin(), d.size()));
    if (e)
      out.push_back(std::move(*e));
    else
      ++bad;
  }
  return out;
}

ledger_sync::ledger_sync(ledger::ledger_log log, ledger::ledger_state st, const wire::identity& me,
                         service_host host, int replicas)
    : log_(std::move(log)), state_(std::move(st)), me_(me), host_(std::move(host)), replicas_(replicas) {
  random_ = rng(std::hash<std::string>{}(id_hex(me.id)) ^ 0x1ed9e7);
}

result<std::unique_ptr<ledger_sync>> ledger_sync::open(const std::string& dir, const wire::identity& me,
                                                       service_host host, int replicas,
                                                       const ledger::authority* auth) {
  auto log = ledger::ledger_log::open(dir + "/ledger.log");
  if (!log) return log.err();
  if (log->truncated_bytes())
    spdlog::warn("{}/ledger.log: cut off a torn tail of {} bytes (an append interrupted by a crash; it was never "
                 "acknowledged)",
                 dir, log->truncated_bytes());
  auto st = ledger::fold(log->entries(), auth);
  if (!st) return make_error(st.err().code, dir + "/ledger.log: " + st.err().message);
  auto out = std::unique_ptr<ledger_sync>(new ledger_sync(std::move(*log), std::move(*st), me, std::move(host), replicas));
  out->auth_ = auth;
  return out;
}

status ledger_sync::store(const ledger::entry& e) {
  if (auto s = state_.append(e); !s) return s;
  if (auto s = log_.append(e); !s) {
    // The state took it but the disk did not: rebuild the state from the log
    // so memory never claims more than is durable.
    auto rebuilt = ledger::fold(log_.entries(), auth_);
    if (rebuilt) state_ = std::move(*rebuilt);
    return s;
  }
  if (on_stored_) on_stored_(e);
  return {};
}

result<ledger::entry> ledger_sync::author(ledger::kind k, const std::string& subject, std::int64_t amount,
                                          const std::string& payload, ack_callback done) {
  ledger::entry e;
  e.k = k;
  e.seq = state_.next_seq(me_.pk);
  e.prev = state_.last_hash(me_.pk);
  e.subject = subject;
  e.amount = amount;
  e.payload = payload;
  e = ledger::sign(std::move(e), me_);
  if (auto s = store(e); !s) return s.err();
  const std::uint64_t req = next_request_++;
  auto& p = pending_[req];
  p.since = host_.now();
  p.done = std::move(done);
  p.last = ledger::entry_hash(e);
  for (const auto& peer : host_.live()) {
    p.sent_to.insert(peer.id);
    capnp::MallocMessageBuilder mb;
    fill_entries(mb.initRoot<Message>().initLedgerEntries(), req, {e});
    host_.send_to(peer.address, mb);
  }
  tick();  // a lone node acknowledges at once
  return e;
}

status ledger_sync::accept(const ledger::entry& e) {
  if (state_.contains(ledger::entry_hash(e))) return {};
  return store(e);
}

void ledger_sync::fill_heads(LedgerHeads::Builder b, bool reply) const {
  const auto heads = state_.heads();
  b.setReply(reply);
  auto list = b.initHeads(static_cast<unsigned>(heads.size()));
  unsigned i = 0;
  for (const auto& [author, h] : heads) {
    auto x = list[i++];
    x.setAuthor(kj::arrayPtr(author.data(), author.size()));
    x.setSeq(h.seq);
    x.setHash(kj::arrayPtr(h.hash.data(), h.hash.size()));
  }
}

void ledger_sync::send_heads(conn_id conn, bool reply) {
  capnp::MallocMessageBuilder mb;
  fill_heads(mb.initRoot<Message>().initLedgerHeads(), reply);
  host_.reply(conn, mb);
}

void ledger_sync::send_heads_to(const std::string& address) {
  capnp::MallocMessageBuilder mb;
  fill_heads(mb.initRoot<Message>().initLedgerHeads(), false);
  host_.send_to(address, mb);
}

void ledger_sync::on_heads(conn_id conn, LedgerHeads::Reader r) {
  ledger::heads_map theirs;
  bool we_lack = false;
  for (auto h : r.getHeads()) {
    if (h.getAuthor().size() != 32 || h.getHash().size() != 32) continue;
    ledger::public_key author{};
    std::memcpy(author.data(), h.getAuthor().begin(), 32);
    ledger::head hd;
    hd.seq = h.getSeq();
    std::memcpy(hd.hash.data(), h.getHash().begin(), 32);
    theirs[author] = hd;
    if (hd.seq >= state_.next_seq(author)) we_lack = true;
  }
  auto missing = state_.missing_from(theirs);
  // Batches bounded by bytes, not entries: 2048 entries at the largest
  // payload would be ~130 MiB, twice the frame limit.
  std::vector<std::vector<std::uint8_t>> part;
  std::size_t bytes = 0;
  auto flush = [&] {
    capnp::MallocMessageBuilder mb;
    fill_encoded(mb.initRoot<Message>().initLedgerEntries(), 0, part);
    host_.reply(conn, mb);
    part.clear();
    bytes = 0;
  };
  for (const auto& e : missing) {
    auto encoded = ledger::encode(e);
    if (!part.empty() && bytes + encoded.size() > max_batch_bytes) flush();
    bytes += encoded.size();
    part.push_back(std::move(encoded));
  }
  if (!part.empty()) flush();
  if (we_lack && !r.getReply()) send_heads(conn, true);
}

void ledger_sync::on_entries(conn_id conn, const node_id& from, LedgerEntries::Reader r) {
  std::size_t bad = 0;
  auto es = decode_entries(r, bad);
  std::uint32_t stored = 0;
  bool gap = false;
  for (const auto& e : es) {
    if (auto s = accept(e); s) {
      ++stored;
    } else {
      ++rejected_;
      if (s.err().message.rfind("gap", 0) == 0)
        gap = true;  // we miss earlier entries of that author: ask for them
      else
        spdlog::warn("ledger: rejected an entry from {}: {}", id_short(from), s.err().message);
    }
  }
  if (bad) {
    rejected_ += bad;
    spdlog::warn("ledger: {} undecodable entries from {}", bad, id_short(from));
  }
  if (r.getRequestId() != 0) {
    capnp::MallocMessageBuilder mb;
    auto a = mb.initRoot<Message>().initLedgerAck();
    a.setRequestId(r.getRequestId());
    a.setStored(stored);
    // Bind the ack to the request's last entry, if it is held here now.
    if (!es.empty()) {
      const auto h = ledger::entry_hash(es.back());
      if (state_.contains(h)) a.setHash(kj::arrayPtr(h.data(), h.size()));
    }
    host_.reply(conn, mb);
  }
  if (gap) send_heads(conn, false);
}

void ledger_sync::on_ack(const node_id& from, LedgerAck::Reader r) {
  auto it = pending_.find(r.getRequestId());
  if (it == pending_.end() || r.getStored() < 1) return;
  pending& p = it->second;
  const char* why = nullptr;
  if (!p.sent_to.contains(from))
    why = "it was not sent the entry";
  else if (r.getHash().size() != p.last.size() ||
           std::memcmp(r.getHash().begin(), p.last.data(), p.last.size()) != 0)
    why = "it names another entry";
  else if (!p.acked.insert(from).second)
    why = "it acked already";
  if (why) {
    spdlog::debug("ledger: ignored an ack for request {} from {}: {}", r.getRequestId(), id_short(from), why);
    return;
  }
  tick();
}

void ledger_sync::tick() {
  const double now = host_.now();
  const auto live = host_.live();
  // Acknowledgements: durable on min(replicas, 1 + live peers) nodes. Acks
  // from peers that have since died still count: the entry is on their disk.
  const int want = std::min<int>(replicas_, 1 + static_cast<int>(live.size()));
  for (auto it = pending_.begin(); it != pending_.end();) {
    const int have = 1 + static_cast<int>(it->second.acked.size());
    const bool ok = have >= want;
    if (ok || now - it->second.since > ack_timeout) {
      if (it->second.done) it->second.done(ok, have);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  if (now - last_round_ >= round_every && !live.empty()) {
    last_round_ = now;
    send_heads_to(live[random_.below(live.size())].address);
  }
}

std::string ledger_sync::summary_json() const {
  nlohmann::json heads = nlohmann::json::object();
  for (const auto& [author, h] : state_.heads()) heads[to_hex(author)] = h.seq;
  return nlohmann::json({{"entries", state_.entries().size()},
                         {"authors", state_.author_count()},
                         {"heads", heads},
                         {"rejected", rejected_},
                         {"pending_acks", pending_.size()}})
      .dump();
}

std::string ledger_sync::balances_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [subject, credits] : state_.balances()) j[subject] = credits;
  return j.dump();
}

}  // namespace hydra::actors
