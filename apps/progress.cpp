#include "apps/progress.hpp"

#include <unistd.h>

#include <algorithm>

namespace hydra::apps {

progress_bar::progress_bar(env& e, std::string label, std::size_t total, bool enabled)
    : env_(e), label_(std::move(label)), total_(std::max<std::size_t>(total, 1)), enabled_(enabled),
      tty_(isatty(STDERR_FILENO) == 1) {}

progress_bar::~progress_bar() {
  if (enabled_ && tty_ && !finished_) std::fputc('\n', stderr);
}

void progress_bar::update(std::size_t done, const std::string& status) {
  done_ = std::min(done, total_);
  if (!enabled_) return;
  if (tty_) {
    auto now = env_.now();
    if (seconds_between(last_draw_, now) < 0.1 && done_ < total_) return;
    last_draw_ = now;
    draw(status);
  } else {
    const int decile = static_cast<int>(10 * done_ / total_);
    if (decile == last_decile_) return;
    last_decile_ = decile;
    draw(status);
  }
}

void progress_bar::finish(const std::string& status) {
  done_ = total_;
  if (!enabled_) return;
  draw(status);
  if (tty_) std::fputc('\n', stderr);
  finished_ = true;
}

void progress_bar::draw(const std::string& status) {
  constexpr int width = 30;
  const int filled = static_cast<int>(width * done_ / total_);
  std::string bar(filled, '#');
  bar.append(width - filled, '-');
  const int pct = static_cast<int>(100 * done_ / total_);
  std::fprintf(stderr, "%s%s [%s] %3d%% %s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(), pct, status.c_str(),
               tty_ ? "\x1b[K" : "\n");
  std::fflush(stderr);
}

}  // namespace hydra::apps
