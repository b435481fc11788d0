#include "kernels/dense.hpp"

#include <cmath>
#include <unordered_map>

#include "kernels/internal/elementwise.hpp"

namespace hydra::kernels {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct dense::plan {
  dnnl::memory src, dst, wei, bias, diff_src, diff_dst, diff_wei, diff_bias;
  dnnl::inner_product_forward fwd;
  dnnl::inner_product_backward_data bwd_data;
  dnnl::inner_product_backward_weights bwd_weights;
};

dense::~dense() = default;

dense::dense(context& ctx, dims3 in, int out, bool relu)
    : ctx_(ctx), in_(static_cast<int>(in.elems())), out_(out), relu_(relu) {}

std::string dense::describe() const {
  return "dense " + std::to_string(in_) + "->" + std::to_string(out_) + (relu_ ? " relu" : "");
}

void dense::init(rng& r) {
  // PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_));
  for (std::size_t i = 0; i < param_count(); ++i) params_[i] = r.uniform(-bound, bound);
}

dense::plan& dense::get(int n) {
  return plans_.get(n, [&](int batch) {
    auto& eng = ctx_.engine();
    dnnl::memory::desc src_md({batch, in_}, dt::f32, tag::nc);
    dnnl::memory::desc dst_md({batch, out_}, dt::f32, tag::nc);
    dnnl::memory::desc wei_md({out_, in_}, dt::f32, tag::oi);
    dnnl::memory::desc bias_md({out_}, dt::f32, tag::x);

    dnnl::post_ops ops;
    if (relu_) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    dnnl::inner_product_forward::primitive_desc fwd_pd(
        {dnnl::prop_kind::forward_training, src_md, wei_md, bias_md, dst_md}, attr, eng);
    dnnl::inner_product_backward_data::primitive_desc bwd_data_pd({src_md, wei_md, dst_md}, eng, fwd_pd);
    dnnl::inner_product_backward_weights::primitive_desc bwd_w_pd({src_md, wei_md, bias_md, dst_md}, eng,
                                                                  fwd_pd);
    plan p{dnnl::memory(src_md, eng, DNNL_MEMORY_NONE), dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE),
           dnnl::memory(wei_md, eng, params_), dnnl::memory(bias_md, eng, params_ + std::size_t(in_) * out_),
           dnnl::memory(src_md, eng, DNNL_MEMORY_NONE), dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE),
           dnnl::memory(wei_md, eng, grads_), dnnl::memory(bias_md, eng, grads_ + std::size_t(in_) * out_),
           dnnl::inner_product_forward(fwd_pd), dnnl::inner_product_backward_data(bwd_data_pd),
           dnnl::inner_product_backward_weights(bwd_w_pd)};
    return p;
  });
}

void dense::forward(int n, const float* x, float* y) {
  auto& p = get(n);
  p.src.set_data_handle(const_cast<float*>(x));
  p.dst.set_data_handle(y);
  p.fwd.execute(ctx_.stream(), {{DNNL_ARG_SRC, p.src},
                                {DNNL_ARG_WEIGHTS, p.wei},
                                {DNNL_ARG_BIAS, p.bias},
                                {DNNL_ARG_DST, p.dst}});
}

void dense::backward(int n, const float* x, const float* y, float* dy, float* dx) {
  auto& p = get(n);
  if (relu_) internal::relu_mask(std::ptrdiff_t(n) * out_, y, dy);
  p.src.set_data_handle(const_cast<float*>(x));
  p.diff_dst.set_data_handle(dy);
  p.bwd_weights.execute(ctx_.stream(), {{DNNL_ARG_SRC, p.src},
                                        {DNNL_ARG_DIFF_DST, p.diff_dst},
                                        {DNNL_ARG_DIFF_WEIGHTS, p.diff_wei},
                                        {DNNL_ARG_DIFF_BIAS, p.diff_bias}});
  if (dx) {
    p.diff_src.set_data_handle(dx);
    p.bwd_data.execute(ctx_.stream(), {{DNNL_ARG_DIFF_DST, p.diff_dst},
                                       {DNNL_ARG_WEIGHTS, p.wei},
                                       {DNNL_ARG_DIFF_SRC, p.diff_src}});
  }
}

double dense::flops_per_sample(bool with_dx) const {
  const double mac = 2.0 * in_ * out_;
  return mac * (with_dx ? 3 : 2);
}

}  // namespace hydra::kernels
