#include "wire/frame.hpp"

#include <capnp/orphan.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <cstring>
#include <limits>
#include <string>

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
/// (bytes 40..): the envelope then references it in place as its own segment
/// (Orphanage::referenceExternalData) instead of copying it again.
/// Bytes 6..40 hold version (little-endian) and public key.
class signing_buffer {
 public:
  static constexpr std::size_t payload_offset = 40;
  static constexpr std::size_t header_offset = payload_offset - 2 - 32;

  signing_buffer(std::uint16_t version, const public_key& pk, std::size_t payload_size)
      : size_(payload_size),
        words_(std::make_unique_for_overwrite<std::uint64_t[]>(5 + (payload_size + 7) / 8)) {
    words_[4 + (payload_size + 7) / 8] = 0;  // zero the padding: it goes on the wire
    bytes()[header_offset] = static_cast<std::uint8_t>(version & 0xff);
    bytes()[header_offset + 1] = static_cast<std::uint8_t>(version >> 8);
    std::memcpy(bytes() + header_offset + 2, pk.data(), pk.size());
  }

  std::uint8_t* payload() { return bytes() + payload_offset; }
  std::size_t payload_size() const { return size_; }
  std::span<const std::uint8_t> signed_bytes() {
    return {bytes() + header_offset, 2 + 32 + size_};
  }

 private:
  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(words_.get()); }

  std::size_t size_;
  std::unique_ptr<std::uint64_t[]> words_;
};

std::vector<std::uint8_t> seal_buffer(const identity& self, std::uint16_t version,
                                      signing_buffer& buf) {
  const signature sig = sign(self, buf.signed_bytes());
  capnp::MallocMessageBuilder env(32);
  auto root = env.initRoot<Envelope>();
  root.setVersion(version);
  root.setPublicKey(capnp::Data::Reader(self.pk.data(), self.pk.size()));
  root.setSignature(capnp::Data::Reader(sig.data(), sig.size()));
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
                                        std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> in;
  in.reserve(2 + pk.size() + payload.size());
  in.push_back(static_cast<std::uint8_t>(version & 0xff));
  in.push_back(static_cast<std::uint8_t>(version >> 8));
  in.insert(in.end(), pk.begin(), pk.end());
  in.insert(in.end(), payload.begin(), payload.end());
  return in;
}

std::vector<std::uint8_t> seal(const identity& self, capnp::MessageBuilder& payload) {
  const std::size_t bytes = capnp::computeSerializedSizeInWords(payload) * sizeof(word);
  signing_buffer buf(protocol_version, self.pk, bytes);
  kj::ArrayOutputStream os(kj::arrayPtr(reinterpret_cast<kj::byte*>(buf.payload()), bytes));
  capnp::writeMessage(os, payload);
  return seal_buffer(self, protocol_version, buf);
}

std::vector<std::uint8_t> seal_bytes(const identity& self,
                                     std::span<const std::uint8_t> payload_bytes,
                                     std::uint16_t version) {
  signing_buffer buf(version, self.pk, payload_bytes.size());
  if (!payload_bytes.empty())
    std::memcpy(buf.payload(), payload_bytes.data(), payload_bytes.size());
  return seal_buffer(self, version, buf);
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
};

opened_frame::opened_frame(std::unique_ptr<impl> p) : p_(std::move(p)) {}
opened_frame::opened_frame(opened_frame&&) noexcept = default;
opened_frame& opened_frame::operator=(opened_frame&&) noexcept = default;
opened_frame::~opened_frame() = default;

const node_id& opened_frame::sender() const { return p_->id; }
const public_key& opened_frame::sender_key() const { return p_->pk; }
std::uint16_t opened_frame::version() const { return p_->version; }
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
      return {};
    } catch (const kj::Exception& e) {
      return invalid("payload does not parse: " + describe(e));
    }
  }

  static result<opened_frame> run(std::unique_ptr<impl> f) {
    try {
      signature sig{};
      if (auto s = read_envelope(*f, sig); !s) return s.err();
      const auto input = signing_input(f->version, f->pk, f->payload);
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

}  // namespace hydra::wire
