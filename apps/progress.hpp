#pragma once
/// A one-line progress bar on stderr: redrawn in place on a terminal (at most
/// ~10 times a second), a plain line every 10% otherwise (logs stay short).
/// Hand-written: Debian 12 packages no C++ progress-bar library.

#include <cstddef>
#include <cstdio>
#include <string>

#include "common/env.hpp"

namespace hydra::apps {

class progress_bar {
 public:
  progress_bar(env& e, std::string label, std::size_t total, bool enabled);
  ~progress_bar();
  /// Sets the done count and the text shown after the bar.
  void update(std::size_t done, const std::string& status);
  /// Draws the final state and ends the line.
  void finish(const std::string& status);

 private:
  void draw(const std::string& status);

  env& env_;
  std::string label_;
  std::size_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  env::clock::time_point last_draw_{};
};

}  // namespace hydra::apps
