// `hydra plot`: flags -> ops::plot_files -> an atomic write -> a summary.

#include "apps/plot_cmd.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ops/plot.hpp"

namespace hydra::apps {
namespace {

struct plot_options {
  std::vector<std::string> dirs;
  std::string out;
  std::string title = "Hydra training";
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "hydra plot: %s\n", msg.c_str());
  return 1;
}

// Writes `bytes` to a temporary file beside `path`, then renames it over
// `path`, so a reader never sees half a figure and a failure leaves nothing.
status write_atomically(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_error(errc::io, path + ": cannot write (" + std::strerror(errno) + ")");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      const std::string why = std::strerror(errno);
      std::error_code ec;
      fs::remove(tmp, ec);
      return make_error(errc::io, path + ": cannot write (" + why + ")");
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return make_error(errc::io, path + ": cannot write (" + ec.message() + ")");
  }
  return {};
}

int run_plot(const plot_options& o) {
  auto format = ops::format_for_path(o.out);
  if (!format) return fail(format.err().message);
  ops::figure_options fig;
  fig.title = o.title;
  auto plot = ops::plot_files(o.dirs, *format, fig);
  if (!plot) return fail(plot.err().message);
  for (auto& note : plot->notes) std::fprintf(stderr, "hydra plot: %s\n", note.c_str());
  if (auto st = write_atomically(o.out, plot->bytes); !st) return fail(st.err().message);
  std::printf("wrote %s: %zu run%s, %zu series, %zu points; %zu line%s skipped\n", o.out.c_str(), plot->runs,
              plot->runs == 1 ? "" : "s", plot->series, plot->points, plot->skipped, plot->skipped == 1 ? "" : "s");
  return 0;
}

}  // namespace

void add_plot_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "plot", "Plot loss, test accuracy and round time against samples and wall time from nodes' logs");
  auto o = std::make_shared<plot_options>();
  cmd->add_option("STATE_DIR", o->dirs,
                  "Node state folders (train.log, rounds.log, result.json) or job folders holding node folders")
      ->required();
  cmd->add_option("--out,-o", o->out, ops::png_supported() ? "Output image: FILE.svg or FILE.png" : "Output image: FILE.svg")
      ->required();
  cmd->add_option("--title", o->title, "Figure title")->capture_default_str();
  cmd->callback([o, &exit_code] { exit_code = run_plot(*o); });
}

}  // namespace hydra::apps
