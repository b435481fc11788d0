#include "apps/train.hpp"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "apps/progress.hpp"
#include "common/env.hpp"
#include "common/hash.hpp"
#include "data/batcher.hpp"
#include "data/idx.hpp"
#include "data/standardize.hpp"
#include "kernels/model.hpp"
#include "kernels/optimizer.hpp"

namespace hydra::apps {
namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "hydra train: error: %s\n", what.c_str());
  return 1;
}

struct eval_result {
  double loss = 0;
  double accuracy = 0;
};

eval_result evaluate(kernels::model& m, const data::dataset& d) {
  constexpr int chunk = 1000;
  data::batcher b(d, chunk, 0);
  b.start_epoch(0, false);
  std::vector<float> x(std::size_t(chunk) * d.sample_size());
  std::vector<std::int32_t> y(chunk);
  double loss = 0;
  std::size_t correct = 0;
  while (int n = b.next(x.data(), y.data())) {
    auto r = m.evaluate(n, x.data(), y.data());
    loss += r.loss * n;
    correct += r.correct;
  }
  return {loss / d.size(), double(correct) / d.size()};
}

}  // namespace

CLI::App* add_train_command(CLI::App& app, train_options& o, int& exit_code) {
  auto* cmd = app.add_subcommand("train", "Train a model on one node (Fashion-MNIST by default)");
  cmd->add_option("--model", o.model, "Model to train")->check(CLI::IsMember(kernels::model::names()))
      ->capture_default_str();
  cmd->add_option("--epochs", o.epochs, "Passes over the training set")->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--batch", o.batch, "Mini-batch size")->check(CLI::Range(1, 65536))->capture_default_str();
  cmd->add_option("--lr", o.lr, "Learning rate (default: 0.1 for sgd, 0.001 for adam)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--optimizer", o.optimizer, "Optimizer")->check(CLI::IsMember({"sgd", "adam"}))
      ->capture_default_str();
  cmd->add_option("--momentum", o.momentum, "SGD momentum")->check(CLI::Range(0.0, 0.9999))->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "L2 weight decay")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "Compute threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("--seed", o.seed, "Seed for initialisation and data order")->capture_default_str();
  cmd->add_option("--data", o.data, "Directory of IDX files (default: " + data::default_data_dir() + ")");
  cmd->add_option("--limit", o.limit, "Train on the first N samples only (0 = all)")->capture_default_str();
  cmd->add_flag("--standardize,!--no-standardize", o.standardize,
                "Standardise inputs with the training set's pixel mean and std (default on)");
  cmd->add_flag("--json", o.json, "Print one JSON object with the results on stdout");
  cmd->add_flag("--quiet,-q", o.quiet, "No progress bar");
  cmd->callback([&o, &exit_code] { exit_code = run_train(o); });
  return cmd;
}

