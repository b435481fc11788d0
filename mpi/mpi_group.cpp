#include "mpi/mpi_group.hpp"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "mpi/survivors.hpp"

namespace hydra::mpi {
namespace {

using clock = env::clock;
using std::chrono::milliseconds;
using keep_list = std::vector<std::shared_ptr<void>>;

// Tags. Probe rounds live on their own communicator; create_group runs on
// MPI_COMM_WORLD, which carries nothing else, so the ranges cannot collide.
constexpr int probe_tag_base = 100;
constexpr int probe_tag_span = 30000;  // MPI guarantees MPI_TAG_UB >= 32767
constexpr int shrink_tag_base = 10;
constexpr int shrink_tag_span = 1000;

// How long past its own deadline a call may take on the worker before the
// worker is declared wedged inside MPI, and how many wedged workers a group
// tolerates before it refuses all further work.
constexpr auto worker_grace = milliseconds(1000);
constexpr int max_wedged_workers = 2;
constexpr auto init_timeout = milliseconds(120000);

std::string mpi_error_string(int rc) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(buf, static_cast<std::size_t>(len));
}

error mpi_error(const std::string& what, int rc) {
  return make_error(errc::unavailable, what + ": " + mpi_error_string(rc));
}

// Back-off for polling: spin a little (MPI_Test drives progress; small
// messages finish in microseconds), then sleep 10 us doubling to 50 us so
// that oversubscribed ranks (4 on 2 cores) leave each other the CPU.
class backoff {
 public:
  explicit backoff(env& e) : e_(e) {}
  void pause() {
    if (spins_ < 64) {
      ++spins_;
      return;
    }
    e_.sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, std::chrono::microseconds(50));
  }

 private:
  env& e_;
  int spins_ = 0;
  std::chrono::microseconds sleep_{10};
};

// Polls `reqs` (null entries allowed) until all complete or `deadline`.
// Returns false on deadline; MPI errors come back as an error.
result<bool> poll_all(env& e, std::span<MPI_Request> reqs, clock::time_point deadline) {
  backoff b(e);
  for (;;) {
    int flag = 0;
    const int rc = MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &flag, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_error("MPI_Testall", rc);
    if (flag) return true;
    if (e.now() >= deadline) return false;
    b.pause();
  }
}

// The one thread that makes MPI calls for a group. A caller hands it a job
// and waits with a deadline; a job that does not come back in time leaves
// the thread behind inside MPI (see `abandon`). Everything a job touches is
// owned by the job's closure or by MPI handles passed by value, so a job
// that finishes after its caller gave up harms no one.
class mpi_worker {
 public:
  mpi_worker() : sh_(std::make_shared<shared>()) {
    t_ = std::thread([sh = sh_] { loop(*sh); });
  }
  ~mpi_worker() {
    {
      std::lock_guard lock(sh_->mu);
      sh_->stop = true;
    }
    sh_->cv.notify_all();
    if (t_.joinable()) t_.join();
  }
  mpi_worker(const mpi_worker&) = delete;
  mpi_worker& operator=(const mpi_worker&) = delete;

  /// Runs `job` on the worker; false when it had not returned after `wait`.
  bool run(std::function<void()> job, clock::duration wait) {
    std::unique_lock lock(sh_->mu);
    sh_->job = std::move(job);
    sh_->pending = true;
    sh_->done = false;
    sh_->cv.notify_all();
    return sh_->cv.wait_for(lock, std::max(wait, clock::duration::zero()), [this] { return sh_->done; });
  }
  /// Lets go of a thread stuck inside MPI; it exits if it ever returns.
  void abandon() { t_.detach(); }

 private:
  struct shared {
    std::mutex mu;
    std::condition_variable cv;
    std::function<void()> job;
    bool pending = false, done = false, stop = false;
  };
  static void loop(shared& sh) {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(sh.mu);
        sh.cv.wait(lock, [&] { return sh.stop || sh.pending; });
        if (!sh.pending) return;
        job = std::move(sh.job);
        sh.pending = false;
      }
      job();
      job = nullptr;  // drop captures before reporting
      {
        std::lock_guard lock(sh.mu);
        sh.done = true;
        if (sh.stop) return;
      }
      sh.cv.notify_all();
    }
  }
  std::shared_ptr<shared> sh_;
  std::thread t_;
};

