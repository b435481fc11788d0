#include "trust/channel.hpp"

#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "common/hash.hpp"
#include "trust/aead.hpp"

namespace hydra::trust {
namespace {

using bytes = std::vector<std::uint8_t>;
using digest = std::array<std::uint8_t, 32>;

constexpr std::uint16_t channel_version = 1;
constexpr std::size_t msg1_bytes = 4 + 2 + 32 + 32 + 16;
constexpr std::size_t max_record_limit = 16u << 20;

std::span<const std::uint8_t> text(const char* s) {
  return {reinterpret_cast<const std::uint8_t*>(s), std::strlen(s)};
}

void put_le(bytes& b, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

digest hash_of(std::initializer_list<std::span<const std::uint8_t>> parts) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  for (auto p : parts) crypto_generichash_update(&st, p.data(), p.size());
  digest d;
  crypto_generichash_final(&st, d.data(), d.size());
  return d;
}

error fail(std::string why) { return make_error(errc::invalid_input, "handshake: " + std::move(why)); }

}  // namespace

std::string key_short(const wire::public_key& pk) { return to_hex(std::span(pk.data(), 8)); }

// ---- records ---------------------------------------------------------------

/// One direction's key, cipher and record counter. The counter is the nonce
/// (4 zero bytes || 64-bit little endian) and is never sent.
struct direction {
  aead_key key;
  gcm cipher;
  std::uint64_t counter = 0;

  direction(const aead_key& k, bool encrypt) : key(k), cipher(k, encrypt) {}
  ~direction() { sodium_memzero(key.data(), key.size()); }

  aead_nonce nonce() const {
    aead_nonce n{};
    for (int i = 0; i < 8; ++i) n[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
    return n;
  }
  /// After every `every` records both ends replace the key by a one-way
  /// function of it, so a key seen later cannot decrypt earlier records.
  void advance(std::uint64_t every) {
    if (++counter % every == 0) {
      key = keyed_hash(key, {text("hydra rekey")});
      cipher.rekey(key);
    }
  }
};

struct secure_session::impl {
  direction tx, rx;
  std::size_t max_record;
  std::uint64_t rekey_every;
  bytes in;                      // a partial record held by open()
  std::optional<error> failed;   // receive side, sticky

  impl(const aead_key& send, const aead_key& recv, std::size_t mr, std::uint64_t every)
      : tx(send, true), rx(recv, false), max_record(mr), rekey_every(every) {}

