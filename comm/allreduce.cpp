/// Ring all-reduce over n ranks (gloo's `AllreduceRing` with chunked
/// pipelining, as in `AllreduceRingChunked`).
///
/// The data is cut into n chunks, chunk c into S segments (S is the same for
/// every chunk; a short chunk has empty segments, which still travel, as
/// header-only messages). Rank r sends to r+1 and receives from r-1.
///
/// Message m < (n-1)S is reduce-scatter step s = m / S, segment j = m % S:
/// rank r sends segment j of chunk r-s (its own weighted data plus what it
/// has accumulated), and adds the same segment of chunk r-1-s, received from
/// r-1, into its data. After step n-2 rank r holds the full sum of chunk r+1,
/// divides it by the total weight, and owns it. Message m >= (n-1)S is
/// all-gather step s: rank r sends chunk r+1-s — at s = 0 its own encoded
/// chunk, afterwards the message it received at step s-1, forwarded byte for
/// byte — and decodes chunk r-s. Since every rank decodes the owner's bytes,
/// and the owner replaces its chunk with the decoding of what it sent, all
/// ranks end bit-identical whatever the codec.
///
/// Sample weights ride along: a reduce-scatter message of step s carries the
/// s+1 weights its sender knows (its own and those it received), so after
/// step n-2 every rank knows all n and sums them in rank order: the same
/// total everywhere.
///
/// Send m needs only recv m-S; sends run `window` messages ahead of receives
/// (window <= S), so each link carries the next segment while the current
/// one is reduced. A link that buffers `window` unreceived messages per peer
/// can never deadlock the ring: a rank blocked sending to r+1 has `window`
/// messages waiting there, which r+1 will receive, because r+1 cannot be
/// blocked the same way all around the ring (it would need its own send
/// `window` ahead of the receive it is blocked behind).
///
/// Error feedback: every rank encodes each chunk exactly once (n-1 chunks in
/// reduce-scatter, its own in all-gather), so one residual value per element
/// holds what its encoding dropped; it is added to the next contribution.

#include "comm/allreduce.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "comm/internal/protocol.hpp"

namespace hydra::comm {

using internal::header;
using internal::ring_io;

namespace {

constexpr std::size_t window = 2;
static_assert(window <= static_cast<std::size_t>(min_buffered_messages));
/// Segments are indexed by uint32 (topk indices, header fields).
constexpr std::size_t max_segment_elems = std::size_t{1} << 31;

/// Chunk c is [begin(c), begin(c) + len(c)); the first `rem` chunks are one longer.
struct ring_layout {
  ring_layout(std::size_t count, std::size_t n, std::size_t segment_bytes)
      : count(count),
        n(n),
        base(count / n),
        rem(count % n),
        seg(std::clamp<std::size_t>(segment_bytes / sizeof(float), 1, max_segment_elems)),
        segs(std::max<std::size_t>(1, (base + (rem ? 1 : 0) + seg - 1) / seg)) {}
  std::size_t begin(std::size_t c) const { return c * base + std::min(c, rem); }
  std::size_t len(std::size_t c) const { return base + (c < rem ? 1 : 0); }
  std::size_t count, n, base, rem, seg, segs;
};

/// What is wrong with the arguments, or "" if nothing.
std::string bad_args(const link& l, std::size_t count, double weight, const allreduce_options& opt) {
  if (l.size() < 1 || l.rank() < 0 || l.rank() >= l.size())
    return "rank " + std::to_string(l.rank()) + " of " + std::to_string(l.size());
  if (l.size() > 65535) return "more than 65535 ranks";
  if (!std::isfinite(weight) || weight < 0) return "weight " + std::to_string(weight) + " is not >= 0";
  if (opt.timeout <= clock::duration::zero()) return "timeout must be positive";
  if (opt.codec == kernels::codec_kind::topk && !(opt.topk_fraction > 0 && opt.topk_fraction <= 1))
    return "topk fraction " + std::to_string(opt.topk_fraction) + " is not in (0, 1]";
  const ring_layout lay(count, static_cast<std::size_t>(l.size()), opt.segment_bytes);
  if (2 * (lay.n - 1) * lay.segs >= std::numeric_limits<std::uint32_t>::max())
    return "segment_bytes " + std::to_string(opt.segment_bytes) + " is too small for " + std::to_string(count) +
           " values";
  return {};
}

/// One rank's contribution: data = weight * data (+ residual).
void weigh(std::span<float> data, double weight, error_feedback* ef) {
  const float w = static_cast<float>(weight);
  float* x = data.data();
  const std::size_t n = data.size();
  if (ef) {
    const float* res = ef->residual.data();
    for (std::size_t i = 0; i < n; ++i) x[i] = x[i] * w + res[i];
  } else if (w != 1.0f) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= w;
  }
}

}  // namespace