// One probe round: send `payload` to every rank in `peers` and receive
// `recv_len` int64s from each on `tag`. got[i] tells whether peers[i]'s
// message arrived by `deadline`; its data is at recv[i * recv_len]. Buffers
// of operations that could not be completed or cancelled go to `keep`.
struct round_result {
  std::vector<bool> got;
  std::shared_ptr<std::vector<std::int64_t>> recv;
};
result<round_result> exchange(env& e, MPI_Comm comm, const std::vector<int>& peers,
                              std::vector<std::int64_t> payload, int recv_len, int tag,
                              clock::time_point deadline, keep_list& keep) {
  const std::size_t n = peers.size();
  const auto len = static_cast<std::size_t>(recv_len);
  auto send = std::make_shared<std::vector<std::int64_t>>(std::move(payload));
  round_result out{std::vector<bool>(n, false), std::make_shared<std::vector<std::int64_t>>(n * len, 0)};
  std::vector<MPI_Request> rreq(n, MPI_REQUEST_NULL), sreq(n, MPI_REQUEST_NULL);
  for (std::size_t i = 0; i < n; ++i) {
    const int rc = MPI_Irecv(out.recv->data() + i * len, recv_len, MPI_INT64_T, peers[i], tag, comm, &rreq[i]);
    if (rc != MPI_SUCCESS) {
      keep.push_back(out.recv);
      return mpi_error("probe MPI_Irecv", rc);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    // A send to a dead rank may fail or never complete; either way the
    // missing answer is what marks it dead, so the error is not fatal here.
    if (MPI_Isend(send->data(), static_cast<int>(send->size()), MPI_INT64_T, peers[i], tag, comm, &sreq[i]) !=
        MPI_SUCCESS)
      sreq[i] = MPI_REQUEST_NULL;
  }
  backoff b(e);
  std::size_t left = n;
  std::vector<int> idx(n);
  std::vector<MPI_Status> st(n);
  while (left > 0 && e.now() < deadline) {
    int count = 0;
    const int rc = MPI_Testsome(static_cast<int>(n), rreq.data(), &count, idx.data(), st.data());
    if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) {
      keep.push_back(out.recv);
      keep.push_back(send);
      return mpi_error("probe MPI_Testsome", rc);
    }
    if (count == MPI_UNDEFINED) break;
    for (int k = 0; k < count; ++k)  // a receive that failed (peer gone) is no answer
      out.got[static_cast<std::size_t>(idx[static_cast<std::size_t>(k)])] =
          rc == MPI_SUCCESS || st[static_cast<std::size_t>(k)].MPI_ERROR == MPI_SUCCESS;
    left -= static_cast<std::size_t>(count);
    int flag = 0;
    MPI_Testall(static_cast<int>(n), sreq.data(), &flag, MPI_STATUSES_IGNORE);  // progress the sends
    if (count == 0) b.pause();
  }
  // Give the sends a moment to leave (a slower survivor may still want our
  // message), then let go of what is stuck: cancel receives, free sends.
  auto sent = poll_all(e, sreq, std::min(deadline, e.now() + milliseconds(50)));
  bool stuck = false;
  for (auto& r : rreq) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    int flag = 0;
    const auto until = e.now() + milliseconds(20);
    while (!flag && e.now() < until) MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    if (!flag) {
      MPI_Request_free(&r);
      stuck = true;
    }
  }
  if (!sent || !*sent) {
    for (auto& r : sreq)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
    keep.push_back(send);
  }
  if (stuck) keep.push_back(out.recv);
  return out;
}

struct probe_input {
  MPI_Comm comm = MPI_COMM_NULL;
  int world_rank = 0, world_size = 0;
  std::vector<int> members;
  std::uint64_t completed = 0, epoch = 0;
  milliseconds timeout{0};
};

