#include "mpi/mpi_group.hpp"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <csignal>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "mpi/survivors.hpp"

namespace hydra::mpi {
namespace {

using clock = env::clock;
using std::chrono::milliseconds;

// Tags. Probe rounds live on their own communicator; create_group runs on
// MPI_COMM_WORLD, which carries nothing else, so the ranges cannot collide.
constexpr int probe_tag_base = 100;
constexpr int probe_tag_span = 30000;  // MPI guarantees MPI_TAG_UB >= 32767
constexpr int shrink_tag_base = 10;
constexpr int shrink_tag_span = 1000;

std::string mpi_error_string(int rc) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(buf, static_cast<std::size_t>(len));
}

error mpi_error(const char* what, int rc) {
  return make_error(errc::unavailable, std::string(what) + ": " + mpi_error_string(rc));
}

// Back-off for polling: spin a little (MPI_Test drives progress; small
// messages finish in microseconds), then sleep 10 us doubling to 200 us so
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
    sleep_ = std::min(sleep_ * 2, std::chrono::microseconds(200));
  }

 private:
  env& e_;
  int spins_ = 0;
  std::chrono::microseconds sleep_{10};
};

// A blocking MPI call run on a helper thread so that the caller can give up
// on it. Shared with the thread; a thread left behind keeps it alive.
struct helper_job {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int rc = MPI_SUCCESS;
  MPI_Comm comm = MPI_COMM_NULL;
};

// Waits for `job` until `deadline`; joins on success, detaches otherwise.
bool wait_job(env& e, std::thread& t, helper_job& job, clock::time_point deadline) {
  std::unique_lock lock(job.mu);
  const auto left = std::max(deadline - e.now(), clock::duration::zero());
  const bool done = job.cv.wait_for(lock, left, [&] { return job.done; });
  lock.unlock();
  if (done) {
    t.join();
  } else {
    t.detach();
  }
  return done;
}

}  // namespace

struct mpi_group::state {
  env* e = nullptr;
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

  // Buffers MPI may own: the current all-reduce buffer and weight slot, plus
  // everything handed to operations that were abandoned (MPI may still write
  // there, so it is never freed while MPI may run).
  std::unique_ptr<std::vector<float>> buf = std::make_unique<std::vector<float>>();
  std::unique_ptr<double> weight = std::make_unique<double>(0.0);
  std::vector<std::shared_ptr<void>> graveyard;

  void bury(std::shared_ptr<void> p) { graveyard.push_back(std::move(p)); }

  // Polls `reqs` (null entries allowed) until all complete or `deadline`.
  // Returns false on deadline; MPI errors come back as an error.
  result<bool> poll_all(std::span<MPI_Request> reqs, clock::time_point deadline) {
    backoff b(*e);
    for (;;) {
      int flag = 0;
      const int rc = MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &flag, MPI_STATUSES_IGNORE);
      if (rc != MPI_SUCCESS) return mpi_error("MPI_Testall", rc);
      if (flag) return true;
      if (e->now() >= deadline) return false;
      b.pause();
    }
  }

  void abandon() {
    healthy = false;
    bury(std::shared_ptr<std::vector<float>>(std::move(buf)));
    bury(std::shared_ptr<double>(std::move(weight)));
    buf = std::make_unique<std::vector<float>>();
    weight = std::make_unique<double>(0.0);
  }

  // One probe round: send `payload` to every rank in `peers` and receive
  // `recv_len` int64s from each on `tag`. got[i] tells whether peers[i]'s
  // message arrived by `deadline`; its data is at recv[i * recv_len].
  struct round_result {
    std::vector<bool> got;
    std::shared_ptr<std::vector<std::int64_t>> recv;
  };
  result<round_result> exchange(const std::vector<int>& peers, std::vector<std::int64_t> payload,
                                int recv_len, int tag, clock::time_point deadline);

  result<survivor_view> probe_survivors(milliseconds timeout);
};