/// One run of the ring on one rank; see the top of this file.
struct ring_run {
  allreduce_engine& eng;
  ring_io& io;
  const allreduce_options& opt;
  const ring_layout& lay;
  std::span<float> data;
  error_feedback* ef;
  int r, n;
  std::size_t rs_msgs = (lay.n - 1) * lay.segs;
  internal::outbox out{eng.out_};
  double total = 0;

  int right() const { return (r + 1) % n; }
  int left() const { return (r + n - 1) % n; }
  std::size_t chunk(int offset) const { return static_cast<std::size_t>(((r + offset) % n + n) % n); }

  std::span<float> segment(std::size_t c, std::size_t j) const {
    const std::size_t len = lay.len(c), b = std::min(j * lay.seg, len), e = std::min(b + lay.seg, len);
    return data.subspan(lay.begin(c) + b, e - b);
  }

  header want(std::size_t m) const {
    header h;
    h.codec = static_cast<std::uint8_t>(opt.codec);
    h.seq = static_cast<std::uint32_t>(m);
    h.param = static_cast<std::uint32_t>(lay.seg);
    h.count = lay.count;
    return h;
  }

  status run() {
    const std::size_t total_msgs = 2 * rs_msgs, ahead = std::min(window, lay.segs);
    for (std::size_t m = 0; m < std::min(ahead, total_msgs); ++m)
      if (auto st = send(m); !st) return st;
    for (std::size_t m = 0; m < total_msgs; ++m) {
      if (auto st = recv(m); !st) return st;
      if (m + ahead < total_msgs)
        if (auto st = send(m + ahead); !st) return st;
    }
    return {};
  }

  status send(std::size_t m) {
    const std::size_t j = m % lay.segs;
    if (m < rs_msgs) return send_partial(m, m / lay.segs, j);
    if (m < rs_msgs + lay.segs) return send_owned(m, j);
    internal::set_seq(eng.held_[j], static_cast<std::uint32_t>(m));
    return io.send(right(), eng.held_[j]);
  }

  status recv(std::size_t m) {
    const std::size_t j = m % lay.segs;
    if (m < rs_msgs) return recv_partial(m, m / lay.segs, j);
    const std::size_t s = (m - rs_msgs) / lay.segs;
    auto& buf = eng.held_[j];
    auto h = io.recv(left(), buf, want(m));
    if (!h) return h.err();
    if (h->nweights != 0) return io.fail(left(), errc::invalid_input, "all-gather message carries weights");
    return decode_into(std::span(buf).subspan(sizeof(header)), segment(chunk(-static_cast<int>(s)), j), false);
  }

  // Reduce-scatter step s: chunk r-s, with the weights of ranks r, r-1, ..., r-s.
  status send_partial(std::size_t m, std::size_t s, std::size_t j) {
    auto x = segment(chunk(-static_cast<int>(s)), j);
    header h = want(m);
    h.nweights = static_cast<std::uint16_t>(s + 1);
    out.start(h);
    for (std::size_t t = 0; t <= s; ++t) {
      const double w = eng.weights_[chunk(-static_cast<int>(t))];
      std::memcpy(out.extend(sizeof w), &w, sizeof w);
    }
    if (opt.codec == kernels::codec_kind::none && !ef)  // the segment itself is the payload: no copy
      return io.send(right(), out.bytes(), std::as_bytes(std::span<const float>(x)));
    auto payload = encode(x);
    if (ef) keep_error(x, payload, 1.0, false);
    return io.send(right(), out.bytes());
  }

  // All-gather step 0: the owned chunk r+1, which this rank then replaces by
  // the decoding of what it sent.
  status send_owned(std::size_t m, std::size_t j) {
    auto x = segment(chunk(1), j);
    out.start(want(m));
    if (opt.codec == kernels::codec_kind::none && !ef)
      return io.send(right(), out.bytes(), std::as_bytes(std::span<const float>(x)));
    auto payload = encode(x);
    if (opt.codec != kernels::codec_kind::none || ef) keep_error(x, payload, total, true);
    return io.send(right(), out.bytes());
  }

  std::span<const std::byte> encode(std::span<const float> x) {
    const std::size_t size = kernels::encoded_size(opt.codec, x.size(), opt.topk_fraction);
    std::span<std::byte> payload(out.extend(size), size);
    kernels::encode_into(opt.codec, x, payload, opt.topk_fraction);
    return payload;
  }

