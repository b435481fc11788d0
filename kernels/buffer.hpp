#pragma once
/// A fixed-size, 64-byte aligned float buffer: the storage for parameters,
/// gradients and activations (SIMD loads and oneDNN like the alignment).

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <span>

namespace hydra::kernels {

class aligned_buffer {
 public:
  aligned_buffer() = default;
  /// `n` floats, zero-initialised.
  explicit aligned_buffer(std::size_t n) { resize(n); }

  /// Drops the contents; the new buffer is zeroed.
  void resize(std::size_t n) {
    data_.reset(n ? static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t{64})) : nullptr);
    size_ = n;
    if (n) std::memset(data_.get(), 0, n * sizeof(float));
  }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::span<float> span() { return {data(), size_}; }
  std::span<const float> span() const { return {data(), size_}; }
  float& operator[](std::size_t i) { return data_[i]; }
  float operator[](std::size_t i) const { return data_[i]; }

 private:
  struct aligned_delete {
    void operator()(float* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::unique_ptr<float[], aligned_delete> data_;
  std::size_t size_ = 0;
};

}  // namespace hydra::kernels