auto mpi_group::state::exchange(const std::vector<int>& peers, std::vector<std::int64_t> payload,
                                int recv_len, int tag, clock::time_point deadline) -> result<round_result> {
  const std::size_t n = peers.size();
  auto send = std::make_shared<std::vector<std::int64_t>>(std::move(payload));
  round_result out{std::vector<bool>(n, false),
                   std::make_shared<std::vector<std::int64_t>>(n * static_cast<std::size_t>(recv_len), 0)};
  std::vector<MPI_Request> rreq(n, MPI_REQUEST_NULL), sreq(n, MPI_REQUEST_NULL);
  for (std::size_t i = 0; i < n; ++i) {
    int rc = MPI_Irecv(out.recv->data() + i * recv_len, recv_len, MPI_INT64_T, peers[i], tag, probe, &rreq[i]);
    if (rc != MPI_SUCCESS) return mpi_error("probe MPI_Irecv", rc);
  }
  for (std::size_t i = 0; i < n; ++i) {
    // A send to a dead rank may fail or never complete; either way the
    // missing answer is what marks it dead, so the error is not fatal here.
    if (MPI_Isend(send->data(), static_cast<int>(send->size()), MPI_INT64_T, peers[i], tag, probe, &sreq[i]) !=
        MPI_SUCCESS)
      sreq[i] = MPI_REQUEST_NULL;
  }
  backoff b(*e);
  std::size_t left = n;
  std::vector<int> idx(n);
  std::vector<MPI_Status> st(n);
  while (left > 0 && e->now() < deadline) {
    int count = 0;
    const int rc = MPI_Testsome(static_cast<int>(n), rreq.data(), &count, idx.data(), st.data());
    if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) return mpi_error("probe MPI_Testsome", rc);
    if (count == MPI_UNDEFINED) break;
    for (int k = 0; k < count; ++k)  // a receive that failed (peer gone) is no answer
      out.got[static_cast<std::size_t>(idx[k])] = rc == MPI_SUCCESS || st[k].MPI_ERROR == MPI_SUCCESS;
    left -= static_cast<std::size_t>(count);
    int flag = 0;
    MPI_Testall(static_cast<int>(n), sreq.data(), &flag, MPI_STATUSES_IGNORE);  // progress sends
    if (count == 0) b.pause();
  }
  // Give the sends a moment to leave (a survivor may still want our message),
  // then let go of what is stuck: cancel receives, free sends; buffers of
  // anything not completed stay alive in the graveyard.
  int sent = 0;
  if (auto ok = poll_all(sreq, std::min(deadline, e->now() + milliseconds(50))); ok) sent = *ok;
  bool stuck = false;
  for (auto& r : rreq) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    int flag = 0;
    const auto until = e->now() + milliseconds(20);
    while (!flag && e->now() < until) MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    if (!flag) {
      MPI_Request_free(&r);
      stuck = true;
    }
  }
  if (!sent) {
    for (auto& r : sreq)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
    bury(send);
  }
  if (stuck) bury(out.recv);
  return out;
}

auto mpi_group::state::probe_survivors(milliseconds timeout) -> result<survivor_view> {
  std::vector<int> others;
  for (int r : members)
    if (r != world_rank) others.push_back(r);
  const std::uint64_t epoch = ++probe_epoch;
  const int tag = probe_tag_base + static_cast<int>((2 * epoch) % probe_tag_span);

  // Round 1: who answers at all, and how many rounds each completed.
  auto r1 = exchange(others, {static_cast<std::int64_t>(epoch), static_cast<std::int64_t>(completed)}, 2, tag,
                     e->now() + timeout);
  if (!r1) return r1.err();
  std::vector<int> view{world_rank};
  std::vector<std::uint64_t> done_of(static_cast<std::size_t>(world_size), completed);
  for (std::size_t i = 0; i < others.size(); ++i) {
    if (!r1->got[i]) continue;
    view.push_back(others[i]);
    done_of[static_cast<std::size_t>(others[i])] = static_cast<std::uint64_t>((*r1->recv)[2 * i + 1]);
  }
  view = normalized(std::move(view));

  // Round 2: exchange views; keep only ranks everyone I heard from still sees.
  std::vector<int> peers;
  for (int r : view)
    if (r != world_rank) peers.push_back(r);
  const int len = world_size + 1;
  std::vector<std::int64_t> mine(static_cast<std::size_t>(len), -1);
  mine[0] = static_cast<std::int64_t>(view.size());
  for (std::size_t i = 0; i < view.size(); ++i) mine[i + 1] = view[i];
  auto r2 = exchange(peers, mine, len, tag + 1, e->now() + timeout);
  if (!r2) return r2.err();
  std::vector<std::vector<int>> theirs(peers.size());
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (!r2->got[i]) continue;
    const std::int64_t* v = r2->recv->data() + i * static_cast<std::size_t>(len);
    const auto count = std::clamp<std::int64_t>(v[0], 0, world_size);
    for (std::int64_t k = 0; k < count; ++k) theirs[i].push_back(static_cast<int>(v[k + 1]));
  }
  auto agreed = intersect_views(view, peers, theirs);

  if (!std::binary_search(agreed.begin(), agreed.end(), world_rank))
    return make_error(errc::unavailable, "probe: the other survivors (" + join_ranks(agreed) +
                                             ") excluded rank " + std::to_string(world_rank));
  if (agreed.size() == 1 && !others.empty())
    return make_error(errc::unavailable, "probe: no other member of " + join_ranks(members) + " answered within " +
                                             std::to_string(timeout.count()) + " ms");
  survivor_view out;
  out.survivors = agreed;
  out.suspected = missing_from(members, agreed);
  out.min_completed = out.max_completed = completed;
  for (int r : agreed) {
    out.min_completed = std::min(out.min_completed, done_of[static_cast<std::size_t>(r)]);
    out.max_completed = std::max(out.max_completed, done_of[static_cast<std::size_t>(r)]);
  }
  last_view = out;
  return out;
}

