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
///
/// Robust ops (trimmed mean, median) cannot be summed along the ring, so the
/// first (n-1)S messages are a direct exchange instead: at step s = m / S
/// rank r sends segment j of chunk r+s+2, raw and unweighted, to its owner
/// r+s+1, and receives segment j of its own chunk r+1 from rank r-s-1. Every
/// message carries the sender's op, trim and weight (checked and recorded by
/// the receiver); a rank with weight 0 sends no values. At step n-2 segment j
/// of the owned chunk has arrived from every rank: the owner replaces it by
/// the per-coordinate statistic over the ranks with weight > 0, and the
/// all-gather above runs unchanged. Send m still needs only recv m-S, and
/// rank r receives from r-s-1 exactly the messages with the indices that
/// r-s-1 sends to r, so the window argument carries over: the rank with the
/// lowest receive index can always be served. As every rank waits on every
/// other here, a failure is passed on to all ranks, not just downstream.

#include "comm/allreduce.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "comm/internal/protocol.hpp"

namespace hydra::comm {

using internal::header;
using internal::ring_io;

const char* to_string(reduce_op op) {
  switch (op) {
    case reduce_op::mean:
      return "mean";
    case reduce_op::trimmed_mean:
      return "trimmed-mean";
    case reduce_op::median:
      return "median";
    case reduce_op::mean_around_median:
      return "mean-around-median";
    case reduce_op::filtered_mean:
      return "filtered-mean";
  }
  return "unknown";
}

std::optional<reduce_op> parse_reduce_op(std::string_view name) {
  for (auto op : {reduce_op::mean, reduce_op::trimmed_mean, reduce_op::median, reduce_op::mean_around_median,
                  reduce_op::filtered_mean})
    if (name == to_string(op)) return op;
  return std::nullopt;
}

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
  if (opt.op != reduce_op::mean && opt.op != reduce_op::trimmed_mean && opt.op != reduce_op::median &&
      opt.op != reduce_op::mean_around_median && opt.op != reduce_op::filtered_mean)
    return "unknown reduce op " + std::to_string(static_cast<int>(opt.op));
  if (opt.op != reduce_op::mean && opt.codec != kernels::codec_kind::none)
    return "robust aggregation supports codec none only";
  if (opt.trim < 0) return "trim " + std::to_string(opt.trim) + " is negative";
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

/// The trim every rank of a group of n must agree on (before clamping to
/// the contributing ranks); 0 for ops without one.
std::uint32_t resolved_trim(const allreduce_options& opt, int n) {
  if (opt.op != reduce_op::trimmed_mean && opt.op != reduce_op::mean_around_median &&
      opt.op != reduce_op::filtered_mean)
    return 0;
  if (opt.trim > 0) return static_cast<std::uint32_t>(opt.trim);
  return n >= 3 ? static_cast<std::uint32_t>(std::max(1, (n - 1) / 3)) : 0;
}

/// A total order on floats for the order statistics: NaN above everything
/// (so a rank's NaNs are trimmed like its other extreme values and the sort
/// stays well-defined).
inline bool before(float a, float b) { return a < b || (std::isnan(b) && !std::isnan(a)); }

/// Order statistics are taken over blocks of this many coordinates: row q
/// of a block holds the q-th contributing rank's values.
constexpr std::size_t stat_block = 64;
/// Up to this many contributing ranks a block is sorted by a min/max network
/// across its coordinates (vectorised); beyond, coordinate by coordinate.
constexpr std::size_t max_network_ranks = 32;

/// Sorts each of the `width` columns of the c rows (stride stat_block) with
/// odd-even transposition (c rounds sort c values). No NaN allowed.
void sort_columns(float* v, std::size_t c, std::size_t width) {
  for (std::size_t round = 0; round < c; ++round)
    for (std::size_t q = round & 1; q + 1 < c; q += 2) {
      float* __restrict a = v + q * stat_block;
      float* __restrict b = a + stat_block;
      for (std::size_t k = 0; k < width; ++k) {
        const float x = a[k], y = b[k];
        a[k] = y < x ? y : x;
        b[k] = y < x ? x : y;
      }
    }
}

/// Sorts c values (NaN last).
void sort_small(float* v, std::size_t c) {
  if (c > 24) {
    std::sort(v, v + c, before);
    return;
  }
  for (std::size_t i = 1; i < c; ++i) {
    const float x = v[i];
    std::size_t k = i;
    for (; k > 0 && before(x, v[k - 1]); --k) v[k] = v[k - 1];
    v[k] = x;
  }
}

/// x[i] = the statistic of column i of the sorted rows: the median; the
/// mean of rows [t, c - t) summed in ascending order (trimmed mean); or, for
/// mean-around-median, the mean of the c - t rows closest to the median (a
/// window [s, s + c - t) of the sorted column, s in [0, t], whose farther
/// end is nearest the median; the smallest s on ties).
void column_statistic(const float* v, std::size_t c, std::size_t t, reduce_op op, float* x, std::size_t width) {
  if (op == reduce_op::mean_around_median) {
    const std::size_t keep = c - t;
    for (std::size_t k = 0; k < width; ++k) {
      auto at = [&](std::size_t q) { return static_cast<double>(v[q * stat_block + k]); };
      const double m = c % 2 ? at(c / 2) : (at(c / 2 - 1) + at(c / 2)) * 0.5;
      // NaN sorts last and counts as infinitely far from the median.
      auto reach_of = [&](std::size_t s) {
        const double lo = m - at(s), hi = at(s + keep - 1) - m;
        return std::isnan(lo) || std::isnan(hi) ? std::numeric_limits<double>::infinity() : std::max(lo, hi);
      };
      std::size_t best = 0;
      double best_reach = reach_of(0);
      for (std::size_t s = 1; s <= t; ++s) {
        const double reach = reach_of(s);
        if (reach < best_reach) {
          best_reach = reach;
          best = s;
        }
      }
      double sum = 0;
      for (std::size_t q = best; q < best + keep; ++q) sum += at(q);
      x[k] = static_cast<float>(sum / static_cast<double>(keep));
    }
    return;
  }
  if (op == reduce_op::median) {
    const float* mid = v + (c / 2) * stat_block;
    if (c % 2) {
      std::memcpy(x, mid, width * sizeof(float));
      return;
    }
    const float* lower = mid - stat_block;
    for (std::size_t k = 0; k < width; ++k)
      x[k] = static_cast<float>((static_cast<double>(lower[k]) + static_cast<double>(mid[k])) * 0.5);
    return;
  }
  double sum[stat_block] = {};
  for (std::size_t q = t; q < c - t; ++q)
    for (std::size_t k = 0; k < width; ++k) sum[k] += v[q * stat_block + k];
  const double kept = static_cast<double>(c - 2 * t);
  for (std::size_t k = 0; k < width; ++k) x[k] = static_cast<float>(sum[k] / kept);
}

/// filtered_mean over one segment x (len values); col[q] is rank q's own
/// values (ours are x itself).
/// 1. Suspects: ranks whose segment is longer than twice the median of the
///    ranks' L2 norms (longest first), then ranks whose agreement — the mean
///    cosine with its c - t - 1 most similar peers — is not positive or is
///    below a quarter of the median agreement (least agreeing first; NaN or
///    a zero vector counts as not agreeing; ties drop the higher rank).
/// 2. Up to t suspects are dropped; a long rank that stays is scaled down
///    to twice the median norm (it cannot outweigh the others). Honest updates
///    point the same way, so a clean round drops nobody and is the mean; a
///    sign-flipped or negatively scaled update disagrees with every honest
///    one, and a minority cannot make an honest rank disagree with the
///    median of its peers.
/// 3. The rest are averaged in rank order, in double.
void filtered_segment(const float* const* col, const int* rank_of, std::size_t c, std::size_t t, float* x,
                      std::size_t len, std::vector<double>& suspicion) {
  thread_local std::vector<double> gram, agree, norm, sorted, scale, cosines;
  thread_local std::vector<std::size_t> order;
  gram.assign(c * c, 0.0);
  agree.resize(c);
  norm.resize(c);
  scale.resize(c);
  order.resize(c);
  for (std::size_t q = 0; q < c; ++q)
    for (std::size_t j = q; j < c; ++j) {
      double dot = 0;
      for (std::size_t k = 0; k < len; ++k) dot += static_cast<double>(col[q][k]) * col[j][k];
      gram[q * c + j] = gram[j * c + q] = dot;
    }
  auto median_of = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) * 0.5;
  };
  for (std::size_t q = 0; q < c; ++q) {
    norm[q] = std::sqrt(gram[q * c + q]);
    cosines.clear();
    for (std::size_t j = 0; j < c; ++j) {
      if (j == q) continue;
      const double cs = gram[q * c + j] / (std::sqrt(gram[q * c + q]) * std::sqrt(gram[j * c + j]));
      cosines.push_back(std::isfinite(cs) ? cs : -std::numeric_limits<double>::infinity());
    }
    // Its agreement with its c - t - 1 nearest peers (Krum's idea): an
    // honest rank's nearest peers are honest even when t others attack.
    std::sort(cosines.begin(), cosines.end(), std::greater<>());
    const std::size_t peers = std::max<std::size_t>(1, std::min(cosines.size(), c - std::min(t, c - 1) - 1));
    double sum = 0;
    for (std::size_t j = 0; j < peers && j < cosines.size(); ++j) sum += cosines[j];
    agree[q] = cosines.empty() ? 1.0 : sum / static_cast<double>(peers);
    if (!std::isfinite(agree[q])) agree[q] = -std::numeric_limits<double>::infinity();
    order[q] = q;
  }
  sorted.assign(norm.begin(), norm.end());
  for (auto& v : sorted)
    if (!std::isfinite(v)) v = std::numeric_limits<double>::infinity();
  const double cap = 2 * median_of(sorted);
  for (std::size_t q = 0; q < c; ++q) scale[q] = norm[q] > cap && std::isfinite(cap) ? cap / norm[q] : 1.0;
  // Suspects, most suspicious last in `order`: first every rank longer than
  // the cap (longest last), then by agreement (least agreeing last).
  sorted.assign(agree.begin(), agree.end());
  const double mid = median_of(sorted);
  auto too_long = [&](std::size_t q) { return !(norm[q] <= cap); };
  // A rank this owner has had to drop in most recent rounds stays a suspect
  // while its agreement is ambiguous (a persistent attacker is not let in
  // by a noisy round). History starts at 0: one call alone never uses it.
  auto history = [&](std::size_t q) { return suspicion[static_cast<std::size_t>(rank_of[q])]; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (too_long(a) != too_long(b)) return too_long(b);
    if (too_long(a)) return norm[a] < norm[b];
    return agree[a] - history(a) > agree[b] - history(b);
  });
  auto suspect = [&](std::size_t q) {
    return too_long(q) || !(agree[q] > 0 && agree[q] >= 0.25 * mid) || history(q) > 0.5;
  };
  std::size_t keep = c;
  while (c - keep < std::min(t, c - 1) && suspect(order[keep - 1])) --keep;
  for (std::size_t j = 0; j < c; ++j) {
    double& h = suspicion[static_cast<std::size_t>(rank_of[order[j]])];
    h = 0.9 * h + (j >= keep ? 0.1 : 0.0);
  }
  std::sort(order.begin(), order.begin() + keep);  // rank order: the same summation everywhere
  for (std::size_t k = 0; k < len; ++k) {
    double sum = 0;
    for (std::size_t j = 0; j < keep; ++j) sum += scale[order[j]] * col[order[j]][k];
    x[k] = static_cast<float>(sum / static_cast<double>(keep));
  }
}

