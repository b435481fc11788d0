#include "kernels/model.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kernels/conv2d.hpp"
#include "kernels/dense.hpp"
#include "kernels/flatten.hpp"
#include "kernels/pool.hpp"

namespace hydra::kernels {

model::model(context& ctx, std::string name, dims3 input, int classes)
    : ctx_(ctx), name_(std::move(name)), input_(input), classes_(classes) {
  norm_.assign(2 * static_cast<std::size_t>(std::max(input.c, 0)), 0.0f);
  std::fill(norm_.begin() + input.c, norm_.end(), 1.0f);
}

status model::set_standardization(std::span<const float> mean, std::span<const float> stddev) {
  const std::size_t c = static_cast<std::size_t>(input_.c);
  if (mean.size() != c || stddev.size() != c)
    return make_error(errc::invalid_input, "standardisation needs " + std::to_string(c) + " mean(s) and std(s), got " +
                                               std::to_string(mean.size()) + " and " + std::to_string(stddev.size()));
  for (std::size_t i = 0; i < c; ++i)
    if (!std::isfinite(mean[i]) || !std::isfinite(stddev[i]) || !(stddev[i] > 0) || !std::isfinite(1.0f / stddev[i]))
      return make_error(errc::invalid_input, "standardisation of channel " + std::to_string(i) + ": mean " +
                                                 std::to_string(mean[i]) + ", std " + std::to_string(stddev[i]) +
                                                 " (the std must be finite and > 0)");
  for (std::size_t i = 0; i < c; ++i) {
    norm_[i] = mean[i];
    norm_[c + i] = 1.0f / stddev[i];
  }
  return {};
}

bool model::standardizes() const {
  const std::size_t c = static_cast<std::size_t>(input_.c);
  for (std::size_t i = 0; i < c; ++i)
    if (norm_[i] != 0.0f || norm_[c + i] != 1.0f) return true;
  return false;
}

const float* model::standardized(int n, const float* x) {
  if (!standardizes()) return x;
  const std::size_t c = static_cast<std::size_t>(input_.c), plane = static_cast<std::size_t>(input_.h) * input_.w;
  const std::size_t total = std::size_t(n) * c * plane;
  if (x_norm_.size() < total) x_norm_.resize(total);
  float* out = x_norm_.data();
  for (std::size_t s = 0; s < std::size_t(n); ++s)
    for (std::size_t ch = 0; ch < c; ++ch) {
      const float m = norm_[ch], k = norm_[c + ch];
      const std::size_t at = (s * c + ch) * plane;
      for (std::size_t i = 0; i < plane; ++i) out[at + i] = (x[at + i] - m) * k;
    }
  return out;
}

std::vector<std::string> model::names() { return {"mlp", "cnn"}; }

result<std::unique_ptr<model>> model::make(std::string_view name, context& ctx) {
  const dims3 in{1, 28, 28};
  auto m = std::make_unique<model>(ctx, std::string(name), in, 10);
  if (name == "mlp") {
    m->add(std::make_unique<dense>(ctx, in, 256, true));
    m->add(std::make_unique<dense>(ctx, dims3{256}, 128, true));
    m->add(std::make_unique<dense>(ctx, dims3{128}, 10, false));
  } else if (name == "cnn") {
    const layout blk = ctx.conv_layout();
    auto c1 = std::make_unique<conv2d>(ctx, in, layout::plain, blk, 32, 5, 2, true);
    auto p1 = std::make_unique<max_pool>(c1->out_dims(), blk, 2);
    auto c2 = std::make_unique<conv2d>(ctx, p1->out_dims(), blk, blk, 64, 5, 2, true);
    auto p2 = std::make_unique<max_pool>(c2->out_dims(), blk, 2);
    auto fl = std::make_unique<flatten>(ctx, p2->out_dims(), blk);
    auto f1 = std::make_unique<dense>(ctx, fl->out_dims(), 1024, true);
    auto f2 = std::make_unique<dense>(ctx, dims3{1024}, 10, false);
    m->add(std::move(c1));
    m->add(std::move(p1));
    m->add(std::move(c2));
    m->add(std::move(p2));
    m->add(std::move(fl));
    m->add(std::move(f1));
    m->add(std::move(f2));
  } else {
    return make_error(errc::invalid_input, "unknown model '" + std::string(name) + "' (choose mlp or cnn)");
  }
  m->finalize();
  return m;
}

void model::add(std::unique_ptr<layer> l) { layers_.push_back(std::move(l)); }

void model::finalize() {
  std::size_t total = 0;
  for (auto& l : layers_) total += l->param_count();
  params_.resize(total);
  grads_.resize(total);
  std::size_t off = 0;
  for (auto& l : layers_) {
    l->bind(params_.data() + off, grads_.data() + off);
    off += l->param_count();
  }
}

void model::init(std::uint64_t seed) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    rng r = rng::derive(seed, i);
    layers_[i]->init(r);
  }
}

void model::ensure_activations(int n) {
  if (n <= act_batch_) return;
  acts_.clear();
  std::size_t widest = input_.elems();
  for (auto& l : layers_) {
    acts_.emplace_back(std::size_t(n) * l->out_dims().elems());
    widest = std::max(widest, l->out_dims().elems());
  }
  grad_a_.resize(std::size_t(n) * widest);
  grad_b_.resize(std::size_t(n) * widest);
  act_batch_ = n;
}

void model::run_forward(int n, const float* x) {
  ensure_activations(n);
  const float* in = x;  // already standardised by the caller
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(n, in, acts_[i].data());
    in = acts_[i].data();
  }
}

const float* model::predict(int n, const float* x) {
  run_forward(n, standardized(n, x));
  return acts_.back().data();
}

xent_result model::evaluate(int n, const float* x, const std::int32_t* labels) {
  return softmax_xent(n, classes_, predict(n, x), labels, nullptr);
}

xent_result model::compute_gradients(int n, const float* x, const std::int32_t* labels) {
  x = standardized(n, x);
  run_forward(n, x);
  float* dy = grad_a_.data();
  float* dx = grad_b_.data();
  auto res = softmax_xent(n, classes_, acts_.back().data(), labels, dy);
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const float* in = i == 0 ? x : acts_[i - 1].data();
    layers_[i]->backward(n, in, acts_[i].data(), dy, i == 0 ? nullptr : dx);
    std::swap(dy, dx);
  }
  return res;
}

double model::train_flops_per_sample() const {
  double f = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) f += layers_[i]->flops_per_sample(i != 0);
  return f;
}

std::string model::summary() const {
  std::ostringstream os;
  for (auto& l : layers_) os << "  " << l->describe() << "  params=" << l->param_count() << "\n";
  os << "  total params=" << params_.size();
  return os.str();
}

}  // namespace hydra::kernels
