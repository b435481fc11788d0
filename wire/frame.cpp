#include "wire/frame.hpp"

#include <capnp/orphan.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <cstring>
#include <sodium.h>
#include <limits>
#include <string>

#include "common/env.hpp"
#include "wire/internal/segment_table.hpp"
#include "wire/internal/validate.hpp"

namespace hydra::wire {
namespace {

using capnp::word;

/// Appends to a vector; callers reserve the full size first, so every write
/// is one memcpy.
class vector_output final : public kj::OutputStream {
 public:
  explicit vector_output(std::vector<std::uint8_t>& v) : v_(v) {}
  void write(const void* buffer, size_t size) override {
    const auto* p = static_cast<const std::uint8_t*>(buffer);
    v_.insert(v_.end(), p, p + size);
  }

 private:
  std::vector<std::uint8_t>& v_;
};

/// The signature input laid out so the payload starts on a word boundary
/// (bytes 88..): the envelope then references it in place as its own segment
/// (Orphanage::referenceExternalData) instead of copying it again.
/// Bytes 6..88 hold version (little-endian), public key, recipient, nonce and
/// expiry.
class signing_buffer {
 public:
  static constexpr std::size_t header_size = 2 + 32 + 32 + 8 + 8;
  static constexpr std::size_t payload_offset = 88;
  static constexpr std::size_t header_offset = payload_offset - header_size;

  signing_buffer(std::uint16_t version, const public_key& pk, const envelope_fields& f, std::size_t payload_size)
      : size_(payload_size),
        words_(std::make_unique_for_overwrite<std::uint64_t[]>(payload_offset / 8 + 1 + (payload_size + 7) / 8)) {
    words_[payload_offset / 8 + (payload_size + 7) / 8] = 0;  // zero the padding: it goes on the wire
    write_header(bytes() + header_offset, version, pk, f);
  }
  static void write_header(std::uint8_t* h, std::uint16_t version, const public_key& pk, const envelope_fields& f) {
    h[0] = static_cast<std::uint8_t>(version & 0xff);
    h[1] = static_cast<std::uint8_t>(version >> 8);
    std::memcpy(h + 2, pk.data(), pk.size());
    std::memcpy(h + 34, f.recipient.data(), f.recipient.size());
    for (int i = 0; i < 8; ++i) h[66 + i] = static_cast<std::uint8_t>(f.nonce >> (8 * i));
    const auto e = static_cast<std::uint64_t>(f.expires);
    for (int i = 0; i < 8; ++i) h[74 + i] = static_cast<std::uint8_t>(e >> (8 * i));
  }
  std::uint8_t* payload() { return bytes() + payload_offset; }
  std::size_t payload_size() const { return size_; }
  std::span<const std::uint8_t> signed_bytes() { return {bytes() + header_offset, header_size + size_}; }

 private:
  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(words_.get()); }
  std::size_t size_;
  std::unique_ptr<std::uint64_t[]> words_;
};

envelope_fields resolve(envelope_fields f) {
  if (f.nonce == 0) randombytes_buf(&f.nonce, sizeof f.nonce);
  if (f.expires == 0) f.expires = default_env().unix_seconds() + default_frame_ttl;
  return f;
}

bool any_recipient(const node_id& r) {
  for (auto b : r)
    if (b) return false;
  return true;
}

std::vector<std::uint8_t> seal_buffer(const identity& self, std::uint16_t version, const envelope_fields& f,
                                      signing_buffer& buf) {
  const signature sig = sign(self, buf.signed_bytes());
  capnp::MallocMessageBuilder env(32);
  auto root = env.initRoot<Envelope>();
  root.setVersion(version);
  root.setPublicKey(capnp::Data::Reader(self.pk.data(), self.pk.size()));
  root.setSignature(capnp::Data::Reader(sig.data(), sig.size()));
  if (!any_recipient(f.recipient)) root.setRecipient(capnp::Data::Reader(f.recipient.data(), f.recipient.size()));
  root.setNonce(f.nonce);
  root.setExpires(f.expires);
  if (buf.payload_size() > 0) {
    root.adoptPayload(env.getOrphanage().referenceExternalData(
        capnp::Data::Reader(buf.payload(), buf.payload_size())));
  }
  std::vector<std::uint8_t> out;
  out.reserve(capnp::computeSerializedSizeInWords(env) * sizeof(word));
  vector_output os(out);
  capnp::writeMessage(os, env);
  return out;
}

error invalid(std::string why) { return make_error(errc::invalid_input, std::move(why)); }

/// KJ's description reads "expected <condition> [<values>]; <message>":
/// keep the message when there is one. The values may quote peer bytes, so
/// the result is printable ASCII and short, safe for logs.
std::string describe(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  const auto cut = d.rfind("; ");
  if (cut != std::string::npos && cut + 2 < d.size()) d = d.substr(cut + 2);
  if (d.size() > 200) d.resize(200);
  for (auto& c : d)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return d;
}

capnp::ReaderOptions options_for(std::size_t words) {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = 8 * words + 1024;
  o.nestingLimit = 64;
  return o;
}

}  // namespace