/// True if every value is a number (not NaN or infinite): its exponent bits
/// are not all ones. GCC's -O2 cost model leaves the plain loop scalar
/// (perf: a quarter of a 16 MiB all-reduce's CPU), so it runs on 8-lane
/// vectors of the magnitude bits, keeping the largest; finite iff that is
/// below the infinity pattern.
bool all_finite(std::span<const float> x) {
  using lanes = std::uint32_t __attribute__((vector_size(32)));
  constexpr std::uint32_t inf = 0x7f800000u;
  const std::size_t n = x.size(), whole = n / 8 * 8;
  std::uint32_t worst = 0;
  for (std::size_t i = 0; i < whole;) {
    // Blocks of 4096 values, so a NaN near the start ends the scan early.
    const std::size_t end = std::min(whole, i + 4096);
    lanes m = {};
    for (; i < end; i += 8) {
      lanes v;
      std::memcpy(&v, x.data() + i, sizeof v);
      v &= 0x7fffffffu;
      m = m > v ? m : v;
    }
    for (int k = 0; k < 8; ++k) worst = std::max(worst, m[k]);
    if (worst >= inf) return false;
  }
  for (std::size_t i = whole; i < n; ++i) worst = std::max(worst, std::bit_cast<std::uint32_t>(x[i]) & 0x7fffffffu);
  return worst < inf;
}

