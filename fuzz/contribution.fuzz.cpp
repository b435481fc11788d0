// A contributor's files as the collector receives them (Contribute message):
// data::parse_contribution for "csv", "idx" (plain or gzip) and "pgm", then
// the duplicate index over what it accepted. Input: one byte choosing the
// format (bits 0-1: csv, idx, pgm, an unknown name) and the image shape
// (bits 2-3: 28x28, 4x4, 3x2, 1x1; small shapes reach deep paths with short
// inputs), then the files separated by the part separator, each "NAME\nBYTES".

#include <cstdint>
#include <string>
#include <vector>

#include "data/contribution.hpp"
#include "fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const formats[] = {"csv", "idx", "pgm", "png"};
  static const int shapes[][2] = {{28, 28}, {4, 4}, {3, 2}, {1, 1}};
  const std::string format = formats[data[0] & 3];
  hydra::data::contribution_limits lim;
  lim.rows = shapes[(data[0] >> 2) & 3][0];
  lim.cols = shapes[(data[0] >> 2) & 3][1];
  lim.max_samples = 64;
  lim.max_bytes = 1 << 20;

  std::vector<hydra::data::contribution_file> files;
  for (auto part : hydra::fuzz::split_parts(data + 1, size - 1)) {
    const auto nl = part.find('\n');
    if (nl == std::string_view::npos) {
      files.push_back({std::string(part), {}});
    } else {
      files.push_back({std::string(part.substr(0, nl)), std::string(part.substr(nl + 1))});
    }
  }
  auto d = hydra::data::parse_contribution(format, files, lim);
  if (!d) return 0;
  // What parse_contribution promises (contribution.hpp).
  if (d->size() == 0 || d->size() > lim.max_samples || d->rows != lim.rows || d->cols != lim.cols ||
      d->images.size() != d->size() * d->sample_size())
    __builtin_trap();
  for (auto l : d->labels)
    if (l >= lim.num_classes) __builtin_trap();
  for (float v : d->images)
    if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();

  hydra::data::dedup_options opt;
  opt.rows = lim.rows;
  opt.cols = lim.cols;
  hydra::data::dedup_index index(opt);
  for (std::size_t i = 0; i < d->size(); ++i) {
    const std::span<const float> img(d->images.data() + i * d->sample_size(), d->sample_size());
    (void)index.check(img);
    index.add(img);
  }
  return 0;
}