int run_train(const train_options& o) {
  env& e = default_env();
  const std::string dir = o.data.empty() ? data::default_data_dir() : o.data;
  auto loaded = data::load_dir(dir);
  if (!loaded) return fail(loaded.err().message);
  data::dataset& train = loaded->train;
  const data::dataset& test = loaded->test;
  if (o.limit > 0 && o.limit < train.size()) {
    train.labels.resize(o.limit);
    train.images.resize(o.limit * train.sample_size());
  }

  kernels::context ctx(o.threads);
  auto made = kernels::model::make(o.model, ctx);
  if (!made) return fail(made.err().message);
  kernels::model& m = **made;
  if (train.rows != m.input_dims().h || train.cols != m.input_dims().w)
    return fail(dir + ": images are " + std::to_string(train.rows) + "x" + std::to_string(train.cols) +
                ", model '" + o.model + "' expects " + std::to_string(m.input_dims().h) + "x" +
                std::to_string(m.input_dims().w));
  m.init(o.seed);
  data::pixel_stats stats;
  if (o.standardize) {
    stats = data::compute_pixel_stats(train);
    const float mean[] = {static_cast<float>(stats.mean)}, sd[] = {static_cast<float>(stats.stddev)};
    if (auto st = m.set_standardization(mean, sd); !st) return fail(st.err().message);
  }

  kernels::optimizer_config oc;
  oc.kind = o.optimizer;
  oc.lr = o.lr > 0 ? o.lr : (o.optimizer == "adam" ? 0.001f : 0.1f);
  oc.momentum = o.momentum;
  oc.weight_decay = o.weight_decay;
  auto opt_made = kernels::make_optimizer(oc, m.params().size());
  if (!opt_made) return fail(opt_made.err().message);
  kernels::optimizer& opt = **opt_made;

  data::batcher batches(train, o.batch, o.seed);
  std::vector<float> x(std::size_t(o.batch) * train.sample_size());
  std::vector<std::int32_t> y(o.batch);
  const std::size_t total_steps = batches.batches_per_epoch() * o.epochs;
  progress_bar bar(e, "train", total_steps, !o.quiet);

  double train_seconds = 0, epoch_loss = 0;
  std::size_t step = 0, samples = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    batches.start_epoch(epoch);
    double loss_sum = 0;
    std::size_t epoch_samples = 0;
    auto t0 = e.now();
    while (int n = batches.next(x.data(), y.data())) {
      auto r = m.compute_gradients(n, x.data(), y.data());
      if (!std::isfinite(r.loss))
        return fail("training diverged: loss is " + std::to_string(r.loss) + " at step " + std::to_string(step) +
                    " (try a smaller --lr)");
      opt.step(m.params(), m.grads());
      loss_sum += r.loss * n;
      epoch_samples += n;
      ++step;
      if (!o.quiet && (step & 15) == 0) {
        const double secs = train_seconds + seconds_between(t0, e.now());
        char status[128];
        std::snprintf(status, sizeof status, "epoch %d/%d  loss %.4f  %.0f samples/s", epoch + 1, o.epochs,
                      loss_sum / epoch_samples, (samples + epoch_samples) / std::max(secs, 1e-9));
        bar.update(step, status);
      }
    }
    train_seconds += seconds_between(t0, e.now());
    samples += epoch_samples;
    epoch_loss = loss_sum / std::max<std::size_t>(epoch_samples, 1);
  }
  char status[128];
  std::snprintf(status, sizeof status, "loss %.4f  %.0f samples/s", epoch_loss, samples / train_seconds);
  bar.finish(status);

  const auto ev = evaluate(m, test);
  const double sps = samples / train_seconds;
  const double gflops = sps * m.train_flops_per_sample() / 1e9;
  const std::string hash = hash_floats(m.params());
  if (o.json) {
    nlohmann::json j = {{"model", o.model},
                        {"epochs", o.epochs},
                        {"batch", o.batch},
                        {"threads", ctx.threads()},
                        {"optimizer", o.optimizer},
                        {"lr", oc.lr},
                        {"seed", o.seed},
                        {"standardize", o.standardize},
                        {"input_mean", stats.mean},
                        {"input_std", stats.stddev},
                        {"train_samples", samples},
                        {"train_seconds", train_seconds},
                        {"train_samples_per_second", sps},
                        {"final_loss", epoch_loss},
                        {"test_loss", ev.loss},
                        {"test_accuracy", ev.accuracy},
                        {"params", m.params().size()},
                        {"flops_per_sample", m.train_flops_per_sample()},
                        {"achieved_gflops", gflops},
                        {"weights_hash", hash}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("model %s, %zu parameters, %d thread(s)\n", o.model.c_str(), m.params().size(), ctx.threads());
    if (o.standardize)
      std::printf("inputs standardised with the training set's pixel mean %.4f and std %.4f\n", stats.mean,
                  stats.stddev);
    std::printf("trained %zu samples in %.2f s: %.0f samples/s (%.1f GFLOP/s)\n", samples, train_seconds, sps, gflops);
    std::printf("final training loss %.4f, test loss %.4f, test accuracy %.2f%%\n", epoch_loss, ev.loss,
                100 * ev.accuracy);
    std::printf("weights %s\n", hash.c_str());
  }
  return 0;
}

}  // namespace hydra::apps
