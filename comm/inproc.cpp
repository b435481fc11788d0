#include "comm/inproc.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <string>

namespace hydra::comm {

// ---- inproc_faults ------------------------------------------------------------

void inproc_faults::kill(int rank, death how) {
  std::lock_guard l(mu_);
  ranks_[rank].dead = how;
}

void inproc_faults::kill_after_sends(int rank, std::uint64_t n, death how) {
  std::lock_guard l(mu_);
  auto& s = ranks_[rank];
  s.sends_left = n;
  s.planned = how;
}

void inproc_faults::delay(int from, int to, clock::duration d) {
  std::lock_guard l(mu_);
  delays_[{from, to}] = d;
}

void inproc_faults::delay_all(clock::duration d) {
  std::lock_guard l(mu_);
  delay_all_ = d;
}

bool inproc_faults::dead(int rank) const { return death_of(rank).has_value(); }

std::optional<inproc_faults::death> inproc_faults::death_of(int rank) const {
  std::lock_guard l(mu_);
  auto it = ranks_.find(rank);
  return it == ranks_.end() ? std::nullopt : it->second.dead;
}

std::optional<clock::duration> inproc_faults::on_send(int from, int to) {
  std::lock_guard l(mu_);
  if (auto it = ranks_.find(from); it != ranks_.end()) {
    auto& s = it->second;
    if (!s.dead && s.sends_left) {
      if (*s.sends_left == 0)
        s.dead = s.planned;
      else
        --*s.sends_left;
    }
    if (s.dead) return std::nullopt;
  }
  auto d = delays_.find({from, to});
  return d == delays_.end() ? delay_all_ : d->second;
}

// ---- the group ------------------------------------------------------------------

namespace {

/// How often a waiting recv looks at the faults (kill() does not notify).
constexpr auto fault_poll = std::chrono::milliseconds(2);
/// Spare buffers kept per mailbox, so steady traffic allocates nothing.
constexpr std::size_t max_spares = 8;

struct message {
  std::vector<std::byte> bytes;
  clock::time_point visible_at;
};

struct mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<message> queue;
  std::vector<std::vector<std::byte>> spares;
};

struct group_state {
  group_state(int n, std::shared_ptr<inproc_faults> f, env& e)
      : n(n), boxes(static_cast<std::size_t>(n) * static_cast<std::size_t>(n)), faults(std::move(f)), env(e) {}
  int n;
  std::vector<mailbox> boxes;  // boxes[to * n + from]
  std::shared_ptr<inproc_faults> faults;
  hydra::env& env;
  mailbox& box(int to, int from) { return boxes[static_cast<std::size_t>(to * n + from)]; }
};

class inproc_link final : public link {
 public:
  inproc_link(std::shared_ptr<group_state> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->n; }
  std::uint64_t bytes_sent() const override { return sent_.load(std::memory_order_relaxed); }

  status send(int to, std::span<const std::byte> bytes) override {
    if (auto st = check_peer(to, "send"); !st) return st;
    sent_.fetch_add(bytes.size(), std::memory_order_relaxed);
    clock::duration delay{};
    if (g_->faults) {
      auto d = g_->faults->on_send(rank_, to);
      if (!d) return {};  // dead: the message vanishes
      delay = *d;
    }
    auto& b = g_->box(to, rank_);
    {
      std::lock_guard l(b.mu);
      message m;
      if (!b.spares.empty()) {
        m.bytes = std::move(b.spares.back());
        b.spares.pop_back();
      }
      m.bytes.assign(bytes.begin(), bytes.end());
      m.visible_at = delay == clock::duration{} ? clock::time_point{} : g_->env.now() + delay;
      b.queue.push_back(std::move(m));
    }
    b.cv.notify_one();
    return {};
  }

  status recv(int from, std::vector<std::byte>& out, clock::time_point deadline) override {
    if (auto st = check_peer(from, "recv"); !st) return st;
    auto& b = g_->box(rank_, from);
    std::unique_lock l(b.mu);
    for (;;) {
      if (g_->faults && g_->faults->dead(rank_))
        return make_error(errc::unavailable, "rank " + std::to_string(rank_) + " is dead");
      const auto now = g_->env.now();
      if (!b.queue.empty() && b.queue.front().visible_at <= now) return take(b, out);
      if (b.queue.empty() && g_->faults && g_->faults->death_of(from) == inproc_faults::death::detected)
        return make_error(errc::unavailable, "recv from rank " + std::to_string(from) + ": peer gone");
      if (now >= deadline)
        return make_error(errc::deadline, "recv from rank " + std::to_string(from) + ": deadline passed");
      auto until = deadline;
      if (!b.queue.empty()) until = std::min(until, b.queue.front().visible_at);
      if (g_->faults) until = std::min(until, now + fault_poll);
      b.cv.wait_until(l, until);
    }
  }

 private:
  status check_peer(int peer, const char* what) const {
    if (peer < 0 || peer >= g_->n || peer == rank_)
      return make_error(errc::invalid_input, std::string(what) + ": rank " + std::to_string(peer) +
                                                 " is not a peer of rank " + std::to_string(rank_));
    return {};
  }

  static status take(mailbox& b, std::vector<std::byte>& out) {
    out.swap(b.queue.front().bytes);
    if (b.spares.size() < max_spares) b.spares.push_back(std::move(b.queue.front().bytes));
    b.queue.pop_front();
    return {};
  }

  std::shared_ptr<group_state> g_;
  int rank_;
  std::atomic<std::uint64_t> sent_{0};
};

}  // namespace

std::vector<std::unique_ptr<link>> make_inproc_group(int n, std::shared_ptr<inproc_faults> faults, env& e) {
  auto g = std::make_shared<group_state>(std::max(n, 0), std::move(faults), e);
  std::vector<std::unique_ptr<link>> links;
  for (int r = 0; r < g->n; ++r) links.push_back(std::make_unique<inproc_link>(g, r));
  return links;
}

}  // namespace hydra::comm