  error receive_failure(std::string why) {
    failed = make_error(errc::invalid_input, "record " + std::to_string(rx.counter) + ": " + why);
    return *failed;
  }
};

secure_session::secure_session(std::unique_ptr<impl> p) : p_(std::move(p)) {}
secure_session::secure_session(secure_session&&) noexcept = default;
secure_session& secure_session::operator=(secure_session&&) noexcept = default;
secure_session::~secure_session() = default;

std::uint64_t secure_session::records_sent() const { return p_->tx.counter; }
std::uint64_t secure_session::records_received() const { return p_->rx.counter; }
std::size_t secure_session::max_record() const { return p_->max_record; }

std::size_t secure_session::sealed_size(std::size_t n) const {
  return n + (n + p_->max_record - 1) / p_->max_record * (4 + aead_tag_bytes);
}

void secure_session::seal(std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out) {
  const std::size_t old = out.size();
  out.resize(old + sealed_size(plain.size()));
  const std::span<const std::byte> parts[1] = {std::as_bytes(plain)};
  seal_parts(parts, reinterpret_cast<std::byte*>(out.data() + old));
}

void secure_session::seal_parts(std::span<const std::span<const std::byte>> parts, std::byte* dst_bytes) {
  auto& d = p_->tx;
  auto* dst = reinterpret_cast<std::uint8_t*>(dst_bytes);
  std::size_t left = 0;
  for (auto part : parts) left += part.size();
  std::size_t pi = 0, off = 0;  // cursor into parts
  while (left > 0) {
    // 2^64 records cannot be sent in practice (585 years at 1e9/s); reusing
    // a nonce would be far worse than stopping.
    if (d.counter == std::numeric_limits<std::uint64_t>::max()) std::abort();
    const std::size_t take = std::min(left, p_->max_record);
    const auto body = static_cast<std::uint32_t>(take + aead_tag_bytes);
    for (int i = 0; i < 4; ++i) dst[i] = static_cast<std::uint8_t>(body >> (8 * i));
    d.cipher.begin(d.nonce(), std::span<const std::uint8_t>(dst, 4));
    std::uint8_t* out = dst + 4;
    for (std::size_t need = take; need > 0;) {
      while (off == parts[pi].size()) ++pi, off = 0;
      const std::size_t k = std::min(need, parts[pi].size() - off);
      d.cipher.update(reinterpret_cast<const std::uint8_t*>(parts[pi].data()) + off, k, out);
      out += k, off += k, need -= k;
    }
    d.cipher.seal_end(out);
    d.advance(p_->rekey_every);
    dst = out + aead_tag_bytes;
    left -= take;
  }
}

result<std::size_t> secure_session::record_size(std::span<const std::uint8_t, 4> header) {
  if (p_->failed) return *p_->failed;
  const std::size_t n = get_le(header.data(), 4);
  if (n < aead_tag_bytes) return p_->receive_failure("length " + std::to_string(n) + " is shorter than a tag");
  if (n > p_->max_record + aead_tag_bytes)
    return p_->receive_failure("length " + std::to_string(n) + " exceeds limit " +
                               std::to_string(p_->max_record + aead_tag_bytes));
  return n;
}

status secure_session::open_record(std::span<const std::uint8_t, 4> header, std::span<const std::uint8_t> body,
                                   std::uint8_t* plain) {
  if (p_->failed) return *p_->failed;
  auto& d = p_->rx;
  if (body.size() < aead_tag_bytes) return p_->receive_failure("truncated");
  if (d.counter == std::numeric_limits<std::uint64_t>::max()) return p_->receive_failure("record counter exhausted");
  const std::size_t n = body.size() - aead_tag_bytes;
  d.cipher.begin(d.nonce(), header);
  d.cipher.update(body.data(), n, plain);
  if (!d.cipher.open_end(body.data() + n)) return p_->receive_failure("authentication failed");
  d.advance(p_->rekey_every);
  return {};
}

status secure_session::open(std::span<const std::uint8_t> cipher, std::vector<std::uint8_t>& plain_out) {
  auto& in = p_->in;
  auto decrypt = [&](std::span<const std::uint8_t> rec) -> status {  // rec = header || body
    const std::size_t old = plain_out.size();
    plain_out.resize(old + rec.size() - 4 - aead_tag_bytes);
    auto st = open_record(rec.first<4>(), rec.subspan(4), plain_out.data() + old);
    if (!st) plain_out.resize(old);  // never hand out unauthenticated bytes
    return st;
  };
  for (;;) {
    if (p_->failed) return *p_->failed;
    if (in.size() < 4) {
      const std::size_t k = std::min(4 - in.size(), cipher.size());
      in.insert(in.end(), cipher.begin(), cipher.begin() + k);
      cipher = cipher.subspan(k);
      if (in.size() < 4) return {};
    }
    auto n = record_size(std::span<const std::uint8_t, 4>(in.data(), 4));
    if (!n) return n.err();
    if (in.size() == 4 && cipher.size() >= *n) {  // whole body in the input: no buffering
      std::uint8_t rec_hdr[4];
      std::memcpy(rec_hdr, in.data(), 4);
      in.clear();
      const std::size_t old = plain_out.size();
      plain_out.resize(old + *n - aead_tag_bytes);
      auto st = open_record(rec_hdr, cipher.first(*n), plain_out.data() + old);
      if (!st) {
        plain_out.resize(old);
        return st;
      }
      cipher = cipher.subspan(*n);
      continue;
    }
    const std::size_t k = std::min(4 + *n - in.size(), cipher.size());
    in.insert(in.end(), cipher.begin(), cipher.begin() + k);
    cipher = cipher.subspan(k);
    if (in.size() < 4 + *n) return {};
    auto st = decrypt(in);
    in.clear();
    if (!st) return st;
  }
}

// ---- handshake -------------------------------------------------------------

struct handshake::impl {
  channel_config cfg;
  bool initiator = false;
  bool done = false;
  std::array<std::uint8_t, crypto_kx_PUBLICKEYBYTES> eph_pk{};
  std::array<std::uint8_t, crypto_kx_SECRETKEYBYTES> eph_sk{};
  aead_key kx_rx{}, kx_tx{};  // crypto_kx session keys
  bytes msg1, msg2;           // bodies, for the transcript
  bytes in, out;
  std::optional<error> failed;
  peer_grant peer;
  std::unique_ptr<secure_session::impl> session;