std::vector<std::uint8_t> signing_input(std::uint16_t version, const public_key& pk,
                                        std::span<const std::uint8_t> payload, const envelope_fields& fields) {
  std::vector<std::uint8_t> in(signing_buffer::header_size);
  signing_buffer::write_header(in.data(), version, pk, fields);
  in.insert(in.end(), payload.begin(), payload.end());
  return in;
}

std::vector<std::uint8_t> seal(const identity& self, capnp::MessageBuilder& payload, const envelope_fields& fields) {
  const auto f = resolve(fields);
  const std::size_t bytes = capnp::computeSerializedSizeInWords(payload) * sizeof(word);
  signing_buffer buf(protocol_version, self.pk, f, bytes);
  kj::ArrayOutputStream os(kj::arrayPtr(reinterpret_cast<kj::byte*>(buf.payload()), bytes));
  capnp::writeMessage(os, payload);
  return seal_buffer(self, protocol_version, f, buf);
}

std::vector<std::uint8_t> seal_bytes(const identity& self,
                                     std::span<const std::uint8_t> payload_bytes,
                                     std::uint16_t version, const envelope_fields& fields) {
  const auto f = resolve(fields);
  signing_buffer buf(version, self.pk, f, payload_bytes.size());
  if (!payload_bytes.empty())
    std::memcpy(buf.payload(), payload_bytes.data(), payload_bytes.size());
  return seal_buffer(self, version, f, buf);
}

// ---------------------------------------------------------------------------

struct opened_frame::impl {
  std::vector<std::uint8_t> owned;       ///< the frame, when taken over aligned
  std::unique_ptr<std::uint64_t[]> copy;  ///< else an aligned copy
  kj::ArrayPtr<const word> words;
  std::span<const std::uint8_t> payload;  ///< inside `words`
  std::optional<capnp::FlatArrayMessageReader> reader;  ///< of `payload`
  Message::Reader message;
  public_key pk{};
  node_id id{};
  std::uint16_t version = 0;
  envelope_fields fields;
};

opened_frame::opened_frame(std::unique_ptr<impl> p) : p_(std::move(p)) {}
opened_frame::opened_frame(opened_frame&&) noexcept = default;
opened_frame& opened_frame::operator=(opened_frame&&) noexcept = default;
opened_frame::~opened_frame() = default;

const node_id& opened_frame::sender() const { return p_->id; }
const public_key& opened_frame::sender_key() const { return p_->pk; }
std::uint16_t opened_frame::version() const { return p_->version; }
const envelope_fields& opened_frame::fields() const { return p_->fields; }
Message::Reader opened_frame::message() const { return p_->message; }
std::span<const std::uint8_t> opened_frame::payload_bytes() const { return p_->payload; }
std::size_t opened_frame::frame_bytes() const { return p_->words.size() * sizeof(word); }

/// The steps of open() once the frame's bytes sit aligned in `impl::words`.
struct frame_opener {
  using impl = opened_frame::impl;

  static std::unique_ptr<impl> fresh() { return std::make_unique<impl>(); }

  /// Envelope fields: version, key and signature checks; fills pk, id,
  /// version and payload.
  static status read_envelope(impl& f, signature& sig) {
    try {
      capnp::FlatArrayMessageReader reader(f.words, options_for(f.words.size()));
      auto env = reader.getRoot<Envelope>();
      f.version = env.getVersion();
      if (f.version != protocol_version)
        return invalid("protocol version " + std::to_string(f.version) + ", expected " +
                       std::to_string(protocol_version));
      auto pk = env.getPublicKey();
      if (pk.size() != f.pk.size())
        return invalid("public key of " + std::to_string(pk.size()) + " bytes, expected 32");
      auto s = env.getSignature();
      if (s.size() != sig.size())
        return invalid("signature of " + std::to_string(s.size()) + " bytes, expected 64");
      std::memcpy(f.pk.data(), pk.begin(), pk.size());
      std::memcpy(sig.data(), s.begin(), s.size());
      auto r = env.getRecipient();
      if (r.size() != 0 && r.size() != f.fields.recipient.size())
        return invalid("recipient of " + std::to_string(r.size()) + " bytes, expected 0 or 32");
      if (r.size()) std::memcpy(f.fields.recipient.data(), r.begin(), r.size());
      f.fields.nonce = env.getNonce();
      f.fields.expires = env.getExpires();
      auto payload = env.getPayload();
      f.payload = {payload.begin(), payload.size()};
      return {};
    } catch (const kj::Exception& e) {
      return invalid("envelope does not parse: " + describe(e));
    }
  }

