#pragma once
/// Ring all-reduce (reduce-scatter, then all-gather; chunked and pipelined)
/// and chain broadcast, written against `comm::link` only, so the same code
/// runs over threads, TCP and MPI. The message flow is described at the top
/// of allreduce.cpp.
///
/// Fault tolerance is the caller's loop: every wait here has a deadline, and
/// when a peer fails or times out every surviving rank returns an error
/// (errc::deadline or errc::unavailable) within about one timeout — the
/// first rank to notice sends an abort down the ring, so the others need not
/// wait for their own deadlines. The caller then agrees on the survivors,
/// builds a new link group without the failed rank and runs the round again
/// with the survivors' contributions; weights re-normalise by themselves.
/// On error `data` holds partial results: keep a copy if the round is redone.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "comm/link.hpp"
#include "common/env.hpp"
#include "common/result.hpp"
#include "kernels/codec.hpp"

namespace hydra::comm {

/// How the ranks' vectors are combined.
/// - mean: the sample-weighted mean (ring reduce-scatter + all-gather).
/// - trimmed_mean, median: Byzantine-robust, per coordinate over the vectors
///   of the ranks with weight > 0, each counting once (unweighted), so a
///   minority of poisoned vectors cannot pull the result outside the range
///   of the others' values. Direct exchange to each chunk's owner, then the
///   ring's all-gather; codec none only.
/// - mean_around_median (MeaMed, Xie et al. 2018): per coordinate, the mean
///   of the n' - f values closest to the median (f = trim). Robust like the
///   median, but when the poisoned values are outliers it is exactly the
///   honest ranks' mean, so it does not shrink honest updates the way the
///   median and trimmed mean do when an attacker sits at one end.
/// - filtered_mean: per segment (segment_bytes of each owner's chunk), the
///   mean of the n' - f ranks whose segment is nearest (L2) the
///   coordinate-wise median; a rank whose update points elsewhere
///   (sign-flipped, scaled) is dropped for the whole segment, so the honest
///   ranks' mean is kept exactly. The engine remembers which ranks it had to
///   drop lately (keep one engine per group): a rank dropped in most recent
///   rounds stays out of rounds where the evidence is ambiguous.
enum class reduce_op { mean, trimmed_mean, median, mean_around_median, filtered_mean };

/// "mean", "trimmed-mean", "median", "mean-around-median", "filtered-mean".
const char* to_string(reduce_op op);
std::optional<reduce_op> parse_reduce_op(std::string_view name);

struct allreduce_options {
  /// Pipelining chunk, in bytes of fp32 data before compression.
  std::size_t segment_bytes = 1 << 20;
  /// Deadline for each wait (derive it from segment bytes / bandwidth +
  /// latency). The first wait also covers the skew between ranks entering
  /// the call, so leave room for the slowest rank's compute.
  clock::duration timeout = std::chrono::seconds(10);
  kernels::codec_kind codec = kernels::codec_kind::none;
  /// topk: share of each segment's values sent, in (0, 1] (at least one
  /// value per non-empty segment).
  double topk_fraction = 0.01;
  reduce_op op = reduce_op::mean;
  /// trimmed_mean: ranks' values dropped at each end per coordinate;
  /// mean_around_median, filtered_mean: values (ranks) dropped in all (f) (0 =
  /// auto: floor((n-1)/3) for a group of n, but at least 1 when n >= 3),
  /// clamped per call so that at least one contributing value remains.
  /// Must be >= 0; ignored by mean and median.
  int trim = 0;
  /// Time source for the deadlines; nullptr = default_env().
  hydra::env* env = nullptr;
  /// mean: the largest sample weight any rank may claim (0 = no bound), and
  /// per rank of the link (empty = none; else one entry per rank, 0 = no
  /// bound): the planner's share. The smaller bound applies. A rank clamps
  /// its own weight to it; a rank whose claim arrives above it did not, and
  /// is dropped from the round like a non-finite one (its vector was already
  /// multiplied by the claim, so no receiver could clamp it afterwards).
  /// All ranks pass the same bounds.
  double max_weight = 0;
  std::vector<double> max_weights;
  /// mean: called on every rank, once per rank dropped from a round, with
  /// that rank (of the link passed to run) and why; also in the result.
  std::function<void(int rank, const std::string& why)> on_dropped;
};

/// A rank whose contribution a round left out (mean): non-finite values or
/// weight, or a claimed weight above its bound.
struct dropped_rank {
  int rank = -1;
  std::string why;
};

struct allreduce_result {
  std::uint64_t bytes_sent = 0;  ///< payload bytes this rank handed to its link
  double total_weight = 0;       ///< sum of the weights of the ranks that contributed
  std::vector<dropped_rank> dropped;  ///< mean: ranks left out of this round, in rank order
};

/// Error feedback for lossy codecs (topk above all): what compression left
/// out of this rank's messages, in weighted-sum units, added back to its
/// contribution next round. One per rank and parameter buffer, kept by the
/// caller across rounds; (re)sized and zeroed when its size is not the data's.
struct error_feedback {
  std::vector<float> residual;
};

/// The ring with its scratch buffers, reused from call to call (a trainer
/// keeps one). Not thread-safe: one call at a time.
class allreduce_engine {
 public:
  /// In place: every rank ends with sum_i(weight_i * data_i) / sum_i(weight_i)
  /// — the sample-weighted mean — bit-identical on all ranks for every codec
  /// (all-gather forwards the owner's encoded bytes unchanged, and the owner
  /// keeps what it sent). All ranks pass the same data size and options.
  /// weight must be finite and >= 0; if all weights are 0 the result is 0.
  /// `ef` (optional) turns on error feedback: its residual is added to this
  /// rank's contribution, then replaced by what this call's encodings
  /// dropped (all zeros for codec none). A group of one sends nothing and
  /// returns total_weight = weight. Errors: invalid_input (bad
  /// arguments, or ranks disagreeing on size/options), deadline, unavailable.
  ///
  /// mean checks every contribution, so that one rank cannot decide the
  /// result for everyone: a rank whose own values are not finite (after
  /// weighting) sends zeros with weight 0; a receiver that gets non-finite
  /// partial sums, or a weight that is not finite, negative or above the
  /// sender's bound (max_weight, max_weights), blames the rank it got them
  /// from (the only rank whose sums it sees; honest ranks never forward
  /// non-finite sums) and zeros them. The trouble rides on the all-gather
  /// to every rank; then the ranks exchange verdicts, agree on the dropped
  /// set, and redo the round among the others, whose lowest rank sends the
  /// result to the dropped ones: every rank still ends bit-identical, and
  /// `dropped` (and opt.on_dropped) names the ranks left out and why. A
  /// clean round costs one scan of the result and one copy of the input.
  /// Limits: a rank can blame only its ring neighbour before it, so a
  /// hostile rank can take that neighbour out of a round with it; a sum of
  /// finite values that overflows is blamed on the rank that sent the last
  /// finite part; a rank that scales its vector without claiming a larger
  /// weight is not caught here (use a robust op).
  ///
  /// With opt.op = trimmed_mean or median every rank instead ends with, per
  /// coordinate, that statistic of the values of the ranks with weight > 0
  /// (each rank once, whatever its weight; 0 if no rank has weight), also
  /// bit-identical on all ranks; total_weight is still the sum of the
  /// weights. Median of an even count: the mean of the two middle values.
  /// NaN ranks above every number, so a rank's NaNs are trimmed like its
  /// other extreme values. Only codec none (else invalid_input); `ef`'s
  /// residual, if weight > 0, is folded into this rank's values (divided by
  /// the weight) and zeroed. Ranks disagreeing on op or trim get an error,
  /// not a hang (invalid_input among robust ops; with mean ranks mixed in,
  /// some may only see their deadline).
  result<allreduce_result> run(link& l, std::span<float> data, double weight, const allreduce_options& opt,
                               error_feedback* ef = nullptr);

