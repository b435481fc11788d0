#pragma once
/// The `mpi` backend: a fault-tolerant, sample-weighted all-reduce over an MPI
/// communicator, for Open MPI 4.1 without ULFM (Debian's build).
///
/// Why it looks like this (see shared/STACK.md, "Open MPI 4.1 when a rank
/// dies"): run under `mpirun --enable-recovery`, survivors of a dead rank stay
/// alive, but a blocking collective then spins forever and no error is ever
/// returned. So every collective here is nonblocking (`MPI_Iallreduce`),
/// polled with `MPI_Test` and a short back-off under a deadline. On deadline
/// the communicator is *abandoned*: never touched again (no free, no cancel);
/// its buffers are owned by this object so MPI may keep writing into them.
/// The survivors then agree on who is alive and `shrink()` builds a new
/// communicator with `MPI_Comm_create_group` over the survivors only.
///
/// How survivors agree (without the dead rank). Two sources, same `shrink()`:
///  1. Production: the node layer's failure detector (gossip membership) says
///     who is dead; the caller passes the alive world ranks to `shrink()`.
///  2. Built in, used by the fault test and when no node layer runs:
///     `agree_survivors()`, run automatically when an all-reduce hits its
///     deadline. It does point-to-point heartbeats on a communicator that was
///     dup'd from MPI_COMM_WORLD at `init()` and is used for nothing else
///     (a fresh dup after a failure is impossible: `MPI_Comm_dup` is
///     collective and would wait for the dead rank). Round 1: every member
///     `Isend`s a token to every other member and `Irecv`s theirs; whoever
///     answers before the probe deadline is alive in my view. Round 2: each
///     sends its view to the ranks in it; the result is the intersection of
///     my view and all views received (a rank whose view did not come is
///     dropped). With fail-stop failures and survivors that enter the probe
///     within `probe_timeout` of each other, all survivors compute the same
///     set. It is not consensus (impossible asynchronously); `shrink()`
///     therefore checks the result: it bounds `MPI_Comm_create_group` by a
///     deadline and verifies, with an all-reduce of a fingerprint, that every
///     member of the new communicator built it from the same list.
///
/// Every MPI call runs on one worker thread owned by the group; the caller
/// waits for it with the deadline. Reason (measured, Open MPI 4.1.4): when a
/// peer dies while a large message is in flight to it, the tcp btl can
/// self-deadlock inside `MPI_Test` (mca_btl_tcp_frag_send -> endpoint_close
/// -> ob1 send_fin -> endpoint_send re-locks the endpoint's send lock), and
/// ob1 sometimes aborts the survivor outright ("pml_ob1_sendreq.c FATAL").
/// A polling loop on the caller's thread cannot escape the first: the call
/// never returns. With the worker, the caller gets `deadline` after its
/// timeout plus 1 s; the stuck thread is left behind (it never returns) and
/// a fresh worker takes over. After two stuck workers every call fails fast
/// with `deadline`: restart the process or fall back to `p2p`. Either way the
/// other survivors see this rank as dead and go on without it.
/// To make that rarer, `init()` sets OMPI_MCA_btl_tcp_flags to
/// "send,inplace,need-ack,need-csum" unless already set (no emulated RDMA
/// put, hence no FIN on the failing path; loopback bandwidth unchanged).
/// Killing a rank 3 ms into a 16 MiB all-reduce (4 ranks, tcp) then cost a
/// second rank in 3 of 60 runs (ob1 FATAL abort) instead of 5 of 50 (stuck
/// worker); the other survivors agreed on the survivors in every run. With
/// the victim dying between rounds no run lost a second rank. `init()` also
/// ignores SIGPIPE (unless the program set a handler): the tcp btl writes
/// without MSG_NOSIGNAL, and a peer's death would otherwise kill survivors.
///
/// Known limit: if a rank dies *inside* an all-reduce, some survivors may
/// complete that round and others not (e.g. recursive doubling). The probe
/// reports the spread as `min_completed`/`max_completed`; the caller must
/// then roll back to a round every survivor has (or re-sync weights).
///
/// Thread-safety: one calling thread at a time per object; the calls
/// themselves run on the group's worker (MPI is initialised with
/// MPI_THREAD_MULTIPLE, so other threads, e.g. a CAF actor system, may run
/// beside it). The handoff costs tens of microseconds per call. Only one
/// `mpi_group` per process (MPI initialises once).

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/env.hpp"
#include "common/result.hpp"

