#pragma once
/// Training across the ranks of one collective group (the `trainer` role's
/// loop). Two modes:
/// - sync: every step each rank computes the gradient of its slice of the
///   global batch, the group all-reduces them weighted by sample count, and
///   every rank applies the same optimizer step. Ranks slice the same global
///   order (same seed), so a group of N trains exactly the model a single
///   node would with the same global batch, up to float summation order.
/// - local (DiLoCo-style): H local steps, then the weight deltas are
///   all-reduced (weighted) and an outer Nesterov-momentum step is applied.
/// After every round all ranks compare a hash of their weights with rank 0's;
/// a mismatch is an error.
///
/// Elastic: the group is formed by a `group_source` (from the membership
/// view). When a round fails (a peer died or stalled past the deadline) the
/// survivors re-form the group and go on; when rank 0 sees the membership
/// change (a peer joined) the group re-forms after the round. Every new group
/// first agrees on the state: the member that has made the most progress
/// (lowest rank among equals) broadcasts model, optimizer state and step, so
/// joiners and survivors continue the same job — it never restarts.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/collective.hpp"
#include "actors/scoring.hpp"
#include "comm/link.hpp"
#include "common/duty_cycle.hpp"
#include "common/result.hpp"
#include "common/train_metrics.hpp"
#include "kernels/codec.hpp"