  /// Copies `root`'s `data` to every rank (all pass the same size), in
  /// segments of opt.segment_bytes along the chain root, root+1, ...
  status broadcast(link& l, std::span<std::byte> data, int root, const allreduce_options& opt);

  /// After an error: the rank blamed for it (the peer that went silent, gone
  /// or sent garbage, as reported by whoever noticed first); -1 otherwise.
  /// For the rank right after a dead one this is the dead one; others may
  /// name an intermediate rank if they timed out before the abort arrived.
  int failed_rank() const { return failed_rank_; }

 private:
  friend struct ring_run;
  struct verdict;
  result<allreduce_result> run_ring(link& l, std::span<float> data, double weight, const allreduce_options& opt,
                                    error_feedback* ef, verdict& v);
  result<allreduce_result> run_checked(link& l, std::span<float> data, double weight, const allreduce_options& opt,
                                       error_feedback* ef);
  result<allreduce_result> redo_without(link& l, std::span<float> data, double weight, const allreduce_options& opt,
                                        error_feedback* ef, std::vector<dropped_rank> dropped);
  std::vector<float> input_, residual_in_;  // mean: this rank's contribution, kept to redo the round
  std::vector<std::byte> out_, in_;
  std::vector<std::vector<std::byte>> held_;  // all-gather messages kept to forward
  std::vector<float> decoded_;
  std::vector<double> weights_;
  std::vector<float> columns_;  // robust ops: the owned chunk's values from every rank
  std::vector<float> sort_;     // robust ops: a block of coordinates' contributing values
  std::vector<double> suspicion_;  // filtered_mean: per rank, how often this owner dropped it lately (EWMA)
  int failed_rank_ = -1;
};

/// Convenience: one-shot engine.
result<allreduce_result> ring_allreduce(link& l, std::span<float> data, double weight, const allreduce_options& opt);
result<allreduce_result> ring_allreduce(link& l, std::span<float> data, double weight, const allreduce_options& opt,
                                        error_feedback& ef);
/// Broadcast from `root` (state transfer to joiners), chunked, with deadline.
status broadcast(link& l, std::span<std::byte> data, int root, const allreduce_options& opt);

}  // namespace hydra::comm
