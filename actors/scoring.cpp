#include "actors/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/context.hpp"
#include "kernels/model.hpp"

namespace hydra::actors {

void model_board::publish(const std::string& model_name, std::span<const float> params, std::uint64_t step,
                          std::span<const float> standardization) {
  std::lock_guard lock(mu_);
  name_ = model_name;
  params_.assign(params.begin(), params.end());
  norm_.assign(standardization.begin(), standardization.end());
  step_ = step;
  set_ = true;
}

bool model_board::read(std::string& model_name, std::vector<float>& params, std::uint64_t& step,
                       std::vector<float>* standardization) const {
  std::lock_guard lock(mu_);
  if (!set_) return false;
  model_name = name_;
  params = params_;
  if (standardization) *standardization = norm_;
  step = step_;
  return true;
}

void sample_pool::add(const data::dataset& d) {
  std::lock_guard lock(mu_);
  sample_size_ = d.sample_size();
  images_.insert(images_.end(), d.images.begin(), d.images.end());
  labels_.insert(labels_.end(), d.labels.begin(), d.labels.end());
}

int sample_pool::take(int max, int epoch, std::size_t sample_size, float* x, std::int32_t* y) {
  std::lock_guard lock(mu_);
  if (labels_.empty() || sample_size != sample_size_) return 0;
  if (epoch != epoch_) {
    epoch_ = epoch;
    drawn_this_epoch_ = 0;
  }
  const int n = static_cast<int>(
      std::min<std::size_t>(max, labels_.size() - std::min(labels_.size(), drawn_this_epoch_)));
  for (int i = 0; i < n; ++i) {
    if (cursor_ >= labels_.size()) cursor_ = 0;
    std::memcpy(x + std::size_t(i) * sample_size, images_.data() + cursor_ * sample_size, sample_size * sizeof(float));
    y[i] = labels_[cursor_];
    ++cursor_;
  }
  drawn_ += n;
  drawn_this_epoch_ += n;
  return n;
}

std::size_t sample_pool::size() const {
  std::lock_guard lock(mu_);
  return labels_.size();
}

std::uint64_t sample_pool::drawn() const {
  std::lock_guard lock(mu_);
  return drawn_;
}

scorer::scorer(data::dataset validation, std::shared_ptr<model_board> board)
    : val_(std::move(validation)), board_(std::move(board)) {
  loaded_ = true;
}

scorer::scorer(std::function<result<data::dataset>()> load_validation, std::shared_ptr<model_board> board)
    : board_(std::move(board)) {
  loader_ = std::thread([this, load = std::move(load_validation)] {
    auto v = load();
    if (v) {
      val_ = std::move(*v);
      loaded_ = true;  // release: val_ is complete before the flag is seen
    }
  });
}

scorer::~scorer() {
  if (loader_.joinable()) loader_.join();
}

// The score:
//   agreement  = share of the contribution's samples whose label the current
//                model predicts;
//   relative   = agreement / the model's own accuracy on held-out data, so a
//                contribution as clean as the held-out set scores about 1
//                at any stage of training (capped at 1.25);
//   loss_delta = held-out loss before minus after one SGD step (lr 0.05) on
//                the contribution alone (Gauntlet's measure: > 0 helps).
//   score      = relative, halved when the step makes held-out loss worse
//                by more than 0.01 nats.
// Mislabelled data agrees with the model about as often as the model errs
// the same way (~0.1 for random wrong labels), so it scores far below
// honest data; the quorum accepts at >= 0.6 (ledger/quorum.hpp).
result<score_result> scorer::score(const data::dataset& c) {
  std::uint64_t step = 0;
  std::string name;
  if (!loaded_) return make_error(errc::unavailable, "model not ready");
  if (!board_ || !board_->read(name, params_, step, &norm_)) return make_error(errc::unavailable, "model not ready");
  if (!ctx_) ctx_ = std::make_unique<kernels::context>(1);
  if (!model_ || model_name_ != name) {
    auto m = kernels::model::make(name, *ctx_);
    if (!m) return m.err();
    model_ = std::move(*m);
    model_name_ = name;
  }
  if (model_->params().size() != params_.size()) return make_error(errc::internal, "model size mismatch");
  if (c.sample_size() != val_.sample_size() || c.size() == 0)
    return make_error(errc::invalid_input, "contribution shape does not match the model");
  std::copy(params_.begin(), params_.end(), model_->params().begin());
  // The trainers' input standardisation: contributions and the held-out set
  // are scored as the model sees its training data.
  auto norm = model_->standardization_state();
  if (norm_.size() == norm.size()) {
    std::copy(norm_.begin(), norm_.end(), norm.begin());
  } else {
    for (std::size_t i = 0; i < norm.size(); ++i) norm[i] = i < norm.size() / 2 ? 0.0f : 1.0f;
  }

  auto eval = [&](const data::dataset& d, double& loss) {
    std::vector<std::int32_t> y(d.labels.begin(), d.labels.end());
    std::size_t correct = 0;
    double loss_sum = 0;
    const int chunk = 500;
    for (std::size_t i = 0; i < d.size(); i += chunk) {
      const int k = static_cast<int>(std::min<std::size_t>(chunk, d.size() - i));
      auto r = model_->evaluate(k, d.images.data() + i * d.sample_size(), y.data() + i);
      correct += r.correct;
      loss_sum += double(r.loss) * k;
    }
    loss = loss_sum / double(d.size());
    return double(correct) / double(d.size());
  };
  score_result out;
  out.model_step = step;
  double val_loss = 0, c_loss = 0;
  out.val_accuracy = eval(val_, val_loss);
  out.val_loss = val_loss;
  if (out.val_accuracy < ready_accuracy) return make_error(errc::unavailable, "model not ready");
  out.agreement = eval(c, c_loss);

  // One step on the contribution alone, then the held-out loss again.
  std::vector<std::int32_t> y(c.labels.begin(), c.labels.end());
  model_->compute_gradients(static_cast<int>(c.size()), c.images.data(), y.data());
  auto p = model_->params();
  auto g = model_->grads();
  for (std::size_t i = 0; i < p.size(); ++i) p[i] -= static_cast<float>(score_lr) * g[i];
  double after = 0;
  eval(val_, after);
  out.loss_delta = val_loss - after;

  const double relative = std::clamp(out.agreement / std::max(out.val_accuracy, 1e-6), 0.0, 1.25);
  out.score = out.loss_delta < -0.01 ? relative * 0.5 : relative;
  return out;
}

}  // namespace hydra::actors