/// The weight rank q of a group of n may claim (mean), or 0 for no bound.
double weight_bound(const allreduce_options& opt, int q, int n) {
  double b = opt.max_weight > 0 ? opt.max_weight : 0.0;
  if (static_cast<int>(opt.max_weights.size()) == n) {
    const double own = opt.max_weights[static_cast<std::size_t>(q)];
    if (own > 0) b = b > 0 ? std::min(b, own) : own;
  }
  return b;
}

std::string number(double v) {
  std::string s = std::to_string(v);
  return s.find('.') == std::string::npos ? s : s.substr(0, s.find_last_not_of('0') + 1);
}

/// Some ranks of a link as a group of their own, ranked in the order given
/// (the survivors of a round that dropped ranks). Borrows the parent.
class member_link final : public link {
 public:
  member_link(link& parent, std::vector<int> members) : parent_(parent), members_(std::move(members)) {
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (members_[i] == parent_.rank()) me_ = static_cast<int>(i);
  }
  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(members_.size()); }
  status send(int to, std::span<const std::byte> bytes) override {
    if (to < 0 || to >= size()) return make_error(errc::invalid_input, "no rank " + std::to_string(to));
    return parent_.send(members_[static_cast<std::size_t>(to)], bytes);
  }
  status send_parts(int to, std::span<const std::span<const std::byte>> parts) override {
    if (to < 0 || to >= size()) return make_error(errc::invalid_input, "no rank " + std::to_string(to));
    return parent_.send_parts(members_[static_cast<std::size_t>(to)], parts);
  }
  status recv(int from, std::vector<std::byte>& out, clock::time_point deadline) override {
    if (from < 0 || from >= size()) return make_error(errc::invalid_input, "no rank " + std::to_string(from));
    return parent_.recv(members_[static_cast<std::size_t>(from)], out, deadline);
  }
  std::uint64_t bytes_sent() const override { return parent_.bytes_sent(); }
  int parent_rank(int q) const { return q >= 0 && q < size() ? members_[static_cast<std::size_t>(q)] : -1; }

 private:
  link& parent_;
  std::vector<int> members_;
  int me_ = -1;
};

/// The header of the messages that follow a mean's ring when it had
/// trouble: index k past the ring's own 2(n-1)S messages.
header after_ring(const ring_layout& lay, const allreduce_options& opt, std::size_t k) {
  header h;
  h.codec = static_cast<std::uint8_t>(opt.codec);
  h.seq = static_cast<std::uint32_t>(2 * (lay.n - 1) * lay.segs + k);
  h.param = static_cast<std::uint32_t>(lay.seg);
  h.count = lay.count;
  return h;
}

/// Verdict flags, one byte before the blame text.
constexpr std::uint8_t verdict_self = 1, verdict_blame = 2, verdict_broken = 4;
constexpr std::size_t max_blame_text = 256;

}  // namespace

