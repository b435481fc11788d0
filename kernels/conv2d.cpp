#include "kernels/conv2d.hpp"

#include <cmath>
#include <stdexcept>
#include <optional>

#include "kernels/internal/elementwise.hpp"

namespace hydra::kernels {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

tag to_tag(layout l) {
  return l == layout::blocked16 ? tag::nChw16c : l == layout::blocked8 ? tag::nChw8c : tag::nchw;
}

/// A parameter tensor as the model stores it (`user`) and as a primitive
/// wants it (`prim`); `reorder` is set only when the two differ.
struct staged {
  dnnl::memory user, prim;
  std::optional<dnnl::reorder> reorder;
  std::unique_ptr<float[]> storage;

  staged(const dnnl::memory::desc& user_md, const dnnl::memory::desc& prim_md, dnnl::engine& eng, float* user_ptr,
         bool to_prim)
      : user(user_md, eng, user_ptr) {
    if (user_md == prim_md) {
      prim = user;
    } else {
      storage.reset(new float[prim_md.get_size() / sizeof(float)]());
      prim = dnnl::memory(prim_md, eng, storage.get());
      reorder = to_prim ? dnnl::reorder(user, prim) : dnnl::reorder(prim, user);
    }
  }
};

}  // namespace

struct conv2d::plan {
  dnnl::memory src, dst, diff_src, diff_dst, bias, diff_bias;
  std::unique_ptr<staged> wei, bwd_data_wei, diff_wei;
  dnnl::convolution_forward fwd;
  std::optional<dnnl::convolution_backward_data> bwd_data;
  dnnl::convolution_backward_weights bwd_weights;
};

conv2d::~conv2d() = default;

conv2d::conv2d(context& ctx, dims3 in, layout in_layout, layout out_layout, int out_channels, int kernel, int pad,
               bool relu)
    : ctx_(ctx), in_(in), in_layout_(in_layout), out_layout_(out_layout), k_(kernel), pad_(pad), relu_(relu) {
  if (out_layout == layout::plain) throw std::invalid_argument("conv2d: the output layout must be blocked");
  if (out_channels % block_of(out_layout) != 0)
    throw std::invalid_argument("conv2d: out channels must be a multiple of the block size");
  if (in.c % block_of(in_layout) != 0) throw std::invalid_argument("conv2d: in channels must be a multiple of the block size");
  out_ = {out_channels, in.h + 2 * pad - kernel + 1, in.w + 2 * pad - kernel + 1};
  if (out_.h <= 0 || out_.w <= 0) throw std::invalid_argument("conv2d: kernel larger than padded input");
}

std::string conv2d::describe() const {
  return "conv" + std::to_string(k_) + "x" + std::to_string(k_) + " " + std::to_string(in_.c) + "->" +
         std::to_string(out_.c) + (relu_ ? " relu" : "");
}

void conv2d::init(rng& r) {
  // PyTorch's nn.Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_.c * k_ * k_));
  for (std::size_t i = 0; i < param_count(); ++i) params_[i] = r.uniform(-bound, bound);
}