  /// residual = (x - decode(bytes)) * scale over x's range; if `replace`,
  /// x = decode(bytes) as well.
  void keep_error(std::span<float> x, std::span<const std::byte> bytes, double scale, bool replace) {
    if (eng.decoded_.size() < x.size()) eng.decoded_.resize(x.size());  // grows only: no clearing
    std::span<float> dec(eng.decoded_.data(), x.size());
    (void)kernels::decode(opt.codec, bytes, dec);  // we just encoded it
    if (ef) {
      float* res = ef->residual.data() + (x.data() - data.data());
      const float sc = static_cast<float>(scale);
      for (std::size_t i = 0; i < x.size(); ++i) res[i] = (x[i] - dec[i]) * sc;
    }
    if (replace && !x.empty()) std::memcpy(x.data(), dec.data(), x.size() * sizeof(float));
  }

  status recv_partial(std::size_t m, std::size_t s, std::size_t j) {
    auto h = io.recv(left(), eng.in_, want(m));
    if (!h) return h.err();
    if (auto st = take_weights(*h, s); !st) return st;
    const std::size_t at = sizeof(header) + 8 * (s + 1);
    auto x = segment(chunk(-1 - static_cast<int>(s)), j);
    if (auto st = decode_into(std::span(eng.in_).subspan(at), x, true); !st) return st;
    if (s + 2 == lay.n) finish(x);
    return {};
  }

  /// Weights of ranks r-1, r-2, ..., r-1-s, as sent by r-1.
  status take_weights(const header& h, std::size_t s) {
    if (h.nweights != s + 1 || eng.in_.size() < sizeof(header) + 8 * (s + 1))
      return io.fail(left(), errc::invalid_input, "reduce-scatter message without its weights");
    for (std::size_t t = 0; t <= s; ++t) {
      double w;
      std::memcpy(&w, eng.in_.data() + sizeof(header) + 8 * t, sizeof w);
      if (!std::isfinite(w) || w < 0) return io.fail(left(), errc::invalid_input, "bad weight from upstream");
      eng.weights_[chunk(-1 - static_cast<int>(t))] = w;
    }
    return {};
  }

  status decode_into(std::span<const std::byte> payload, std::span<float> x, bool add) {
    auto st = add ? kernels::decode_add(opt.codec, payload, x) : kernels::decode(opt.codec, payload, x);
    if (!st)
      return io.fail(left(), errc::invalid_input, "from rank " + std::to_string(left()) + ": " + st.err().message);
    return {};
  }

  /// The owned chunk's sum becomes the mean (0 when no rank has weight).
  void finish(std::span<float> x) {
    if (total == 0)
      for (double w : eng.weights_) total += w;  // rank order: the same sum on every rank
    const double inv = total > 0 ? 1.0 / total : 0.0;
    for (float& v : x) v = static_cast<float>(static_cast<double>(v) * inv);
  }
};

result<allreduce_result> allreduce_engine::run(link& l, std::span<float> data, double weight,
                                               const allreduce_options& opt, error_feedback* ef) {
  failed_rank_ = -1;
  env& e = opt.env ? *opt.env : default_env();
  const int n = l.size(), r = l.rank();
  if (auto why = bad_args(l, data.size(), weight, opt); !why.empty()) {
    if (n < 2 || r < 0 || r >= n) return make_error(errc::invalid_input, "allreduce: " + why);
    // Tell the ring, so the others stop now instead of at their deadline.
    failed_rank_ = r;
    return ring_io(l, e, opt.timeout, "allreduce", (r + 1) % n).fail(r, errc::invalid_input, why);
  }
  if (ef && ef->residual.size() != data.size()) ef->residual.assign(data.size(), 0.0f);
  if (n == 1) {
    if (weight == 0)
      std::fill(data.begin(), data.end(), 0.0f);
    else if (ef) {
      for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<float>((data[i] * weight + ef->residual[i]) / weight);
      std::fill(ef->residual.begin(), ef->residual.end(), 0.0f);
    }
    return allreduce_result{0, weight};
  }
  const ring_layout lay(data.size(), static_cast<std::size_t>(n), opt.segment_bytes);
  if (held_.size() < lay.segs) held_.resize(lay.segs);
  weights_.assign(static_cast<std::size_t>(n), 0.0);
  weights_[static_cast<std::size_t>(r)] = weight;
  weigh(data, weight, ef);
  ring_io io(l, e, opt.timeout, "allreduce", (r + 1) % n);
  ring_run run{*this, io, opt, lay, data, ef, r, n};
  if (auto st = run.run(); !st) {
    failed_rank_ = io.failed_rank();
    return st.err();
  }
  return allreduce_result{io.bytes_sent(), run.total};
}

result<allreduce_result> ring_allreduce(link& l, std::span<float> data, double weight, const allreduce_options& opt) {
  allreduce_engine e;
  return e.run(l, data, weight, opt);
}

result<allreduce_result> ring_allreduce(link& l, std::span<float> data, double weight, const allreduce_options& opt,
                                        error_feedback& ef) {
  allreduce_engine e;
  return e.run(l, data, weight, opt, &ef);
}

}  // namespace hydra::comm
