#include "kernels/flatten.hpp"

#include <cstring>

namespace hydra::kernels {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

flatten::flatten(context& ctx, dims3 in, layout l) : ctx_(ctx), in_(in), layout_(l) {}

flatten::plan& flatten::get(int n) {
  return plans_.get(n, [&](int batch) {
    auto& eng = ctx_.engine();
    dnnl::memory::dims d{batch, in_.c, in_.h, in_.w};
    const tag t = layout_ == layout::blocked16 ? tag::nChw16c : tag::nChw8c;
    dnnl::memory blocked({d, dt::f32, t}, eng, DNNL_MEMORY_NONE);
    dnnl::memory plain({d, dt::f32, tag::nchw}, eng, DNNL_MEMORY_NONE);
    return plan{blocked, plain, dnnl::reorder(blocked, plain), dnnl::reorder(plain, blocked)};
  });
}

void flatten::forward(int n, const float* x, float* y) {
  if (layout_ == layout::plain) {
    std::memcpy(y, x, sizeof(float) * n * in_.elems());
    return;
  }
  auto& p = get(n);
  p.blocked.set_data_handle(const_cast<float*>(x));
  p.plain.set_data_handle(y);
  p.to_plain.execute(ctx_.stream(), p.blocked, p.plain);
}

void flatten::backward(int n, const float*, const float*, float* dy, float* dx) {
  if (!dx) return;
  if (layout_ == layout::plain) {
    std::memcpy(dx, dy, sizeof(float) * n * in_.elems());
    return;
  }
  auto& p = get(n);
  p.plain.set_data_handle(dy);
  p.blocked.set_data_handle(dx);
  p.to_blocked.execute(ctx_.stream(), p.plain, p.blocked);
}

}  // namespace hydra::kernels