  ~impl() {
    sodium_memzero(eph_sk.data(), eph_sk.size());
    sodium_memzero(kx_rx.data(), kx_rx.size());
    sodium_memzero(kx_tx.data(), kx_tx.size());
  }

  void emit(const bytes& body) {
    put_le(out, body.size(), 4);
    out.insert(out.end(), body.begin(), body.end());
  }

  /// `eph || AEAD_hk(pk | u16 cert length | cert | sig over label || h)`,
  /// nonce 0 (each handshake key seals one message), AAD the length header.
  bytes identity_message(std::span<const std::uint8_t> prefix, const aead_key& hk, const char* label, const digest& h) {
    bytes inner(cfg.self->pk.begin(), cfg.self->pk.end());
    put_le(inner, cfg.cert.size(), 2);
    inner.insert(inner.end(), cfg.cert.begin(), cfg.cert.end());
    const auto l = text(label);
    bytes signed_input(l.begin(), l.end());
    signed_input.insert(signed_input.end(), h.begin(), h.end());
    const auto sig = wire::sign(*cfg.self, signed_input);
    inner.insert(inner.end(), sig.begin(), sig.end());
    bytes body(prefix.begin(), prefix.end());
    const std::size_t sealed_at = body.size();
    body.resize(sealed_at + inner.size() + aead_tag_bytes);
    bytes header;
    put_le(header, body.size(), 4);
    gcm c(hk, true);
    c.begin(aead_nonce{}, header);
    c.update(inner.data(), inner.size(), body.data() + sealed_at);
    c.seal_end(body.data() + sealed_at + inner.size());
    sodium_memzero(inner.data(), inner.size());
    return body;
  }

  /// Opens the peer's identity block, checks `expect`, the signature and the
  /// verify callback; fills `peer`.
  status admit(std::span<const std::uint8_t> sealed, std::size_t body_size, const aead_key& hk, int which,
               const char* label, const digest& h) {
    if (sealed.size() < 32 + 2 + 64 + aead_tag_bytes) return fail("message " + std::to_string(which) + " is too short");
    bytes header;
    put_le(header, body_size, 4);
    bytes inner(sealed.size() - aead_tag_bytes);
    gcm c(hk, false);
    c.begin(aead_nonce{}, header);
    c.update(sealed.data(), inner.size(), inner.data());
    if (!c.open_end(sealed.data() + inner.size()))
      return fail("message " + std::to_string(which) +
                  " does not authenticate (altered, or the peer does not hold the ephemeral keys)");
    wire::public_key pk;
    std::copy_n(inner.begin(), 32, pk.begin());
    const std::size_t cert_len = get_le(inner.data() + 32, 2);
    if (inner.size() != 32 + 2 + cert_len + 64) return fail("message " + std::to_string(which) + " is malformed");
    const std::span<const std::uint8_t> cert(inner.data() + 34, cert_len);
    wire::signature sig;
    std::copy_n(inner.begin() + 34 + cert_len, 64, sig.begin());
    if (cfg.expect && *cfg.expect != pk)
      return fail("expected key " + key_short(*cfg.expect) + ", got " + key_short(pk));
    const auto l = text(label);
    bytes signed_input(l.begin(), l.end());
    signed_input.insert(signed_input.end(), h.begin(), h.end());
    if (!wire::verify(pk, signed_input, sig)) return fail("signature of " + key_short(pk) + " does not verify");
    auto g = cfg.verify(pk, cert);
    if (!g) return make_error(g.err().code, "peer refused: " + g.err().message);
    peer = std::move(*g);
    peer.pk = pk;
    peer.id = wire::id_of(pk);
    return {};
  }