/// What one rank of a mean found wrong in a ring pass.
struct allreduce_engine::verdict {
  bool self_excluded = false;  ///< this rank's own values were not finite: it sent zeros with weight 0
  std::string blame;           ///< why the rank before this one is blamed ("" = it is not)
  bool broken = false;         ///< wrong with no one to blame here (a bad relayed weight, a non-finite result)
  bool trouble = false;        ///< some rank flagged trouble (every rank learns it from the all-gather)
  bool local() const { return self_excluded || !blame.empty() || broken; }
};

/// One run of the ring on one rank; see the top of this file.
struct ring_run {
  allreduce_engine& eng;
  ring_io& io;
  const allreduce_options& opt;
  const ring_layout& lay;
  std::span<float> data;
  error_feedback* ef;
  int r, n;
  allreduce_engine::verdict& v;
  std::size_t rs_msgs = (lay.n - 1) * lay.segs;
  internal::outbox out{eng.out_};
  double total = 0;
  bool robust = opt.op != reduce_op::mean;
  std::uint32_t trim = resolved_trim(opt, n);
  std::vector<const float*> contributors{};
  std::vector<int> contributor_ranks{};

  int right() const { return (r + 1) % n; }
  int left() const { return (r + n - 1) % n; }
  std::size_t chunk(int offset) const { return static_cast<std::size_t>(((r + offset) % n + n) % n); }

  std::span<float> segment(std::size_t c, std::size_t j) const {
    const std::size_t len = lay.len(c), b = std::min(j * lay.seg, len), e = std::min(b + lay.seg, len);
    return data.subspan(lay.begin(c) + b, e - b);
  }

  header want(std::size_t m) const {
    header h;
    if (robust && m < rs_msgs) h.kind = internal::op::robust_exchange;
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
    if (m < rs_msgs) return robust ? send_exchange(m, m / lay.segs, j) : send_partial(m, m / lay.segs, j);
    if (m < rs_msgs + lay.segs) return send_owned(m, j);
    internal::set_seq(eng.held_[j], static_cast<std::uint32_t>(m));
    return io.send(right(), eng.held_[j]);
  }