result<std::unique_ptr<mpi_group>> mpi_group::init(int* argc, char*** argv, env& e) {
  static std::atomic<bool> once{false};
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized || once.exchange(true))
    return make_error(errc::invalid_input, "mpi_group::init: MPI is already initialised in this process");
  // The tcp btl writes to sockets without MSG_NOSIGNAL: when a peer dies
  // while data is in flight to it, SIGPIPE would kill this survivor too.
  // Ignore it, unless the program installed its own handler.
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
  int provided = 0;
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  if (rc != MPI_SUCCESS) return mpi_error("MPI_Init_thread", rc);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_Finalize();
    return make_error(errc::unavailable, "MPI_Init_thread: MPI_THREAD_MULTIPLE not supported");
  }
  auto s = std::make_unique<state>();
  s->e = &e;
  MPI_Comm_rank(MPI_COMM_WORLD, &s->world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &s->world_size);
  if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &s->comm)) != MPI_SUCCESS) return mpi_error("MPI_Comm_dup", rc);
  if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &s->probe)) != MPI_SUCCESS) return mpi_error("MPI_Comm_dup", rc);
  MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(s->probe, MPI_ERRORS_RETURN);
  s->rank = s->world_rank;
  s->size = s->world_size;
  for (int r = 0; r < s->world_size; ++r) s->members.push_back(r);
  return std::unique_ptr<mpi_group>(new mpi_group(std::move(s)));
}

mpi_group::mpi_group(std::unique_ptr<state> s) : s_(std::move(s)) {}

mpi_group::~mpi_group() {
  if (!s_) return;
  finalize(std::chrono::seconds(5));
  // A helper thread may still be inside MPI, touching buffers we own: leak
  // them rather than free memory under it.
  if (!s_->finalize_clean) (void)s_.release();
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
  if (!s.healthy)
    return make_error(errc::unavailable, "all-reduce on an abandoned communicator: call shrink() first");
  if (!(weight >= 0.0) || !std::isfinite(weight))
    return make_error(errc::invalid_input, "all-reduce: weight must be finite and >= 0");
  if (data.size() > static_cast<std::size_t>(INT_MAX))
    return make_error(errc::invalid_input, "all-reduce: more than INT_MAX elements");
  const auto deadline = s.e->now() + timeout;
  const int n = static_cast<int>(data.size());
  auto& buf = *s.buf;
  if (buf.size() < data.size()) buf.resize(data.size());
  const float w = static_cast<float>(weight);
  for (std::size_t i = 0; i < data.size(); ++i) buf[i] = data[i] * w;
  *s.weight = weight;

  MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf.data(), n, MPI_FLOAT, MPI_SUM, s.comm, &req[0]);
  if (rc == MPI_SUCCESS) rc = MPI_Iallreduce(MPI_IN_PLACE, s.weight.get(), 1, MPI_DOUBLE, MPI_SUM, s.comm, &req[1]);
  if (rc != MPI_SUCCESS) {
    s.abandon();
    return mpi_error("MPI_Iallreduce", rc);
  }
  auto done = s.poll_all(req, deadline);
  if (!done || !*done) {
    s.abandon();
    std::string msg = done ? "all-reduce of " + std::to_string(n) + " floats over ranks " + join_ranks(s.members) +
                                 " timed out after " + std::to_string(timeout.count()) + " ms"
                           : done.err().message;
    if (s.probe_timeout.count() > 0) {
      auto view = s.probe_survivors(s.probe_timeout);
      msg += view ? "; suspected: " + join_ranks(view->suspected) + ", survivors: " + join_ranks(view->survivors)
                  : "; " + view.err().message;
    }
    return make_error(done ? errc::deadline : errc::unavailable, std::move(msg));
  }
  ++s.completed;
  const double total = *s.weight;
  if (!(total > 0.0)) return make_error(errc::invalid_input, "all-reduce: weights sum to zero");
  const float inv = static_cast<float>(1.0 / total);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = buf[i] * inv;
  return total;
}