// The two-round heartbeat probe described in mpi_group.hpp.
result<survivor_view> probe_survivors(env& e, const probe_input& in, keep_list& keep) {
  std::vector<int> others;
  for (int r : in.members)
    if (r != in.world_rank) others.push_back(r);
  const int tag = probe_tag_base + static_cast<int>((2 * in.epoch) % probe_tag_span);

  // Round 1: who answers at all, and how many rounds each completed.
  auto r1 = exchange(e, in.comm, others, {static_cast<std::int64_t>(in.epoch), static_cast<std::int64_t>(in.completed)},
                     2, tag, e.now() + in.timeout, keep);
  if (!r1) return r1.err();
  std::vector<int> view{in.world_rank};
  std::vector<std::uint64_t> done_of(static_cast<std::size_t>(in.world_size), in.completed);
  for (std::size_t i = 0; i < others.size(); ++i) {
    if (!r1->got[i]) continue;
    view.push_back(others[i]);
    done_of[static_cast<std::size_t>(others[i])] = static_cast<std::uint64_t>((*r1->recv)[2 * i + 1]);
  }
  view = normalized(std::move(view));

  // Round 2: exchange views; keep only ranks everyone I heard from still sees.
  std::vector<int> peers;
  for (int r : view)
    if (r != in.world_rank) peers.push_back(r);
  const auto len = static_cast<std::size_t>(in.world_size) + 1;
  std::vector<std::int64_t> mine(len, -1);
  mine[0] = static_cast<std::int64_t>(view.size());
  for (std::size_t i = 0; i < view.size(); ++i) mine[i + 1] = view[i];
  auto r2 = exchange(e, in.comm, peers, mine, static_cast<int>(len), tag + 1, e.now() + in.timeout, keep);
  if (!r2) return r2.err();
  std::vector<std::vector<int>> theirs(peers.size());
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (!r2->got[i]) continue;
    const std::int64_t* v = r2->recv->data() + i * len;
    const auto count = std::clamp<std::int64_t>(v[0], 0, in.world_size);
    for (std::int64_t k = 0; k < count; ++k) theirs[i].push_back(static_cast<int>(v[k + 1]));
  }
  auto agreed = intersect_views(view, peers, theirs);

  if (!std::binary_search(agreed.begin(), agreed.end(), in.world_rank))
    return make_error(errc::unavailable, "probe: the other survivors (" + join_ranks(agreed) +
                                             ") excluded rank " + std::to_string(in.world_rank));
  if (agreed.size() == 1 && !others.empty())
    return make_error(errc::unavailable, "probe: no other member of " + join_ranks(in.members) +
                                             " answered within " + std::to_string(in.timeout.count()) + " ms");
  survivor_view out;
  out.survivors = agreed;
  out.suspected = missing_from(in.members, agreed);
  out.min_completed = out.max_completed = in.completed;
  for (int r : agreed) {
    out.min_completed = std::min(out.min_completed, done_of[static_cast<std::size_t>(r)]);
    out.max_completed = std::max(out.max_completed, done_of[static_cast<std::size_t>(r)]);
  }
  return out;
}

// Jobs: inputs copied in, outputs read by the caller only after the job returned.
struct reduce_job {
  MPI_Comm comm = MPI_COMM_NULL;
  std::shared_ptr<std::vector<float>> buf;
  std::shared_ptr<double> weight;
  int count = 0;
  clock::time_point deadline;
  int rc = MPI_SUCCESS;
  bool timed_out = false;
};

struct probe_job {
  probe_input in;
  std::optional<result<survivor_view>> out;
  keep_list keep;
};

struct shrink_job {
  std::vector<int> alive;
  int tag = 0;
  clock::time_point deadline;
  std::optional<status> out;
  MPI_Comm comm = MPI_COMM_NULL;
  std::shared_ptr<std::array<std::uint64_t, 2>> check = std::make_shared<std::array<std::uint64_t, 2>>();
};

struct init_job {
  int* argc = nullptr;
  char*** argv = nullptr;
  std::optional<status> out;
  MPI_Comm comm = MPI_COMM_NULL, probe = MPI_COMM_NULL;
  int world_rank = 0, world_size = 0;
};

void run_init(init_job& j) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    j.out = make_error(errc::invalid_input, "mpi_group::init: MPI is already initialised in this process");
    return;
  }
  int provided = 0;
  int rc = MPI_Init_thread(j.argc, j.argv, MPI_THREAD_MULTIPLE, &provided);
  if (rc != MPI_SUCCESS) {
    j.out = mpi_error("MPI_Init_thread", rc);
    return;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_Finalize();
    j.out = make_error(errc::unavailable, "MPI_Init_thread: MPI_THREAD_MULTIPLE not supported");
    return;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &j.world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &j.world_size);
  if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &j.comm)) != MPI_SUCCESS ||
      (rc = MPI_Comm_dup(MPI_COMM_WORLD, &j.probe)) != MPI_SUCCESS) {
    j.out = mpi_error("MPI_Comm_dup", rc);
    return;
  }
  MPI_Comm_set_errhandler(j.comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(j.probe, MPI_ERRORS_RETURN);
  j.out = status{};
}

