#include "kernels/context.hpp"

#include <omp.h>

namespace hydra::kernels {

context::context(int threads)
    : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_), threads_(threads) {
  if (threads > 0) omp_set_num_threads(threads);
  threads_ = omp_get_max_threads();
}

layout context::conv_layout() const {
  const int isa = static_cast<int>(dnnl::get_effective_cpu_isa());
  const int avx512 = static_cast<int>(dnnl::cpu_isa::avx512_core);
  return (isa & avx512) == avx512 ? layout::blocked16 : layout::blocked8;
}

int omp_threads() { return omp_get_max_threads(); }

}  // namespace hydra::kernels
