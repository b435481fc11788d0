#pragma once
/// The compute context: one oneDNN CPU engine and stream, and the thread
/// count. Who owns the cores: oneDNN in Debian 12 is built on OpenMP, so
/// OpenMP owns them on the hot path — oneDNN primitives and our own
/// element-wise loops (`#pragma omp`) share one OpenMP team, so the two never
/// oversubscribe. oneTBB is used only for work that never overlaps a training
/// step (data decoding at load time).

#include <dnnl.hpp>

#include "kernels/layer.hpp"

namespace hydra::kernels {

class context {
 public:
  /// `threads` <= 0 keeps OpenMP's default. Sets the process-wide OpenMP
  /// thread count (that is what oneDNN reads), and flushes denormals to zero
  /// on the calling thread and the OpenMP team.
  explicit context(int threads = 0);

  dnnl::engine& engine() { return engine_; }
  dnnl::stream& stream() { return stream_; }
  int threads() const { return threads_; }
  /// The blocked activation layout the convolutions of this CPU run on
  /// natively: blocked16 with AVX-512, blocked8 otherwise.
  layout conv_layout() const;

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  int threads_;
};

/// Number of OpenMP threads in use right now.
int omp_threads();

}  // namespace hydra::kernels