  status recv(std::size_t m) {
    const std::size_t j = m % lay.segs;
    if (m < rs_msgs) return robust ? recv_exchange(m, m / lay.segs, j) : recv_partial(m, m / lay.segs, j);
    const std::size_t s = (m - rs_msgs) / lay.segs;
    auto& buf = eng.held_[j];
    auto h = io.recv(left(), buf, want(m));
    if (!h) return h.err();
    // nweights of an all-gather message is its owner's trouble flag (mean).
    if (h->nweights > 1) return io.fail(left(), errc::invalid_input, "all-gather message carries weights");
    if (h->nweights == 1) v.trouble = true;
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
    header h = want(m);
    // The owner's last segment goes out after every reduce-scatter receive
    // (send m follows recv m - window), so its flag says all this rank found.
    h.nweights = v.local() ? 1 : 0;
    out.start(h);
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
    // Our own values are finite (checked on entry) and an honest left
    // neighbour forwards no non-finite sums: blame it, and forward zeros so
    // that no one further down blames an honest rank. The round is redone.
    if (!all_finite(x)) {
      if (v.blame.empty()) v.blame = "sent non-finite values";
      std::fill(x.begin(), x.end(), 0.0f);
    }
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
      const std::size_t q = chunk(-1 - static_cast<int>(t));
      const double cap = weight_bound(opt, static_cast<int>(q), n);
      if (!std::isfinite(w) || w < 0 || (cap > 0 && w > cap)) {
        // The first weight is the sender's own; the others it relays (an
        // honest relay has already replaced a bad one by 0).
        if (t > 0)
          v.broken = true;
        else if (v.blame.empty())
          v.blame = "claimed weight " + number(w) +
                    (cap > 0 && w > cap ? ", more than its share " + number(cap) : std::string(", not >= 0"));
        w = 0;
      }
      eng.weights_[q] = w;
    }
    return {};
  }

  status decode_into(std::span<const std::byte> payload, std::span<float> x, bool add) {
    auto st = add ? kernels::decode_add(opt.codec, payload, x) : kernels::decode(opt.codec, payload, x);
    if (!st)
      return io.fail(left(), errc::invalid_input, "from rank " + std::to_string(left()) + ": " + st.err().message);
    return {};
  }

  // Robust exchange step s: segment j of chunk r+s+2, raw, to its owner r+s+1.
  status send_exchange(std::size_t m, std::size_t s, std::size_t j) {
    const int to = static_cast<int>(chunk(static_cast<int>(s) + 1));
    auto x = segment(chunk(static_cast<int>(s) + 2), j);
    header h = want(m);
    h.nweights = 1;
    out.start(h);
    const internal::robust_descriptor d{static_cast<std::uint32_t>(opt.op), trim,
                                        eng.weights_[static_cast<std::size_t>(r)]};
    std::memcpy(out.extend(sizeof d), &d, sizeof d);
    if (d.weight == 0) return io.send(to, out.bytes());  // excluded anyway: no values
    return io.send(to, out.bytes(), std::as_bytes(std::span<const float>(x)));
  }

  // Robust exchange step s: segment j of the owned chunk r+1, from rank r-s-1.
  status recv_exchange(std::size_t m, std::size_t s, std::size_t j) {
    const int from = static_cast<int>(chunk(-1 - static_cast<int>(s)));
    auto h = io.recv(from, eng.in_, want(m));
    if (!h) return h.err();
    internal::robust_descriptor d;
    if (h->nweights != 1 || eng.in_.size() < sizeof(header) + sizeof d)
      return io.fail(from, errc::invalid_input, "robust exchange message without its descriptor");
    std::memcpy(&d, eng.in_.data() + sizeof(header), sizeof d);
    if (d.reduce_op != static_cast<std::uint32_t>(opt.op) || d.trim != trim)
      return io.fail(from, errc::invalid_input,
                     "rank " + std::to_string(from) + " reduces with " +
                         (d.reduce_op <= 2 ? to_string(static_cast<reduce_op>(d.reduce_op)) : "an unknown op") +
                         " trim " + std::to_string(d.trim) + ", this rank with " + to_string(opt.op) + " trim " +
                         std::to_string(trim) + ": all ranks must pass the same reduce op and trim");
    double& w = eng.weights_[static_cast<std::size_t>(from)];
    if (!std::isfinite(d.weight) || d.weight < 0 || (j > 0 && d.weight != w))
      return io.fail(from, errc::invalid_input, "bad weight from rank " + std::to_string(from));
    w = d.weight;
    const std::size_t c = chunk(1), len = lay.len(c), b = std::min(j * lay.seg, len), e = std::min(b + lay.seg, len);
    const std::size_t bytes = w > 0 ? (e - b) * sizeof(float) : 0;
    if (eng.in_.size() != sizeof(header) + sizeof d + bytes)
      return io.fail(from, errc::invalid_input,
                     "robust exchange message from rank " + std::to_string(from) + " has " +
                         std::to_string(eng.in_.size() - sizeof(header) - sizeof d) + " value bytes, expected " +
                         std::to_string(bytes));
    if (bytes)
      std::memcpy(eng.columns_.data() + static_cast<std::size_t>(from) * len + b,
                  eng.in_.data() + sizeof(header) + sizeof d, bytes);
    if (s + 2 == lay.n) reduce_owned(j, len, b);
    return {};
  }

  /// Segment j (at b in the owned chunk of length len) has arrived from
  /// every rank: replace it by the statistic over the ranks with weight.
  void reduce_owned(std::size_t j, std::size_t len, std::size_t b) {
    auto x = segment(chunk(1), j);
    if (total == 0)
      for (double w : eng.weights_) total += w;  // rank order: the same sum on every rank
    contributors.clear();
    contributor_ranks.clear();
    for (int p = 0; p < n; ++p)
      if (eng.weights_[static_cast<std::size_t>(p)] > 0) {
        contributors.push_back(p == r ? x.data() : eng.columns_.data() + static_cast<std::size_t>(p) * len + b);
        contributor_ranks.push_back(p);
      }
    const std::size_t c = contributors.size();
    if (c == 0) {
      std::fill(x.begin(), x.end(), 0.0f);
      return;
    }
    // Keep c - 2t >= 1 values.
    // Keep c - 2t >= 1 values (trimmed mean) or c - t >= 1 (mean around median).
    const std::size_t t = opt.op == reduce_op::trimmed_mean ? std::min<std::size_t>(trim, (c - 1) / 2)
                          : opt.op == reduce_op::mean_around_median || opt.op == reduce_op::filtered_mean
                              ? std::min<std::size_t>(trim, c - 1)
                              : 0;
    const float* const* col = contributors.data();
    if (opt.op == reduce_op::filtered_mean) {
      // Reads every rank's values (ours are x itself) before writing x[k].
      if (eng.suspicion_.size() != static_cast<std::size_t>(n)) eng.suspicion_.assign(static_cast<std::size_t>(n), 0.0);
      filtered_segment(col, contributor_ranks.data(), c, t, x.data(), x.size(), eng.suspicion_);
      return;
    }
    float* v = eng.sort_.data();  // c rows of stat_block
    for (std::size_t i0 = 0; i0 < x.size(); i0 += stat_block) {
      const std::size_t width = std::min(stat_block, x.size() - i0);
      bool nan = false;
      for (std::size_t q = 0; q < c; ++q) {
        float* row = v + q * stat_block;
        std::memcpy(row, col[q] + i0, width * sizeof(float));
        for (std::size_t k = 0; k < width; ++k) nan |= row[k] != row[k];
      }
      if (c <= max_network_ranks && !nan) {
        sort_columns(v, c, width);
      } else {  // column by column, in the scratch row after the block
        float* tmp = v + c * stat_block;
        for (std::size_t k = 0; k < width; ++k) {
          for (std::size_t q = 0; q < c; ++q) tmp[q] = v[q * stat_block + k];
          sort_small(tmp, c);
          for (std::size_t q = 0; q < c; ++q) v[q * stat_block + k] = tmp[q];
        }
      }
      column_statistic(v, c, t, opt.op, x.data() + i0, width);
    }
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
  if (opt.op == reduce_op::mean) return run_checked(l, data, weight, opt, ef);
  verdict v;
  return run_ring(l, data, weight, opt, ef, v);
}