namespace hydra::mpi {

/// Outcome of `agree_survivors()`.
struct survivor_view {
  std::vector<int> survivors;  ///< world ranks, sorted, including this rank
  std::vector<int> suspected;  ///< members of the probed communicator not in `survivors`
  /// All-reduces completed on the probed communicator, lowest and highest over
  /// the survivors; they differ when a rank died inside a round.
  std::uint64_t min_completed = 0;
  std::uint64_t max_completed = 0;
};

class mpi_group {
 public:
  /// `MPI_Init_thread(MPI_THREAD_MULTIPLE)`, errors returned (MPI_ERRORS_RETURN)
  /// rather than aborting. Fails with `unavailable` when MPI lacks
  /// MPI_THREAD_MULTIPLE, with `invalid_input` when called twice and with
  /// `deadline` when MPI_Init does not return within 120 s. `e` supplies the
  /// clock for deadlines and must outlive the group (and, after a stuck MPI
  /// call, the process: `default_env()` does).
  static result<std::unique_ptr<mpi_group>> init(int* argc, char*** argv, env& e = default_env());

  /// Finalizes (bounded by 5 s) if `finalize()` was not called. After a stuck
  /// MPI call it frees nothing (that thread may still touch the buffers).
  ~mpi_group();
  mpi_group(const mpi_group&) = delete;
  mpi_group& operator=(const mpi_group&) = delete;

  /// Rank and size in the current communicator (they change after `shrink()`).
  int rank() const;
  int size() const;
  /// Rank and size in MPI_COMM_WORLD (stable for the life of the job).
  int world_rank() const;
  int world_size() const;
  /// World ranks of the current communicator's members, sorted.
  const std::vector<int>& members() const;
  /// False after a deadline abandoned the communicator, until `shrink()`.
  bool healthy() const;

  /// data := sum_i(w_i * data_i) / sum_i(w_i) over the current members, every
  /// member passing the same `data.size()`. Returns sum_i(w_i). Weights are
  /// all-reduced in double beside the data. `data` is copied into an internal
  /// buffer (scaled by `weight` on the way), so `data` is never written after
  /// this returns, even when MPI is left holding the abandoned operation.
  /// Errors: `deadline` after `timeout` (the communicator is then abandoned;
  /// after timeout + 1 s when MPI itself got stuck, see the file comment;
  /// when the automatic probe is on, its survivors are in `last_view()` and
  /// the suspected ranks in the message); `unavailable` when the communicator
  /// was abandoned earlier and not yet rebuilt; `invalid_input` when the
  /// weights sum to zero (data is then left unchanged) or on a negative weight.
  /// Size the timeout from bytes / bandwidth plus generous slack: a false
  /// timeout on one rank while the others complete splits the group.
  result<double> allreduce_weighted_mean(std::span<float> data, double weight,
                                         std::chrono::milliseconds timeout);

  /// Heartbeat probe among the current members (see the file comment); every
  /// surviving member must call it at about the same time. Takes up to
  /// 2 x `timeout` (a dead rank never answers, so round 1 waits it out).
  /// Errors: `unavailable` when this rank was excluded by the others or no one
  /// else answered (in a group of more than one).
  result<survivor_view> agree_survivors(std::chrono::milliseconds timeout);
  /// The last successful `agree_survivors()` (empty before the first).
  const survivor_view& last_view() const;
  /// Probe timeout used automatically when an all-reduce hits its deadline;
  /// zero turns the automatic probe off (the caller learns survivors from the
  /// node layer). Default 2 s.
  void set_probe_timeout(std::chrono::milliseconds t);

  /// Rebuilds the communicator from `alive_world_ranks` (any order) with
  /// `MPI_Comm_create_group` over MPI_COMM_WORLD; every rank in the list must
  /// call it with the same list, and only they. The old communicator is
  /// abandoned, not freed. Bounded by `timeout` (+ 1 s): `MPI_Comm_create_group`
  /// is blocking and waits for every listed rank, so on timeout the worker is
  /// left behind inside it and a fresh one takes over. Errors:
  /// `invalid_input` on a bad list, `deadline` on timeout, `unavailable` when
  /// the members disagree about the list.
  status shrink(const std::vector<int>& alive_world_ranks,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// `MPI_Finalize` on the worker, waited for at most `timeout` (after a
  /// failure it can hang). Returns true when it finished. On false, MPI is in
  /// an unknown state: leave the process with `std::_Exit` (normal exit would
  /// run destructors under the still-running MPI_Finalize). Idempotent.
  bool finalize(std::chrono::milliseconds timeout);

 private:
  struct state;
  explicit mpi_group(std::unique_ptr<state> s);
  std::unique_ptr<state> s_;
};

}  // namespace hydra::mpi
