#include "kernels/context.hpp"

#include <omp.h>

namespace hydra::kernels {

context::context(int threads)
    : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_), threads_(threads) {
  if (threads > 0) omp_set_num_threads(threads);
  threads_ = omp_get_max_threads();
}

int omp_threads() { return omp_get_max_threads(); }

}  // namespace hydra::kernels