result<survivor_view> mpi_group::agree_survivors(milliseconds timeout) {
  if (s_->finalized) return make_error(errc::invalid_input, "probe after finalize");
  return s_->probe_survivors(timeout);
}

status mpi_group::shrink(const std::vector<int>& alive_world_ranks, milliseconds timeout) {
  state& s = *s_;
  if (s.finalized) return make_error(errc::invalid_input, "shrink after finalize");
  if (auto ok = validate_members(alive_world_ranks, s.members, s.world_size, s.world_rank); !ok) return ok;
  const auto deadline = s.e->now() + timeout;
  const auto alive = normalized(alive_world_ranks);
  s.healthy = false;  // the old communicator is given up whatever happens next

  MPI_Group world_group = MPI_GROUP_NULL, group = MPI_GROUP_NULL;
  MPI_Comm_group(MPI_COMM_WORLD, &world_group);
  int rc = MPI_Group_incl(world_group, static_cast<int>(alive.size()), alive.data(), &group);
  MPI_Group_free(&world_group);
  if (rc != MPI_SUCCESS) return mpi_error("MPI_Group_incl", rc);
  const int tag = shrink_tag_base + static_cast<int>(s.shrink_epoch++ % shrink_tag_span);

  auto job = std::make_shared<helper_job>();
  std::thread t([job, group, tag]() mutable {
    MPI_Comm nc = MPI_COMM_NULL;
    const int r = MPI_Comm_create_group(MPI_COMM_WORLD, group, tag, &nc);
    MPI_Group_free(&group);
    std::lock_guard lock(job->mu);
    job->rc = r;
    job->comm = nc;
    job->done = true;
    job->cv.notify_all();
  });
  if (!wait_job(*s.e, t, *job, deadline)) {
    s.bury(job);
    return make_error(errc::deadline, "shrink: MPI_Comm_create_group over " + join_ranks(alive) +
                                          " did not finish within " + std::to_string(timeout.count()) + " ms");
  }
  if (job->rc != MPI_SUCCESS) return mpi_error("MPI_Comm_create_group", job->rc);
  MPI_Comm nc = job->comm;
  MPI_Comm_set_errhandler(nc, MPI_ERRORS_RETURN);

  // Everyone must have built it from the same list: max(fp) == fp and
  // max(~fp) == ~fp on every rank iff all fingerprints are equal.
  const std::uint64_t fp = fingerprint(alive);
  auto check = std::make_shared<std::array<std::uint64_t, 2>>(std::array<std::uint64_t, 2>{fp, ~fp});
  MPI_Request req = MPI_REQUEST_NULL;
  rc = MPI_Iallreduce(MPI_IN_PLACE, check->data(), 2, MPI_UINT64_T, MPI_MAX, nc, &req);
  if (rc != MPI_SUCCESS) return mpi_error("shrink: MPI_Iallreduce", rc);
  auto done = s.poll_all(std::span(&req, 1), deadline);
  if (!done || !*done) {
    s.bury(check);
    return done ? make_error(errc::deadline, "shrink: agreement check over " + join_ranks(alive) + " timed out")
                : done.err();
  }
  if ((*check)[0] != fp || (*check)[1] != ~fp)
    return make_error(errc::unavailable, "shrink: members disagree about the survivor list " + join_ranks(alive));

  s.comm = nc;  // the old one is abandoned: never freed, never touched
  s.members = alive;
  MPI_Comm_rank(nc, &s.rank);
  MPI_Comm_size(nc, &s.size);
  s.completed = 0;
  s.healthy = true;
  return {};
}

bool mpi_group::finalize(milliseconds timeout) {
  state& s = *s_;
  if (s.finalized) return s.finalize_clean;
  s.finalized = true;
  s.healthy = false;
  auto job = std::make_shared<helper_job>();
  std::thread t([job] {
    const int r = MPI_Finalize();
    std::lock_guard lock(job->mu);
    job->rc = r;
    job->done = true;
    job->cv.notify_all();
  });
  s.finalize_clean = wait_job(*s.e, t, *job, s.e->now() + timeout) && job->rc == MPI_SUCCESS;
  if (!s.finalize_clean) s.bury(job);
  return s.finalize_clean;
}

}  // namespace hydra::mpi