  void finish(std::span<const std::uint8_t> msg3) {
    const digest h4 = hash_of({msg1, msg2, msg3});
    session = std::make_unique<secure_session::impl>(keyed_hash(kx_tx, {text("tr"), h4}),
                                                     keyed_hash(kx_rx, {text("tr"), h4}), cfg.max_record,
                                                     cfg.rekey_every);
    done = true;
  }

  status on_msg1(std::span<const std::uint8_t> m) {
    if (m.size() != msg1_bytes || std::memcmp(m.data(), "HYS1", 4) != 0) return fail("not a Hydra channel");
    if (const auto v = get_le(m.data() + 4, 2); v != channel_version)
      return fail("channel version " + std::to_string(v) + ", expected " + std::to_string(channel_version));
    if (!std::equal(cfg.cluster.begin(), cfg.cluster.end(), m.data() + 6))
      return fail("peer is in cluster " + to_hex(m.subspan(6, 8)) + ", we are in " +
                  to_hex(std::span(cfg.cluster.data(), 8)));
    msg1.assign(m.begin(), m.end());
    crypto_kx_keypair(eph_pk.data(), eph_sk.data());
    if (crypto_kx_server_session_keys(kx_rx.data(), kx_tx.data(), eph_pk.data(), eph_sk.data(), m.data() + 38) != 0)
      return fail("bad ephemeral key");
    const digest h2 = hash_of({msg1, eph_pk});
    msg2 = identity_message(eph_pk, keyed_hash(kx_tx, {text("hs"), h2}), "hydra-hs-resp", h2);
    emit(msg2);
    return {};
  }

  status on_msg2(std::span<const std::uint8_t> m) {
    if (m.size() < 32) return fail("message 2 is too short");
    msg2.assign(m.begin(), m.end());
    if (crypto_kx_client_session_keys(kx_rx.data(), kx_tx.data(), eph_pk.data(), eph_sk.data(), m.data()) != 0)
      return fail("bad ephemeral key");
    const digest h2 = hash_of({msg1, m.first(32)});
    if (auto st = admit(m.subspan(32), m.size(), keyed_hash(kx_rx, {text("hs"), h2}), 2, "hydra-hs-resp", h2); !st)
      return st;
    const digest h3 = hash_of({msg1, msg2});
    const bytes msg3 = identity_message({}, keyed_hash(kx_tx, {text("hs"), h3}), "hydra-hs-init", h3);
    emit(msg3);
    finish(msg3);
    return {};
  }

  status on_msg3(std::span<const std::uint8_t> m) {
    const digest h3 = hash_of({msg1, msg2});
    if (auto st = admit(m, m.size(), keyed_hash(kx_rx, {text("hs"), h3}), 3, "hydra-hs-init", h3); !st) return st;
    finish(m);
    return {};
  }