void run_reduce(env& e, reduce_job& j) {
  MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  j.rc = MPI_Iallreduce(MPI_IN_PLACE, j.buf->data(), j.count, MPI_FLOAT, MPI_SUM, j.comm, &req[0]);
  if (j.rc == MPI_SUCCESS)
    j.rc = MPI_Iallreduce(MPI_IN_PLACE, j.weight.get(), 1, MPI_DOUBLE, MPI_SUM, j.comm, &req[1]);
  if (j.rc != MPI_SUCCESS) return;
  auto done = poll_all(e, req, j.deadline);
  if (!done) {
    j.rc = MPI_ERR_OTHER;
    return;
  }
  j.timed_out = !*done;
}

void run_shrink(env& e, shrink_job& j) {
  MPI_Group world_group = MPI_GROUP_NULL, group = MPI_GROUP_NULL;
  MPI_Comm_group(MPI_COMM_WORLD, &world_group);
  int rc = MPI_Group_incl(world_group, static_cast<int>(j.alive.size()), j.alive.data(), &group);
  MPI_Group_free(&world_group);
  if (rc != MPI_SUCCESS) {
    j.out = mpi_error("MPI_Group_incl", rc);
    return;
  }
  // Blocking: waits for every listed rank (the caller's deadline covers it).
  rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, j.tag, &j.comm);
  MPI_Group_free(&group);
  if (rc != MPI_SUCCESS) {
    j.out = mpi_error("MPI_Comm_create_group", rc);
    return;
  }
  MPI_Comm_set_errhandler(j.comm, MPI_ERRORS_RETURN);
  // Everyone must have built it from the same list: max(fp) == fp and
  // max(~fp) == ~fp on every rank iff all fingerprints are equal.
  const std::uint64_t fp = fingerprint(j.alive);
  *j.check = {fp, ~fp};
  MPI_Request req = MPI_REQUEST_NULL;
  rc = MPI_Iallreduce(MPI_IN_PLACE, j.check->data(), 2, MPI_UINT64_T, MPI_MAX, j.comm, &req);
  if (rc != MPI_SUCCESS) {
    j.out = mpi_error("shrink: MPI_Iallreduce", rc);
    return;
  }
  auto done = poll_all(e, std::span(&req, 1), j.deadline);
  if (!done) {
    j.out = done.err();
  } else if (!*done) {
    j.out = make_error(errc::deadline, "shrink: agreement check over " + join_ranks(j.alive) + " timed out");
  } else if ((*j.check)[0] != fp || (*j.check)[1] != ~fp) {
    j.out = make_error(errc::unavailable, "shrink: members disagree about the survivor list " + join_ranks(j.alive));
  } else {
    j.out = status{};
  }
}

}  // namespace

struct mpi_group::state {
  env* e = nullptr;
  std::unique_ptr<mpi_worker> worker = std::make_unique<mpi_worker>();
  int wedged_workers = 0;
  MPI_Comm comm = MPI_COMM_NULL;   // collectives; abandoned on deadline
  MPI_Comm probe = MPI_COMM_NULL;  // dup of WORLD at init; point-to-point only
  int world_rank = 0, world_size = 0, rank = 0, size = 0;
  std::vector<int> members;
  bool healthy = true;
  std::uint64_t completed = 0;  // all-reduces completed on `comm`
  std::uint64_t probe_epoch = 0, shrink_epoch = 0;
  milliseconds probe_timeout{2000};
  survivor_view last_view;
  bool finalized = false, finalize_clean = false;

  // The all-reduce buffer and weight slot. Shared with the job; after a
  // deadline MPI still owns them (the abandoned operation may write there),
  // so they move to the graveyard, which is never freed while MPI may run.
  std::shared_ptr<std::vector<float>> buf = std::make_shared<std::vector<float>>();
  std::shared_ptr<double> weight = std::make_shared<double>(0.0);
  keep_list graveyard;

  void bury(std::shared_ptr<void> p) { graveyard.push_back(std::move(p)); }

  // Runs `fn` on the worker until `until`. On timeout the worker is stuck
  // inside MPI: `job` (everything `fn` touches) is kept forever, the thread
  // is let go, and a fresh worker takes over unless too many got stuck.
  bool run(std::function<void()> fn, clock::time_point until, std::shared_ptr<void> job) {
    if (!worker) return false;
    // At least a moment, so that a zero timeout is not mistaken for a stuck worker.
    if (worker->run(std::move(fn), std::max<clock::duration>(until - e->now(), milliseconds(10)))) return true;
    bury(std::move(job));
    worker->abandon();
    worker.reset();
    healthy = false;
    if (++wedged_workers < max_wedged_workers) worker = std::make_unique<mpi_worker>();
    return false;
  }

