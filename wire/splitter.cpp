#include <algorithm>

#include "wire/frame.hpp"
#include "wire/internal/segment_table.hpp"

namespace hydra::wire {

frame_splitter::frame_splitter(std::size_t max_frame) : max_frame_(max_frame) {}

status frame_splitter::feed(const std::uint8_t* data, std::size_t n) {
  if (failed_) return *failed_;
  while (n > 0) {
    const std::size_t take = std::min(n, need_ - partial_.size());
    partial_.insert(partial_.end(), data, data + take);
    data += take;
    n -= take;
    if (auto s = advance(); !s) {
      failed_ = s.err();
      return s;
    }
  }
  return {};
}

/// Moves through the phases of one frame as far as the bytes held allow:
/// first 8 bytes -> whole segment table -> whole frame. Sizes are validated
/// at each step before the next one may buffer more.
status frame_splitter::advance() {
  while (partial_.size() == need_) {
    if (sized_) {
      ready_bytes_ += partial_.size();
      ready_.push_back(std::move(partial_));
      partial_ = {};
      need_ = 8;
      sized_ = false;
      return {};
    }
    if (need_ == 8) {
      auto table = internal::table_bytes(partial_.data(), max_frame_, max_segments, "frame");
      if (!table) return table.err();
      need_ = *table;
      if (partial_.size() < need_) return {};  // the rest of the table is still to come
    }
    auto total = internal::message_bytes(partial_, max_frame_, "frame");
    if (!total) return total.err();
    need_ = *total;
    sized_ = true;
    // Bounded by max_frame; pages are only touched as the body arrives.
    partial_.reserve(need_);
  }
  return {};
}

std::optional<std::vector<std::uint8_t>> frame_splitter::pop() {
  if (ready_.empty()) return std::nullopt;
  std::vector<std::uint8_t> frame = std::move(ready_.front());
  ready_.pop_front();
  ready_bytes_ -= frame.size();
  return frame;
}

}  // namespace hydra::wire
