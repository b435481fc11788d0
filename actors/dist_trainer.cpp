#include "actors/dist_trainer.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "comm/allreduce.hpp"
#include "common/env.hpp"
#include "common/hash.hpp"
#include "data/batcher.hpp"
#include "data/idx.hpp"
#include "kernels/model.hpp"
#include "kernels/optimizer.hpp"

namespace hydra::actors {
namespace {

/// A fast 64-bit fingerprint of the weights for the per-round agreement
/// check (4 independent multiply-xor lanes: ~10 GB/s); the final
/// weights_hash is BLAKE2b.
std::uint64_t fingerprint(std::span<const float> v) {
  std::uint64_t h[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull, 0x27d4eb2f165667c5ull};
  const auto* w = reinterpret_cast<const std::uint32_t*>(v.data());
  const std::size_t n = v.size();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) h[k] = (h[k] ^ w[i + k]) * 0x100000001b3ull;
  for (; i < n; ++i) h[0] = (h[0] ^ w[i]) * 0x100000001b3ull;
  return h[0] ^ (h[1] << 1) ^ (h[2] << 2) ^ (h[3] << 3);
}

/// Rank 0's fingerprint to everyone; false if ours differs.
result<bool> weights_agree(comm::link& l, comm::allreduce_engine& eng, std::span<const float> w,
                           const comm::allreduce_options& opt) {
  std::uint64_t mine = fingerprint(w), root = mine;
  if (l.size() == 1) return true;
  if (auto st = eng.broadcast(l, std::as_writable_bytes(std::span(&root, 1)), 0, opt); !st) return st.err();
  return root == mine;
}

/// The weighted all-reduce of one round (a no-op for a group of one).
result<comm::allreduce_result> ring_or_local(comm::allreduce_engine& eng, comm::link& l, std::span<float> v,
                                             std::size_t weight, const comm::allreduce_options& opt,
                                             comm::error_feedback& ef) {
  if (l.size() == 1) return comm::allreduce_result{0, double(weight)};
  return eng.run(l, v, static_cast<double>(weight), opt, opt.codec == kernels::codec_kind::topk ? &ef : nullptr);
}

}  // namespace