  static status read_payload(impl& f) {
    const auto misaligned = reinterpret_cast<std::uintptr_t>(f.payload.data()) % sizeof(word);
    if (f.payload.size() % sizeof(word) != 0 || misaligned != 0)
      return invalid("payload does not parse: " + std::to_string(f.payload.size()) +
                     " bytes is not a whole number of words");
    constexpr auto no_limit = std::numeric_limits<std::size_t>::max();  // it is inside the frame
    if (auto s = internal::check_whole_message(f.payload, no_limit, max_segments, "payload"); !s)
      return invalid("payload does not parse: " + s.err().message);
    try {
      const kj::ArrayPtr<const word> words(reinterpret_cast<const word*>(f.payload.data()),
                                           f.payload.size() / sizeof(word));
      f.reader.emplace(words, options_for(words.size()));
      f.message = f.reader->getRoot<Message>();
      internal::traverse(capnp::toDynamic(f.message));
      // The traversal spent this reader's budget; handlers get a fresh one,
      // so reading what was just traversed (at most its cost) cannot throw.
      f.reader.emplace(words, options_for(words.size()));
      f.message = f.reader->getRoot<Message>();
      return {};
    } catch (const kj::Exception& e) {
      return invalid("payload does not parse: " + describe(e));
    }
  }

  static result<opened_frame> run(std::unique_ptr<impl> f) {
    try {
      signature sig{};
      if (auto s = read_envelope(*f, sig); !s) return s.err();
      const auto input = signing_input(f->version, f->pk, f->payload, f->fields);
      if (!verify(f->pk, input, sig)) return invalid("bad signature");
      f->id = id_of(f->pk);
      if (auto s = read_payload(*f); !s) return s.err();
      return opened_frame(std::move(f));
    } catch (const std::exception& e) {  // allocation failure
      return make_error(errc::internal, std::string("opening a frame: ") + e.what());
    }
  }
};

result<opened_frame> open(std::span<const std::uint8_t> frame, std::size_t max_frame) {
  if (auto s = internal::check_whole_message(frame, max_frame, max_segments, "frame"); !s)
    return s.err();
  auto f = frame_opener::fresh();
  f->copy = std::make_unique_for_overwrite<std::uint64_t[]>(frame.size() / sizeof(word));
  std::memcpy(f->copy.get(), frame.data(), frame.size());
  f->words = {reinterpret_cast<const word*>(f->copy.get()), frame.size() / sizeof(word)};
  return frame_opener::run(std::move(f));
}

result<opened_frame> open(std::vector<std::uint8_t>&& frame, std::size_t max_frame) {
  if (reinterpret_cast<std::uintptr_t>(frame.data()) % sizeof(word) != 0)
    return open(std::span<const std::uint8_t>(frame), max_frame);
  if (auto s = internal::check_whole_message(frame, max_frame, max_segments, "frame"); !s)
    return s.err();
  auto f = frame_opener::fresh();
  f->owned = std::move(frame);
  f->words = {reinterpret_cast<const word*>(f->owned.data()), f->owned.size() / sizeof(word)};
  return frame_opener::run(std::move(f));
}

// ---------------------------------------------------------------------------

void replay_guard::expire(std::int64_t now_unix) {
  while (!expiry_.empty() && expiry_.begin()->first < now_unix) {
    const auto key = expiry_.begin()->second;
    expiry_.erase(expiry_.begin());
    seen_.erase(key);
    auto c = count_.find(key.first);
    if (c != count_.end() && --c->second == 0) count_.erase(c);
  }
}

status replay_guard::admit(const opened_frame& f, const node_id& self, std::int64_t now_unix, bool remember) {
  const auto& h = f.fields();
  if (!any_recipient(h.recipient) && h.recipient != self) return invalid("frame for another node");
  if (h.expires + skew_ < now_unix)
    return invalid("frame expired " + std::to_string(now_unix - h.expires) + " s ago");
  if (h.expires - now_unix > max_frame_ttl + skew_)
    return invalid("frame claims to live " + std::to_string(h.expires - now_unix) + " s (limit " +
                   std::to_string(max_frame_ttl) + ")");
  if (!remember) return {};
  now_unix -= skew_;
  expire(now_unix);
  const auto key = std::pair{f.sender(), h.nonce};
  if (seen_.count(key)) return invalid("replayed frame (nonce seen)");
  auto& n = count_[f.sender()];
  if (n >= per_sender_ || expiry_.size() >= total_) {
    if (n == 0) count_.erase(f.sender());
    return invalid("too many recent frames from this sender");
  }
  ++n;
  seen_.emplace(key, h.expires);
  expiry_.emplace(h.expires, key);
  return {};
}

}  // namespace hydra::wire