  error wedged_error(const std::string& what) const {
    return make_error(errc::deadline, what + " did not return from MPI (Open MPI is wedged in this process; " +
                                          "its thread was left behind; restart the process or fall back to p2p)");
  }

  void abandon_buffers() {
    healthy = false;
    bury(std::move(buf));
    bury(std::move(weight));
    buf = std::make_shared<std::vector<float>>();
    weight = std::make_shared<double>(0.0);
  }

  result<survivor_view> agree(milliseconds timeout) {
    if (!worker) return wedged_error("probe: MPI worker");
    auto job = std::make_shared<probe_job>();
    job->in = probe_input{probe, world_rank, world_size, members, completed, ++probe_epoch, timeout};
    env* env_ = e;
    // Each round may run ~100 ms past its deadline while it lets go of requests.
    const auto until = e->now() + 2 * timeout + milliseconds(300) + worker_grace;
    if (!run([job, env_] { job->out = probe_survivors(*env_, job->in, job->keep); }, until, job))
      return wedged_error("probe");
    for (auto& k : job->keep) bury(std::move(k));
    if (*job->out) last_view = **job->out;
    return std::move(*job->out);
  }
};

result<std::unique_ptr<mpi_group>> mpi_group::init(int* argc, char*** argv, env& e) {
  static std::atomic<bool> once{false};
  if (once.exchange(true))
    return make_error(errc::invalid_input, "mpi_group::init: called twice (MPI initialises once per process)");
  // The tcp btl writes to sockets without MSG_NOSIGNAL: when a peer dies
  // while data is in flight to it, SIGPIPE would kill this survivor too.
  // Ignore it, unless the program installed its own handler.
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);

  // Without the tcp btl's emulated RDMA put, ob1 has no FIN message to send
  // when a transfer to a dying peer fails, which is the path that deadlocks
  // (see mpi_group.hpp). Same bandwidth on loopback; `--mca btl_tcp_flags`
  // on the mpirun line (or the environment) still wins.
  setenv("OMPI_MCA_btl_tcp_flags", "send,inplace,need-ack,need-csum", 0);

  auto s = std::make_unique<state>();
  s->e = &e;
  auto job = std::make_shared<init_job>();
  job->argc = argc;
  job->argv = argv;
  if (!s->run([job] { run_init(*job); }, e.now() + init_timeout, job)) {
    (void)s.release();  // MPI_Init is stuck on a thread that may still touch it
    return make_error(errc::deadline, "MPI_Init_thread did not return within " +
                                          std::to_string(init_timeout.count() / 1000) + " s");
  }
  if (!*job->out) {
    s->finalized = true;  // nothing to finalize: MPI failed to start or was finalized
    return job->out->err();
  }
  s->comm = job->comm;
  s->probe = job->probe;
  s->world_rank = s->rank = job->world_rank;
  s->world_size = s->size = job->world_size;
  for (int r = 0; r < s->world_size; ++r) s->members.push_back(r);
  return std::unique_ptr<mpi_group>(new mpi_group(std::move(s)));
}

mpi_group::mpi_group(std::unique_ptr<state> s) : s_(std::move(s)) {}

mpi_group::~mpi_group() {
  if (!s_) return;
  if (!s_->finalized) finalize(std::chrono::seconds(5));
  // A thread left inside MPI may still touch the graveyard: leak it all
  // rather than free memory under it.
  if (s_->wedged_workers > 0) (void)s_.release();
}

int mpi_group::rank() const { return s_->rank; }
int mpi_group::size() const { return s_->size; }
int mpi_group::world_rank() const { return s_->world_rank; }
int mpi_group::world_size() const { return s_->world_size; }
const std::vector<int>& mpi_group::members() const { return s_->members; }
bool mpi_group::healthy() const { return s_->healthy; }
const survivor_view& mpi_group::last_view() const { return s_->last_view; }
void mpi_group::set_probe_timeout(milliseconds t) { s_->probe_timeout = t; }