namespace hydra::actors {

struct dist_train_options {
  std::string model = "mlp";
  int epochs = 1;
  int batch = 64;  ///< global batch: the sum over ranks
  float lr = 0;    ///< 0: 0.1 for sgd, 0.001 for adam
  std::string optimizer = "sgd";
  float momentum = 0;
  std::uint64_t seed = 1;
  std::string data;        ///< IDX folder; empty = Fashion-MNIST
  std::size_t limit = 0;   ///< first N training samples only
  /// Inputs standardised with the training set's pixel mean and std
  /// (data/standardize.hpp); the group adopts its state source's values,
  /// and checkpoints and the scorers' copy carry them.
  bool standardize = true;
  int threads = 1;
  std::string mode = "sync";  ///< "sync" or "local"
  int local_steps = 8;        ///< H, local mode
  float outer_lr = 0.7f, outer_momentum = 0.9f;
  kernels::codec_kind codec = kernels::codec_kind::none;
  double cpu_limit = 100;        ///< duty-cycle cap: compute at most this % of the time
  duty_cycle* duty = nullptr;    ///< if set, used instead (so `ctl set cpu-limit` reaches the trainer)
  std::string policy = "uniform";  ///< job sizing: uniform, model or adaptive (placement/)
  double own_gflops = 0;           ///< this node's advertised GFLOP/s (for the model policy)
  std::string checkpoint;        ///< file to checkpoint to and resume from ("" = none)
  std::string round_log;         ///< if set: "step seconds ideal_seconds" per round appended here
  /// If set: JSON lines appended here (`hydra plot` reads them): about 200
  /// progress lines per job {"t","step","total","epoch","loss","samples",
  /// "samples_per_s","round_s","world"} and one {"t","step","samples",
  /// "test_accuracy"} per evaluation (each epoch end with `metrics`, and the end).
  std::string train_log;
  int checkpoint_every = 200;    ///< steps between checkpoints
  /// How the group combines updates: mean (sample-weighted), or the
  /// Byzantine-robust trimmed-mean / median (comm/allreduce.hpp).
  comm::reduce_op aggregate = comm::reduce_op::mean;
  /// A drill for robust aggregation: this rank poisons what it sends
  /// ("sign-flip": -1x, "scale": -10x; "" = honest).
  std::string attack;
  /// Weights are published here every few rounds (scorers read them).
  std::shared_ptr<model_board> board;
  /// Live figures for the metrics server and the status page; when set, the
  /// trainer also measures test accuracy at the end of each epoch.
  std::shared_ptr<train_metrics> metrics;
  /// Drain: once set, the trainer stops before its next round, writes its
  /// checkpoint (the job resumes from it later) and returns with `drained`.
  std::shared_ptr<std::atomic<bool>> stop;
  /// Accepted contributions: each round this rank adds up to a quarter of
  /// its slice from the pool, each pooled sample once per epoch.
  std::shared_ptr<sample_pool> pool;
  /// Rank 0 reports verified work: (account per rank, samples per rank,
  /// first step, last step), every 100 rounds and at the end.
  std::function<void(const std::vector<std::string>&, const std::vector<std::uint64_t>&, std::uint64_t,
                     std::uint64_t)>
      credit;
};

struct dist_train_result {
  double test_accuracy = 0, final_loss = 0, seconds = 0;
  std::uint64_t rounds = 0, samples = 0, bytes_sent = 0;
  double mean_round_seconds = 0;   ///< wall time per round, this rank
  double ideal_round_seconds = 0;  ///< global batch / summed measured speed + mean all-reduce time
  std::string weights_hash;
  bool drained = false;  ///< stopped early by `stop` (no test accuracy; the checkpoint holds the step)
  std::uint64_t step = 0;  ///< global steps done
};

/// Called after each round with (global step, total steps, mean loss so far).
using round_callback = std::function<void(std::uint64_t, std::uint64_t, double)>;

struct group_source {
  /// Forms a group from the live trainers (blocking, with its own deadline);
  /// `opt` carries the job's codec and the round deadline.
  std::function<result<std::unique_ptr<collective>>(const comm::allreduce_options& opt)> form;
  /// Asked on rank 0 between rounds: has the set of live trainers changed?
  std::function<bool()> changed;
  /// Bytes per second of the slowest measured link among the live trainers
  /// (0 = unknown); asked before each group forms to size the round deadline.
  std::function<double()> bandwidth;
  /// The account (node id hex) of each rank of the group last formed; empty
  /// when unknown (then no compute credits are reported).
  std::function<std::vector<std::string>()> members;
};

struct elastic_stats {
  std::uint64_t groups = 0;        ///< groups formed (1 without churn)
  std::uint64_t failed_rounds = 0; ///< rounds abandoned because a peer failed
  std::uint64_t joined = 0;        ///< times the group grew
  std::uint64_t lost = 0;          ///< times the group shrank
  std::uint64_t restarts = 0;      ///< times the job went back to step 0 (must stay 0)
  std::uint64_t resumed_from = 0;  ///< step of the checkpoint this rank started from (0 = none)
  std::uint64_t contributed_samples = 0;  ///< samples from the contribution pool this rank trained on
};

/// Which rank's state a new group adopts, from the step each rank claims
/// (claims[r]; every rank sees the same claims, so all choose the same).
/// The rule, so that one rank cannot move the whole job ahead by claiming
/// a step: a claim past the job's `total` steps is refused; a claim is
/// vouched for when another rank with progress (step > 0) is at most `lead`
/// steps behind it or level with it (lead: 1 in sync mode, where survivors
/// differ by at most the round some finished; H in local mode). If any claim
/// is vouched for, the highest vouched-for claim is the ceiling and claims
/// above it are refused; otherwise (a lone rank with progress, or two that
/// disagree) the highest valid claim stands, as two ranks cannot out-vote
/// each other. The source is the highest claim left, lowest rank among
/// equals. Colluding ranks can vouch for each other; the step is bounded,
/// not the state the source sends.
struct state_choice {
  int source = 0;
  std::vector<int> refused;  ///< ranks whose claim was not adopted because it was too far ahead
};
state_choice choose_state_source(const std::vector<std::uint64_t>& claims, std::uint64_t total, std::uint64_t lead);

/// The largest sample weight a rank of a job with these options can honestly
/// claim in one all-reduce: its slice of the global batch (at most all of
/// it), the contributed samples mixed in, times the local steps (local mode).
double max_round_weight(const dist_train_options& o);

/// Runs the whole job; every rank that finishes returns the same weights_hash.
result<dist_train_result> run_dist_training(group_source& groups, const dist_train_options& o,
                                            elastic_stats& stats, round_callback cb = {});

/// Convenience: one fixed group (no churn).
result<dist_train_result> run_dist_training(comm::link& l, const dist_train_options& o, round_callback cb = {});

}  // namespace hydra::actors
