// A dataset directory's IDX files (plain or gzip) through data::load_idx,
// the file reader a node uses for its base data set. Input: the image file,
// the part separator (fuzz_util.hpp), the label file. Both are memfds opened
// by path, so the real stdio + zlib reading path runs.

#include <cstdint>

#include "data/idx.hpp"
#include "fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static hydra::fuzz::memory_file images("images"), labels("labels");
  const auto parts = hydra::fuzz::split_parts(data, size);
  images.set(parts[0]);
  labels.set(parts.size() > 1 ? parts[1] : std::string_view());
  auto d = hydra::data::load_idx(images.path(), labels.path());
  if (d) {
    // The loader's promises: shapes agree and labels are below num_classes.
    if (d->images.size() != d->size() * d->sample_size()) __builtin_trap();
    for (auto l : d->labels)
      if (l >= d->num_classes) __builtin_trap();
  }
  return 0;
}