result<allreduce_result> allreduce_engine::run_ring(link& l, std::span<float> data, double weight,
                                                    const allreduce_options& opt, error_feedback* ef, verdict& v) {
  failed_rank_ = -1;
  env& e = opt.env ? *opt.env : default_env();
  const int n = l.size(), r = l.rank();
  const bool robust = opt.op != reduce_op::mean;
  if (auto why = bad_args(l, data.size(), weight, opt); !why.empty()) {
    if (n < 2 || r < 0 || r >= n) return make_error(errc::invalid_input, "allreduce: " + why);
    // Tell the ring (or, for robust ops, everyone), so the others stop now
    // instead of at their deadline.
    failed_rank_ = r;
    return ring_io(l, e, opt.timeout, "allreduce", robust ? internal::all_peers : (r + 1) % n)
        .fail(r, errc::invalid_input, why);
  }
  if (!robust) {
    if (static_cast<int>(opt.max_weights.size()) != n && !opt.max_weights.empty()) {
      const std::string why = "max_weights has " + std::to_string(opt.max_weights.size()) + " entries for " +
                              std::to_string(n) + " ranks";
      if (n < 2) return make_error(errc::invalid_input, "allreduce: " + why);
      failed_rank_ = r;
      return ring_io(l, e, opt.timeout, "allreduce", (r + 1) % n).fail(r, errc::invalid_input, why);
    }
    const double cap = weight_bound(opt, r, n);
    if (cap > 0) weight = std::min(weight, cap);  // our own claim, within our share
  }
  if (ef && ef->residual.size() != data.size()) ef->residual.assign(data.size(), 0.0f);
  if (robust && ef && weight > 0) {
    // Residuals are in weighted-sum units; the robust ops take raw values.
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(data[i] + ef->residual[i] / weight);
    std::fill(ef->residual.begin(), ef->residual.end(), 0.0f);
  }
  if (n == 1) {
    if (!robust && (!all_finite(data) || (ef && !all_finite(ef->residual)))) {
      std::fill(data.begin(), data.end(), 0.0f);
      if (ef) std::fill(ef->residual.begin(), ef->residual.end(), 0.0f);
      allreduce_result res{0, 0.0, {{0, "its own values are not finite"}}};
      if (opt.on_dropped) opt.on_dropped(0, res.dropped[0].why);
      return res;
    }
    if (weight == 0)
      std::fill(data.begin(), data.end(), 0.0f);
    else if (ef && !robust) {
      for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<float>((data[i] * weight + ef->residual[i]) / weight);
      std::fill(ef->residual.begin(), ef->residual.end(), 0.0f);
    }
    return allreduce_result{0, weight, {}};
  }
  const ring_layout lay(data.size(), static_cast<std::size_t>(n), opt.segment_bytes);
  if (held_.size() < lay.segs) held_.resize(lay.segs);
  weights_.assign(static_cast<std::size_t>(n), 0.0);
  if (robust) {
    // Grow only: every value read is written first.
    const std::size_t cols = static_cast<std::size_t>(n) * lay.len(static_cast<std::size_t>((r + 1) % n));
    if (columns_.size() < cols) columns_.resize(cols);
    // n rows of a block of coordinates and one for sorting a column (n <= stat_block or not).
    const std::size_t scratch = static_cast<std::size_t>(n) * stat_block + std::max<std::size_t>(n, stat_block);
    if (sort_.size() < scratch) sort_.resize(scratch);
  } else {
    weigh(data, weight, ef);
    if (!all_finite(data)) {  // NaN or Inf in our values (or the weighting overflowed): send zeros
      v.self_excluded = true;
      weight = 0;
      std::fill(data.begin(), data.end(), 0.0f);
      if (ef) std::fill(ef->residual.begin(), ef->residual.end(), 0.0f);
    }
  }
  weights_[static_cast<std::size_t>(r)] = weight;
  ring_io io(l, e, opt.timeout, "allreduce", robust ? internal::all_peers : (r + 1) % n);
  ring_run run{*this, io, opt, lay, data, robust ? nullptr : ef, r, n, v};
  if (auto st = run.run(); !st) {
    failed_rank_ = io.failed_rank();
    return st.err();
  }
  if (!robust) {
    if (!all_finite(data)) v.broken = true;  // the same bytes on every rank: the same finding
    v.trouble = v.trouble || v.local();
  }
  return allreduce_result{io.bytes_sent(), run.total, {}};
}

