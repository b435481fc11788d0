#include "comm/internal/protocol.hpp"

namespace hydra::comm::internal {
namespace {

std::string describe(const header& h) {
  return "message " + std::to_string(h.seq) + " (op " + std::to_string(static_cast<int>(h.kind)) + ", codec " +
         std::to_string(h.codec) + ", " + std::to_string(h.count) + " items, segment " + std::to_string(h.param) + ")";
}

}  // namespace

status ring_io::send(int to, std::span<const std::byte> bytes) {
  if (auto st = l_.send(to, bytes); !st) return fail(to, st.err().code, st.err().message);
  bytes_sent_ += bytes.size();
  return {};
}

status ring_io::send(int to, std::span<const std::byte> head, std::span<const std::byte> body) {
  const std::span<const std::byte> parts[2] = {head, body};
  if (auto st = l_.send_parts(to, parts); !st) return fail(to, st.err().code, st.err().message);
  bytes_sent_ += head.size() + body.size();
  return {};
}

result<header> ring_io::recv(int from, std::vector<std::byte>& buf, const header& want) {
  if (auto st = l_.recv(from, buf, env_.now() + timeout_); !st)
    return fail(from, st.err().code, "waiting for rank " + std::to_string(from) + ": " + st.err().message);
  header h;
  if (buf.size() < sizeof h) return fail(from, errc::invalid_input, "short message from rank " + std::to_string(from));
  std::memcpy(&h, buf.data(), sizeof h);
  if (h.magic != header_magic)
    return fail(from, errc::invalid_input, "message from rank " + std::to_string(from) + " is not a collective's");
  if (h.kind == op::abort) {
    const int suspect = static_cast<int>(h.count);
    const errc code =
        h.param <= static_cast<std::uint32_t>(errc::internal) ? static_cast<errc>(h.param) : errc::internal;
    return fail_from(
        static_cast<int>(h.seq), suspect, code,
        "rank " + std::to_string(h.seq) + " gave up on rank " + std::to_string(suspect) + " (" + to_string(code) + ")");
  }
  if (h.kind != want.kind || h.codec != want.codec || h.seq != want.seq || h.param != want.param ||
      h.count != want.count)
    return fail(from, errc::invalid_input,
                "rank " + std::to_string(from) + " sent " + describe(h) + ", expected " + describe(want) +
                    ": do all ranks run the same collective with the same sizes and options?");
  return h;
}

error ring_io::fail(int suspect, errc code, const std::string& why) { return fail_from(l_.rank(), suspect, code, why); }

error ring_io::fail_from(int origin, int suspect, errc code, const std::string& why) {
  failed_rank_ = suspect;
  // Best effort: the rank downstream is waiting on us; tell it instead of
  // letting it run into its own deadline. It stops forwarding at the origin.
  header h;
  h.kind = op::abort;
  h.seq = static_cast<std::uint32_t>(origin);
  h.param = static_cast<std::uint32_t>(code);
  h.count = static_cast<std::uint64_t>(suspect);
  std::byte msg[sizeof h];
  std::memcpy(msg, &h, sizeof h);
  if (downstream_ == all_peers) {
    for (int p = 0; p < l_.size(); ++p)
      if (p != origin && p != l_.rank()) (void)l_.send(p, msg);
  } else if (downstream_ >= 0 && downstream_ != origin && downstream_ != l_.rank()) {
    (void)l_.send(downstream_, msg);
  }
  return make_error(code, std::string(what_) + ": rank " + std::to_string(l_.rank()) + ": " + why);
}

}  // namespace hydra::comm::internal