  status step() {
    while (!done && in.size() >= 4) {
      const std::size_t n = get_le(in.data(), 4);
      if (n > max_handshake_message)
        return fail("message of " + std::to_string(n) + " bytes exceeds limit " + std::to_string(max_handshake_message));
      if (in.size() < 4 + n) return {};
      const bytes m(in.begin() + 4, in.begin() + 4 + static_cast<std::ptrdiff_t>(n));
      in.erase(in.begin(), in.begin() + 4 + static_cast<std::ptrdiff_t>(n));
      status st = initiator ? on_msg2(m) : msg1.empty() ? on_msg1(m) : on_msg3(m);
      if (!st) return st;
    }
    return {};
  }
};

namespace {

status check_config(const channel_config& c) {
  if (!c.self) return make_error(errc::invalid_input, "channel: no identity");
  if (!c.verify) return make_error(errc::invalid_input, "channel: no verify callback");
  if (c.cert.size() > max_cert_bytes)
    return make_error(errc::invalid_input, "channel: certificate of " + std::to_string(c.cert.size()) +
                                               " bytes exceeds limit " + std::to_string(max_cert_bytes));
  if (c.max_record == 0 || c.max_record > max_record_limit)
    return make_error(errc::invalid_input, "channel: max_record must be 1 .. 16 MiB");
  if (c.rekey_every == 0) return make_error(errc::invalid_input, "channel: rekey_every must be >= 1");
  return {};
}

}  // namespace

handshake::handshake(std::unique_ptr<impl> p) : p_(std::move(p)) {}
handshake::handshake(handshake&&) noexcept = default;
handshake& handshake::operator=(handshake&&) noexcept = default;
handshake::~handshake() = default;

result<handshake> handshake::initiator(channel_config cfg) {
  if (auto st = check_config(cfg); !st) return st.err();
  auto p = std::make_unique<impl>();
  p->cfg = std::move(cfg);
  p->initiator = true;
  crypto_kx_keypair(p->eph_pk.data(), p->eph_sk.data());
  bytes& m = p->msg1;
  m.insert(m.end(), {'H', 'Y', 'S', '1'});
  put_le(m, channel_version, 2);
  m.insert(m.end(), p->cfg.cluster.begin(), p->cfg.cluster.end());
  m.insert(m.end(), p->eph_pk.begin(), p->eph_pk.end());
  m.resize(m.size() + 16);
  randombytes_buf(m.data() + m.size() - 16, 16);
  p->emit(m);
  return handshake(std::move(p));
}

result<handshake> handshake::responder(channel_config cfg) {
  if (auto st = check_config(cfg); !st) return st.err();
  cfg.expect.reset();
  auto p = std::make_unique<impl>();
  p->cfg = std::move(cfg);
  return handshake(std::move(p));
}

std::vector<std::uint8_t> handshake::take_output() { return std::exchange(p_->out, {}); }

status handshake::feed(std::span<const std::uint8_t> b) {
  if (p_->failed) return *p_->failed;
  p_->in.insert(p_->in.end(), b.begin(), b.end());
  if (p_->done) return {};
  if (auto st = p_->step(); !st) {
    p_->failed = st.err();
    p_->out.clear();
    return st;
  }
  return {};
}

bool handshake::done() const { return p_->done; }
const peer_grant& handshake::peer() const { return p_->peer; }

secure_session handshake::take_session() {
  if (!p_->done || !p_->session) std::abort();  // precondition: done(), once
  return secure_session(std::move(p_->session));
}

std::vector<std::uint8_t> handshake::take_leftover() { return std::exchange(p_->in, {}); }

// ---- over a socket ---------------------------------------------------------

namespace {

status wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left.count(), 0, 1 << 30)));
    if (n > 0) return {};
    if (n == 0) return make_error(errc::deadline, "handshake: deadline passed");
    if (errno != EINTR) return make_error(errc::io, std::string("handshake: poll: ") + std::strerror(errno));
  }
}

}  // namespace

result<std::pair<secure_session, peer_grant>> handshake_fd(int fd, bool initiator, channel_config cfg,
                                                           std::chrono::steady_clock::time_point deadline,
                                                           std::vector<std::uint8_t>& leftover) {
  auto hs = initiator ? handshake::initiator(std::move(cfg)) : handshake::responder(std::move(cfg));
  if (!hs) return hs.err();
  std::uint8_t buf[16384];
  for (;;) {
    const bytes out = hs->take_output();
    for (std::size_t at = 0; at < out.size();) {
      if (auto st = wait_for(fd, POLLOUT, deadline); !st) return st.err();
      const ssize_t k = ::send(fd, out.data() + at, out.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (k < 0) return make_error(errc::unavailable, std::string("handshake: send: ") + std::strerror(errno));
      at += static_cast<std::size_t>(k);
    }
    if (hs->done()) break;
    if (auto st = wait_for(fd, POLLIN, deadline); !st) return st.err();
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return make_error(errc::unavailable, "handshake: peer closed the connection");
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n < 0) return make_error(errc::unavailable, std::string("handshake: recv: ") + std::strerror(errno));
    if (auto st = hs->feed(std::span(buf, static_cast<std::size_t>(n))); !st) return st.err();
  }
  leftover = hs->take_leftover();
  peer_grant g = hs->peer();
  return std::pair{hs->take_session(), std::move(g)};
}

}  // namespace hydra::trust