result<double> mpi_group::allreduce_weighted_mean(std::span<float> data, double weight, milliseconds timeout) {
  state& s = *s_;
  if (s.finalized) return make_error(errc::invalid_input, "all-reduce after finalize");
  if (!s.worker) return s.wedged_error("an earlier MPI call");
  if (!s.healthy)
    return make_error(errc::unavailable, "all-reduce on an abandoned communicator: call shrink() first");
  if (!(weight >= 0.0) || !std::isfinite(weight))
    return make_error(errc::invalid_input, "all-reduce: weight must be finite and >= 0");
  if (data.size() > static_cast<std::size_t>(INT_MAX))
    return make_error(errc::invalid_input, "all-reduce: more than INT_MAX elements");

  auto job = std::make_shared<reduce_job>();
  job->comm = s.comm;
  job->buf = s.buf;
  job->weight = s.weight;
  job->count = static_cast<int>(data.size());
  job->deadline = s.e->now() + timeout;
  auto& buf = *s.buf;
  if (buf.size() < data.size()) buf.resize(data.size());
  const float w = static_cast<float>(weight);
  for (std::size_t i = 0; i < data.size(); ++i) buf[i] = data[i] * w;
  *s.weight = weight;

  env* e = s.e;
  std::string msg;
  errc code = errc::deadline;
  if (!s.run([job, e] { run_reduce(*e, *job); }, job->deadline + worker_grace, job)) {
    msg = s.wedged_error("all-reduce").message;
  } else if (job->rc != MPI_SUCCESS) {
    s.abandon_buffers();
    msg = mpi_error("MPI_Iallreduce", job->rc).message;
    code = errc::unavailable;
  } else if (job->timed_out) {
    s.abandon_buffers();
    msg = "all-reduce of " + std::to_string(job->count) + " floats over ranks " + join_ranks(s.members) +
          " timed out after " + std::to_string(timeout.count()) + " ms";
  } else {
    ++s.completed;
    const double total = *s.weight;
    if (!(total > 0.0)) return make_error(errc::invalid_input, "all-reduce: weights sum to zero");
    const float inv = static_cast<float>(1.0 / total);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = buf[i] * inv;
    return total;
  }
  if (s.probe_timeout.count() > 0) {
    auto view = s.agree(s.probe_timeout);
    msg += view ? "; suspected: " + join_ranks(view->suspected) + ", survivors: " + join_ranks(view->survivors)
                : "; " + view.err().message;
  }
  return make_error(code, std::move(msg));
}

result<survivor_view> mpi_group::agree_survivors(milliseconds timeout) {
  if (s_->finalized) return make_error(errc::invalid_input, "probe after finalize");
  return s_->agree(timeout);
}

status mpi_group::shrink(const std::vector<int>& alive_world_ranks, milliseconds timeout) {
  state& s = *s_;
  if (s.finalized) return make_error(errc::invalid_input, "shrink after finalize");
  if (!s.worker) return s.wedged_error("an earlier MPI call");
  if (auto ok = validate_members(alive_world_ranks, s.members, s.world_size, s.world_rank); !ok) return ok;
  s.healthy = false;  // the old communicator is given up whatever happens next

  auto job = std::make_shared<shrink_job>();
  job->alive = normalized(alive_world_ranks);
  job->tag = shrink_tag_base + static_cast<int>(s.shrink_epoch++ % shrink_tag_span);
  job->deadline = s.e->now() + timeout;
  env* e = s.e;
  if (!s.run([job, e] { run_shrink(*e, *job); }, job->deadline + worker_grace, job))
    return make_error(errc::deadline, "shrink: MPI_Comm_create_group over " + join_ranks(job->alive) +
                                          " did not return within " + std::to_string(timeout.count()) +
                                          " ms (is a listed rank dead or not calling shrink?)");
  if (!*job->out) {
    s.bury(job);  // its check buffer may still be owned by MPI
    return *job->out;
  }
  s.comm = job->comm;  // the old one is abandoned: never freed, never touched
  s.members = job->alive;
  s.size = static_cast<int>(job->alive.size());
  s.rank = static_cast<int>(std::find(job->alive.begin(), job->alive.end(), s.world_rank) - job->alive.begin());
  s.completed = 0;
  s.healthy = true;
  return {};
}

bool mpi_group::finalize(milliseconds timeout) {
  state& s = *s_;
  if (s.finalized) return s.finalize_clean;
  s.finalized = true;
  s.healthy = false;
  if (!s.worker) return false;
  auto job = std::make_shared<int>(MPI_SUCCESS);
  s.finalize_clean = s.run([job] { *job = MPI_Finalize(); }, s.e->now() + timeout, job) && *job == MPI_SUCCESS;
  return s.finalize_clean;
}

}  // namespace hydra::mpi
