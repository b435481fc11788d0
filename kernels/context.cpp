#include "kernels/context.hpp"

#include <omp.h>
#include <xmmintrin.h>

namespace hydra::kernels {

context::context(int threads)
    : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_), threads_(threads) {
  if (threads > 0) omp_set_num_threads(threads);
  threads_ = omp_get_max_threads();
  // Flush denormals to zero (FTZ) and read them as zero (DAZ) on every thread
  // of the team: optimizer moments of dead units decay into the denormal
  // range, where each operation costs ~100x (Adam ran 6x slower without it).
  // OpenMP reuses its threads, so the setting stays for the process.
  const unsigned ftz_daz = 0x8040;
  _mm_setcsr(_mm_getcsr() | ftz_daz);
#pragma omp parallel num_threads(threads_)
  _mm_setcsr(_mm_getcsr() | ftz_daz);
}

layout context::conv_layout() const {
  const int isa = static_cast<int>(dnnl::get_effective_cpu_isa());
  const int avx512 = static_cast<int>(dnnl::cpu_isa::avx512_core);
  return (isa & avx512) == avx512 ? layout::blocked16 : layout::blocked8;
}

int omp_threads() { return omp_get_max_threads(); }

}  // namespace hydra::kernels
