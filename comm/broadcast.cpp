/// Chain broadcast: root -> root+1 -> ... -> root-1, segment by segment, each
/// rank forwarding a segment as soon as it has it. For the large states it
/// moves (a model and its optimizer for a joiner) this costs about one
/// transfer of the data plus n-2 segments, whatever n; the root never waits.

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "comm/allreduce.hpp"
#include "comm/internal/protocol.hpp"

namespace hydra::comm {

using internal::header;

namespace {

constexpr std::size_t max_segment_bytes = std::size_t{1} << 31;

error invalid(const std::string& why) { return make_error(errc::invalid_input, "broadcast: " + why); }

/// A non-root rank: receive segment `want.seq` from `up` into `dst`, pass it on.
status relay(internal::ring_io& io, std::vector<std::byte>& buf, const header& want, int up, int down,
             std::span<std::byte> dst) {
  auto h = io.recv(up, buf, want);
  if (!h) return h.err();
  if (buf.size() != sizeof(header) + dst.size())
    return io.fail(up, errc::invalid_input,
                   "segment " + std::to_string(want.seq) + " from rank " + std::to_string(up) + " has " +
                       std::to_string(buf.size() - sizeof(header)) + " bytes, not " + std::to_string(dst.size()));
  if (!dst.empty()) std::memcpy(dst.data(), buf.data() + sizeof(header), dst.size());
  return down >= 0 ? io.send(down, buf) : status{};
}

}  // namespace

status allreduce_engine::broadcast(link& l, std::span<std::byte> data, int root, const allreduce_options& opt) {
  failed_rank_ = -1;
  const int n = l.size(), r = l.rank();
  if (n < 1 || r < 0 || r >= n) return invalid("rank " + std::to_string(r) + " of " + std::to_string(n));
  if (root < 0 || root >= n) return invalid("root " + std::to_string(root) + " is not a rank");
  if (opt.timeout <= clock::duration::zero()) return invalid("timeout must be positive");
  if (n == 1) return {};
  const std::size_t seg = std::clamp<std::size_t>(opt.segment_bytes, 1, max_segment_bytes);
  const std::size_t segs = std::max<std::size_t>(1, (data.size() + seg - 1) / seg);
  if (segs >= std::numeric_limits<std::uint32_t>::max()) return invalid("segment_bytes too small");
  const bool is_root = r == root;
  const int up = (r + n - 1) % n, down = (r + 1) % n == root ? -1 : (r + 1) % n;
  internal::ring_io io(l, opt.env ? *opt.env : default_env(), opt.timeout, "broadcast", down);
  internal::outbox out(out_);
  header want;
  want.kind = internal::op::broadcast;
  want.param = static_cast<std::uint32_t>(seg);
  want.count = data.size();
  for (std::size_t j = 0; j < segs; ++j) {
    want.seq = static_cast<std::uint32_t>(j);
    const std::size_t b = std::min(j * seg, data.size());
    auto part = data.subspan(b, std::min(seg, data.size() - b));
    status st;
    if (is_root) {
      out.start(want);
      if (!part.empty()) std::memcpy(out.extend(part.size()), part.data(), part.size());
      st = io.send(down, out.bytes());
    } else {
      st = relay(io, in_, want, up, down, part);
    }
    if (!st) {
      failed_rank_ = io.failed_rank();
      return st;
    }
  }
  return {};
}

status broadcast(link& l, std::span<std::byte> data, int root, const allreduce_options& opt) {
  allreduce_engine e;
  return e.broadcast(l, data, root, opt);
}

}  // namespace hydra::comm