result<dist_train_result> run_dist_training(comm::link& l, const dist_train_options& o, round_callback cb) {
  env& e = default_env();
  const int rank = l.rank(), n = l.size();
  auto loaded = data::load_dir(o.data.empty() ? data::default_data_dir() : o.data);
  if (!loaded) return loaded.err();
  data::dataset& train = loaded->train;
  if (o.limit > 0 && o.limit < train.size()) {
    train.labels.resize(o.limit);
    train.images.resize(o.limit * train.sample_size());
  }
  kernels::context ctx(o.threads);
  auto made = kernels::model::make(o.model, ctx);
  if (!made) return made.err();
  kernels::model& m = **made;
  m.init(o.seed);  // same seed on every rank: identical start
  kernels::optimizer_config oc;
  oc.kind = o.optimizer;
  oc.lr = o.lr > 0 ? o.lr : (o.optimizer == "adam" ? 0.001f : 0.1f);
  oc.momentum = o.momentum;
  auto opt_made = kernels::make_optimizer(oc, m.params().size());
  if (!opt_made) return opt_made.err();
  kernels::optimizer& opt = **opt_made;
  const bool local = o.mode == "local";
  if (!local && o.mode != "sync") return make_error(errc::invalid_input, "mode must be sync or local");
  if (o.local_steps < 1) return make_error(errc::invalid_input, "local steps must be >= 1");
  std::unique_ptr<kernels::optimizer> outer;
  std::vector<float> anchor, delta;
  if (local) {
    auto made_outer = kernels::make_optimizer(
        {.kind = "sgd", .lr = o.outer_lr, .momentum = o.outer_momentum, .nesterov = true}, m.params().size());
    if (!made_outer) return made_outer.err();
    outer = std::move(*made_outer);
    anchor.assign(m.params().begin(), m.params().end());
    delta.resize(anchor.size());
  }

  comm::allreduce_engine eng;
  comm::allreduce_options copt;
  copt.codec = o.codec;
  copt.timeout = std::chrono::seconds(30);
  comm::error_feedback ef;
  data::batcher order(train, o.batch, o.seed);
  const std::size_t steps_per_epoch = order.batches_per_epoch();
  const std::size_t sample = train.sample_size();
  std::vector<float> x(std::size_t(o.batch) * sample);
  std::vector<std::int32_t> y(o.batch);

  dist_train_result out;
  const std::uint64_t total_rounds =
      local ? (steps_per_epoch * o.epochs + o.local_steps - 1) / o.local_steps : steps_per_epoch * o.epochs;
  double loss_sum = 0;
  std::size_t loss_n = 0, since_sync = 0, steps = 0;
  const auto t0 = e.now();
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    order.start_epoch(epoch);
    const auto& perm = order.order();
    loss_sum = 0;
    loss_n = 0;
    for (std::size_t s = 0; s < steps_per_epoch; ++s) {
      // This rank's slice of global batch s.
      const std::size_t b0 = s * o.batch, b1 = std::min(perm.size(), b0 + o.batch), len = b1 - b0;
      const std::size_t lo = b0 + len * rank / n, hi = b0 + len * (rank + 1) / n;
      const int mine = static_cast<int>(hi - lo);
      for (int i = 0; i < mine; ++i) {
        const std::uint32_t idx = perm[lo + i];
        std::memcpy(x.data() + std::size_t(i) * sample, train.images.data() + std::size_t(idx) * sample,
                    sample * sizeof(float));
        y[i] = train.labels[idx];
      }
      if (mine > 0) {
        auto r = m.compute_gradients(mine, x.data(), y.data());
        if (!std::isfinite(r.loss)) return make_error(errc::invalid_input, "training diverged (try a smaller --lr)");
        loss_sum += r.loss * mine;
        loss_n += mine;
      } else {
        std::fill(m.grads().begin(), m.grads().end(), 0.0f);
      }
      ++steps;
      since_sync += mine;
      if (!local) {
        auto res = ring_or_local(eng, l, m.grads(), mine, copt, ef);
        if (!res) return res.err();
        out.bytes_sent += res->bytes_sent;
        opt.step(m.params(), m.grads());
      } else {
        if (mine > 0) opt.step(m.params(), m.grads());
        const bool last = epoch == o.epochs - 1 && s + 1 == steps_per_epoch;
        if (steps % o.local_steps != 0 && !last) continue;
        for (std::size_t i = 0; i < delta.size(); ++i) delta[i] = anchor[i] - m.params()[i];
        auto res = ring_or_local(eng, l, delta, since_sync, copt, ef);
        if (!res) return res.err();
        out.bytes_sent += res->bytes_sent;
        outer->step(anchor, delta);
        std::copy(anchor.begin(), anchor.end(), m.params().begin());
        since_sync = 0;
      }
      ++out.rounds;
      auto agree = weights_agree(l, eng, m.params(), copt);
      if (!agree) return agree.err();
      if (!*agree)
        return make_error(errc::internal, "rank " + std::to_string(rank) + ": weights differ from rank 0 after round " +
                                              std::to_string(out.rounds));
      if (cb) cb(out.rounds, total_rounds, loss_n ? loss_sum / loss_n : 0.0);
    }
    out.samples += perm.size();
  }
  out.seconds = seconds_between(t0, e.now());
  // Every rank's loss share, averaged over the group.
  std::vector<float> loss{static_cast<float>(loss_n ? loss_sum / loss_n : 0.0)};
  if (n > 1) {
    auto r = eng.run(l, loss, static_cast<double>(loss_n), copt);
    if (!r) return r.err();
  }
  out.final_loss = loss[0];
  const auto& test = loaded->test;
  data::batcher tb(test, 1000, 0);
  tb.start_epoch(0, false);
  std::vector<float> tx(1000 * sample);
  std::vector<std::int32_t> ty(1000);
  std::size_t correct = 0;
  while (int k = tb.next(tx.data(), ty.data())) correct += m.evaluate(k, tx.data(), ty.data()).correct;
  out.test_accuracy = double(correct) / test.size();
  out.weights_hash = hash_floats(m.params());
  return out;
}

}  // namespace hydra::actors