namespace {

/// Every rank tells every other what it found (flags, then the blame text);
/// all then know the same dropped set. Returns it, and whether any rank
/// blamed one (else the ring's result stands) or found something no one
/// can be blamed for.
struct verdicts {
  std::vector<dropped_rank> dropped;
  bool blamed = false, broken = false;
};

result<verdicts> exchange_verdicts(link& l, env& e, const allreduce_options& opt, const ring_layout& lay,
                                   std::uint8_t mine, const std::string& blame, std::uint64_t& bytes) {
  const int n = l.size(), r = l.rank();
  ring_io io(l, e, opt.timeout, "allreduce", internal::all_peers);
  std::vector<std::byte> msg(sizeof(header) + 1 + std::min(blame.size(), max_blame_text));
  const header h = after_ring(lay, opt, 0);
  std::memcpy(msg.data(), &h, sizeof h);
  msg[sizeof h] = static_cast<std::byte>(mine);
  std::memcpy(msg.data() + sizeof h + 1, blame.data(), msg.size() - sizeof h - 1);
  for (int p = 0; p < n; ++p)
    if (p != r)
      if (auto st = io.send(p, msg); !st) return st.err();
  std::vector<std::pair<std::uint8_t, std::string>> found(static_cast<std::size_t>(n));
  found[static_cast<std::size_t>(r)] = {mine, blame.substr(0, max_blame_text)};
  std::vector<std::byte> buf;
  for (int p = 0; p < n; ++p) {
    if (p == r) continue;
    auto got = io.recv(p, buf, h);
    if (!got) return got.err();
    const auto flags = buf.size() > sizeof h ? static_cast<std::uint8_t>(buf[sizeof h]) : std::uint8_t{0xff};
    if (flags > 7 || buf.size() > sizeof h + 1 + max_blame_text)
      return io.fail(p, errc::invalid_input, "bad verdict from rank " + std::to_string(p));
    found[static_cast<std::size_t>(p)] = {flags, std::string(reinterpret_cast<const char*>(buf.data()) + sizeof h + 1,
                                                             buf.size() - sizeof h - 1)};
  }
  bytes += io.bytes_sent();
  verdicts out;
  std::vector<std::string> why(static_cast<std::size_t>(n));
  for (int q = 0; q < n; ++q) {
    const auto& [flags, text] = found[static_cast<std::size_t>(q)];
    if (flags & verdict_self) why[static_cast<std::size_t>(q)] = "its own values are not finite";
    if (flags & verdict_blame) {
      out.blamed = true;
      auto& w = why[static_cast<std::size_t>((q + n - 1) % n)];
      if (w.empty()) w = "rank " + std::to_string(q) + " says it " + text;
    }
    out.broken |= (flags & verdict_broken) != 0;
  }
  for (int q = 0; q < n; ++q)
    if (!why[static_cast<std::size_t>(q)].empty()) out.dropped.push_back({q, why[static_cast<std::size_t>(q)]});
  return out;
}

/// The redone round's result, from the survivors' lowest rank to a dropped
/// rank: message 0 is the total weight, the count of ranks dropped, and
/// each one's rank, text length and text; then the values, a segment a message.
status send_result(link& l, env& e, const allreduce_options& opt, const ring_layout& lay, int to,
                   std::span<const float> data, const allreduce_result& res, std::uint64_t& bytes) {
  ring_io io(l, e, opt.timeout, "allreduce", to);
  std::vector<std::byte> msg(sizeof(header));
  auto put = [&](const void* p, std::size_t k) {
    msg.insert(msg.end(), static_cast<const std::byte*>(p), static_cast<const std::byte*>(p) + k);
  };
  const header h0 = after_ring(lay, opt, 1);
  std::memcpy(msg.data(), &h0, sizeof h0);
  put(&res.total_weight, sizeof res.total_weight);
  const auto count = static_cast<std::uint32_t>(res.dropped.size());
  put(&count, sizeof count);
  for (const auto& d : res.dropped) {
    const auto rank = static_cast<std::uint32_t>(d.rank);
    const auto len = static_cast<std::uint16_t>(std::min(d.why.size(), max_blame_text));
    put(&rank, sizeof rank);
    put(&len, sizeof len);
    put(d.why.data(), len);
  }
  if (auto st = io.send(to, msg); !st) return st;
  for (std::size_t k = 0, at = 0; at < data.size(); ++k, at += lay.seg) {
    const header h = after_ring(lay, opt, 2 + k);
    const auto part = data.subspan(at, std::min(lay.seg, data.size() - at));
    if (auto st = io.send(to, std::as_bytes(std::span(&h, 1)), std::as_bytes(part)); !st) return st;
  }
  bytes += io.bytes_sent();
  return {};
}

/// A dropped rank's side of send_result. It waits while the others redo the
/// round: each of their 2(n-1)S waits may take up to the timeout.
result<allreduce_result> recv_result(link& l, env& e, const allreduce_options& opt, const ring_layout& lay, int from,
                                     std::span<float> data) {
  const auto waits = static_cast<int>(std::min<std::size_t>(2 * lay.n * lay.segs + 2, 10000));
  ring_io io(l, e, opt.timeout * waits, "allreduce", -1);
  std::vector<std::byte> buf;
  auto h = io.recv(from, buf, after_ring(lay, opt, 1));
  if (!h) return h.err();
  allreduce_result res;
  std::size_t at = sizeof(header);
  auto get = [&](void* p, std::size_t k) {
    if (buf.size() - at < k) return false;
    std::memcpy(p, buf.data() + at, k);
    at += k;
    return true;
  };
  std::uint32_t count = 0;
  bool ok = get(&res.total_weight, sizeof res.total_weight) && get(&count, sizeof count) && count <= lay.n;
  for (std::uint32_t i = 0; ok && i < count; ++i) {
    std::uint32_t rank = 0;
    std::uint16_t len = 0;
    ok = get(&rank, sizeof rank) && get(&len, sizeof len) && rank < lay.n && buf.size() - at >= len;
    if (ok) res.dropped.push_back({static_cast<int>(rank), std::string(reinterpret_cast<const char*>(buf.data()) + at, len)});
    at += ok ? len : 0;
  }
  if (!ok || at != buf.size()) return io.fail(from, errc::invalid_input, "bad result message from rank " + std::to_string(from));
  for (std::size_t k = 0, pos = 0; pos < data.size(); ++k, pos += lay.seg) {
    const auto part = data.subspan(pos, std::min(lay.seg, data.size() - pos));
    auto hk = io.recv(from, buf, after_ring(lay, opt, 2 + k));
    if (!hk) return hk.err();
    if (buf.size() != sizeof(header) + part.size_bytes())
      return io.fail(from, errc::invalid_input, "bad result segment from rank " + std::to_string(from));
    std::memcpy(part.data(), buf.data() + sizeof(header), part.size_bytes());
  }
  return res;
}

}  // namespace