conv2d::plan& conv2d::get(int n) {
  return plans_.get(n, [&](int batch) {
    auto& eng = ctx_.engine();
    const dnnl::memory::dims strides{1, 1}, padding{pad_, pad_};
    dnnl::memory::desc src_md({batch, in_.c, in_.h, in_.w}, dt::f32, to_tag(in_layout_));
    dnnl::memory::desc dst_md({batch, out_.c, out_.h, out_.w}, dt::f32, to_tag(out_layout_));
    dnnl::memory::desc user_wei_md({out_.c, in_.c, k_, k_}, dt::f32, tag::oihw);
    dnnl::memory::desc any_wei_md({out_.c, in_.c, k_, k_}, dt::f32, tag::any);
    dnnl::memory::desc bias_md({out_.c}, dt::f32, tag::x);

    dnnl::post_ops ops;
    if (relu_) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const auto algo = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc fwd_pd(
        {dnnl::prop_kind::forward_training, algo, src_md, any_wei_md, bias_md, dst_md, strides, padding, padding},
        attr, eng);
    dnnl::convolution_backward_weights::primitive_desc bwd_w_pd(
        {algo, src_md, any_wei_md, bias_md, dst_md, strides, padding, padding}, eng, fwd_pd);

    plan p;
    p.src = dnnl::memory(src_md, eng, DNNL_MEMORY_NONE);
    p.dst = dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE);
    p.diff_dst = dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE);
    p.bias = dnnl::memory(bias_md, eng, params_ + weight_count());
    p.diff_bias = dnnl::memory(bias_md, eng, grads_ + weight_count());
    p.wei = std::make_unique<staged>(user_wei_md, fwd_pd.weights_desc(), eng, params_, true);
    p.diff_wei = std::make_unique<staged>(user_wei_md, bwd_w_pd.diff_weights_desc(), eng, grads_, false);
    p.fwd = dnnl::convolution_forward(fwd_pd);
    p.bwd_weights = dnnl::convolution_backward_weights(bwd_w_pd);
    {  // built always, run only when the model asks for dx (never for the first layer)
      dnnl::convolution_backward_data::primitive_desc bwd_d_pd(
          {algo, src_md, any_wei_md, dst_md, strides, padding, padding}, eng, fwd_pd);
      p.diff_src = dnnl::memory(src_md, eng, DNNL_MEMORY_NONE);
      p.bwd_data_wei = std::make_unique<staged>(user_wei_md, bwd_d_pd.weights_desc(), eng, params_, true);
      p.bwd_data = dnnl::convolution_backward_data(bwd_d_pd);
    }
    return p;
  });
}

void conv2d::forward(int n, const float* x, float* y) {
  auto& p = get(n);
  auto& s = ctx_.stream();
  if (p.wei->reorder) p.wei->reorder->execute(s, p.wei->user, p.wei->prim);
  p.src.set_data_handle(const_cast<float*>(x));
  p.dst.set_data_handle(y);
  p.fwd.execute(s, {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, p.wei->prim}, {DNNL_ARG_BIAS, p.bias}, {DNNL_ARG_DST, p.dst}});
}

void conv2d::backward(int n, const float* x, const float* y, float* dy, float* dx) {
  auto& p = get(n);
  auto& s = ctx_.stream();
  if (relu_) internal::relu_mask(std::ptrdiff_t(n) * out_.elems(), y, dy);
  p.src.set_data_handle(const_cast<float*>(x));
  p.diff_dst.set_data_handle(dy);
  p.bwd_weights.execute(s, {{DNNL_ARG_SRC, p.src},
                            {DNNL_ARG_DIFF_DST, p.diff_dst},
                            {DNNL_ARG_DIFF_WEIGHTS, p.diff_wei->prim},
                            {DNNL_ARG_DIFF_BIAS, p.diff_bias}});
  if (p.diff_wei->reorder) p.diff_wei->reorder->execute(s, p.diff_wei->prim, p.diff_wei->user);
  if (dx) {
    if (p.bwd_data_wei->reorder) p.bwd_data_wei->reorder->execute(s, p.bwd_data_wei->user, p.bwd_data_wei->prim);
    p.diff_src.set_data_handle(dx);
    p.bwd_data->execute(s, {{DNNL_ARG_DIFF_DST, p.diff_dst},
                            {DNNL_ARG_WEIGHTS, p.bwd_data_wei->prim},
                            {DNNL_ARG_DIFF_SRC, p.diff_src}});
  }
}

double conv2d::flops_per_sample(bool with_dx) const {
  const double mac = 2.0 * in_.c * k_ * k_ * out_.c * out_.h * out_.w;
  return mac * (with_dx ? 3 : 2);
}

}  // namespace hydra::kernels