result<allreduce_result> allreduce_engine::run_checked(link& l, std::span<float> data, double weight,
                                                       const allreduce_options& opt, error_feedback* ef) {
  if (ef && ef->residual.size() != data.size()) ef->residual.assign(data.size(), 0.0f);
  input_.assign(data.begin(), data.end());
  if (ef) residual_in_.assign(ef->residual.begin(), ef->residual.end());
  verdict v;
  auto got = run_ring(l, data, weight, opt, ef, v);
  if (!got || !v.trouble || l.size() < 2) return got;
  env& e = opt.env ? *opt.env : default_env();
  const ring_layout lay(data.size(), static_cast<std::size_t>(l.size()), opt.segment_bytes);
  const std::uint8_t mine = (v.self_excluded ? verdict_self : 0) | (v.blame.empty() ? 0 : verdict_blame) |
                            (v.broken ? verdict_broken : 0);
  auto found = exchange_verdicts(l, e, opt, lay, mine, v.blame, got->bytes_sent);
  if (!found) {
    failed_rank_ = -1;
    return found.err();
  }
  if (!found->blamed) {
    if (found->broken)
      return make_error(errc::invalid_input,
                        "allreduce: rank " + std::to_string(l.rank()) +
                            ": a non-finite result or inconsistent weights, and no rank to blame");
    // Only ranks that sent zeros with weight 0: the ring's result stands.
    for (const auto& d : found->dropped)
      if (opt.on_dropped) opt.on_dropped(d.rank, d.why);
    got->dropped = std::move(found->dropped);
    return got;
  }
  const std::uint64_t bytes = got->bytes_sent;
  auto redone = redo_without(l, data, weight, opt, ef, std::move(found->dropped));
  if (redone) redone->bytes_sent += bytes;
  return redone;
}

result<allreduce_result> allreduce_engine::redo_without(link& l, std::span<float> data, double weight,
                                                        const allreduce_options& opt, error_feedback* ef,
                                                        std::vector<dropped_rank> dropped) {
  std::copy(input_.begin(), input_.end(), data.begin());
  if (ef) std::copy(residual_in_.begin(), residual_in_.end(), ef->residual.begin());
  const int n = l.size(), r = l.rank();
  std::vector<char> out(static_cast<std::size_t>(n), 0);
  for (const auto& d : dropped) {
    out[static_cast<std::size_t>(d.rank)] = 1;
    if (opt.on_dropped) opt.on_dropped(d.rank, d.why);
  }
  std::vector<int> survivors;
  for (int q = 0; q < n; ++q)
    if (!out[static_cast<std::size_t>(q)]) survivors.push_back(q);
  allreduce_result res{0, 0.0, std::move(dropped)};
  if (survivors.empty()) {
    std::fill(data.begin(), data.end(), 0.0f);
    return res;
  }
  env& e = opt.env ? *opt.env : default_env();
  const ring_layout lay(data.size(), static_cast<std::size_t>(n), opt.segment_bytes);
  if (out[static_cast<std::size_t>(r)]) {
    auto got = recv_result(l, e, opt, lay, survivors[0], data);
    if (!got) {
      failed_rank_ = survivors[0];
      return got.err();
    }
    for (auto& d : got->dropped)  // those the survivors dropped in turn
      if (!out[static_cast<std::size_t>(d.rank)] && opt.on_dropped) opt.on_dropped(d.rank, d.why);
    got->bytes_sent = 0;
    return got;
  }
  member_link sub(l, survivors);
  allreduce_options sopt = opt;
  if (!opt.max_weights.empty()) {
    sopt.max_weights.clear();
    for (int q : survivors) sopt.max_weights.push_back(opt.max_weights[static_cast<std::size_t>(q)]);
  }
  sopt.on_dropped = [&](int q, const std::string& why) {
    if (opt.on_dropped) opt.on_dropped(sub.parent_rank(q), why);
  };
  auto got = run(sub, data, weight, sopt, ef);
  if (got) {
    res.total_weight = got->total_weight;
    res.bytes_sent = got->bytes_sent;
    for (auto& d : got->dropped) res.dropped.push_back({sub.parent_rank(d.rank), std::move(d.why)});
    std::sort(res.dropped.begin(), res.dropped.end(), [](const auto& a, const auto& b) { return a.rank < b.rank; });
  }
  if (r == survivors[0]) {
    for (int q = 0; q < n; ++q) {
      if (!out[static_cast<std::size_t>(q)]) continue;
      if (got)
        (void)send_result(l, e, opt, lay, q, data, res, res.bytes_sent);
      else
        (void)ring_io(l, e, opt.timeout, "allreduce", q).fail(sub.parent_rank(failed_rank_), got.err().code,
                                                              got.err().message);
    }
  }
  if (!got) {
    failed_rank_ = sub.parent_rank(failed_rank_);
    return got.err();
  }
  return res;
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
