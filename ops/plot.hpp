#pragma once
/// `hydra plot`: training curves from nodes' logs, drawn as one figure.
///
/// Three steps, each testable alone: parse a log's text into records
/// (parse_train_log, parse_round_log: pure, never fail, count what they
/// skip), turn one run's records into series (make_series: pure), and lay
/// the series out as a scene of lines and text (layout_figure) that is
/// rendered as SVG text (render_svg) or, when built with cairo, as PNG
/// (render_png). load_runs/plot_files are the only functions that touch
/// the file system.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.hpp"

namespace hydra::ops {

/// A field a log line lacks.
inline constexpr double missing = std::numeric_limits<double>::quiet_NaN();

/// One progress or evaluation line of STATE/train.log. A field the line
/// lacks (or holds as null) is NaN.
struct train_record {
  double t = missing;  ///< unix seconds
  double step = missing, samples = missing, loss = missing, round_s = missing, test_accuracy = missing;
};

/// A parsed train.log. Lines that are not a JSON object, or whose known
/// fields have the wrong type (a torn last line, junk), are skipped and
/// counted; valid objects of other kinds are ignored without a count.
struct train_log {
  std::vector<train_record> records;  ///< in file order
  std::size_t skipped = 0;
  std::size_t first_skipped_line = 0;  ///< 1-based; 0 = none
};

/// Parses the JSON lines of a train.log.
train_log parse_train_log(std::string_view text);

/// One line of STATE/rounds.log: "STEP ROUND_SECONDS IDEAL_SECONDS".
struct round_record {
  double step = 0, seconds = 0, ideal = 0;
};

struct round_log {
  std::vector<round_record> records;
  std::size_t skipped = 0;
  std::size_t first_skipped_line = 0;
};

/// Parses rounds.log; a line that is not two or three numbers is skipped.
round_log parse_round_log(std::string_view text);

/// The few fields of STATE/result.json that plotting uses (NaN if absent).
struct run_result {
  double test_accuracy = missing, samples = missing, rounds = missing;
};

/// Parses result.json; nullopt when it is not a JSON object.
std::optional<run_result> parse_result_json(std::string_view text);

/// Panels, in figure order (row-major, two columns).
inline constexpr const char* panel_ids[] = {"loss-samples",     "loss-time",     "accuracy-samples",
                                            "accuracy-time",    "round-samples", "round-time"};
inline constexpr std::size_t panel_count = 6;

struct point {
  double x = 0, y = 0;
};

/// One line in one panel.
struct series {
  std::string name;   ///< the run (folder) it belongs to; the legend entry
  std::string panel;  ///< one of panel_ids
  std::vector<point> points;
};

/// What one node folder holds, parsed.
struct run_logs {
  std::string name;
  std::string dir;          ///< the folder it was read from
  std::size_t source = 0;   ///< index of the path (argument) it came from
  train_log train;
  round_log rounds;
  std::optional<run_result> result;
};

/// The series of one run, at most one per panel (panels without data are
/// left out). Wall time is seconds since `t0`. Round time comes from
/// train.log's round_s, else from rounds.log with steps mapped to samples
/// (and wall time) through train.log's own step/samples/t, else through
/// result.json's samples per step; without any mapping, rounds.log's time
/// axis is the running sum of round seconds. Accuracy falls back to
/// result.json's final value when train.log has no evaluation line.
std::vector<series> make_series(const run_logs& run, double t0);

/// Earliest timestamp in a train.log; nullopt when it has none.
std::optional<double> first_time(const train_log& log);

/// At most `max_points` points (first and last kept; min and max of each
/// bucket in x order), so long runs stay small. Shorter input is returned
/// as it is. `max_points` below 4 is taken as 4.
std::vector<point> downsample(const std::vector<point>& pts, std::size_t max_points = 1000);

/// A scene: what to draw, in order, in pixels (origin top left).
struct scene_line {
  std::vector<point> points;
  std::string color;                 ///< "#rrggbb"
  double width = 1;
  std::string series, panel;         ///< set for data lines (class="series")
  bool dashed = false;
};
struct scene_text {
  double x = 0, y = 0;
  std::string text;
  double size = 12;
  char anchor = 's';                 ///< 's' start, 'm' middle, 'e' end
  bool vertical = false;             ///< rotated -90 degrees about (x, y)
  bool bold = false;
};
struct scene_rect {
  double x = 0, y = 0, w = 0, h = 0;
  std::string fill, stroke;          ///< "" = none
};
struct scene_dot {
  double x = 0, y = 0, r = 2;
  std::string color;
};
using scene_item = std::variant<scene_rect, scene_line, scene_text, scene_dot>;
struct scene {
  double width = 0, height = 0;
  std::vector<scene_item> items;
};

struct figure_options {
  std::string title = "Hydra training";
  double width = 1200;
  double panel_height = 300;
  std::size_t max_points = 1000;  ///< per series, see downsample
};

/// Lays out the six panels (axes, ticks, labels, titles), one colour per
/// run name (in order of first appearance) and a legend.
scene layout_figure(const std::vector<series>& all, const figure_options& o);

/// Escapes text for XML content and attributes; invalid UTF-8 bytes and
/// control characters XML 1.0 cannot hold become '?'.
std::string xml_escape(std::string_view s);

/// The scene as a standalone SVG document.
std::string render_svg(const scene& s);

/// Whether this build can write PNG (it was built with cairo).
bool png_supported();

/// The scene as PNG bytes; errc::invalid_input when built without cairo.
result<std::string> render_png(const scene& s);

enum class image_format { svg, png };

/// The format named by a file's extension (.svg, .png, any case); an
/// error naming the supported ones otherwise.
result<image_format> format_for_path(const std::string& path);

/// Reads every run named by `paths`: a node's state folder (holding
/// train.log, rounds.log or result.json), or a folder whose sub-folders
/// are such (a demo's job folder: one run per node folder, in natural
/// order). Run names are folder names, made unique with their parent's
/// name where two clash. Errors: a path that does not exist or holds no
/// logs, an unreadable file.
result<std::vector<run_logs>> load_runs(const std::vector<std::string>& paths);

/// Everything `hydra plot` needs to print.
struct plot_summary {
  std::string bytes;  ///< the image file's content
  std::size_t runs = 0, series = 0, points = 0, skipped = 0;
  std::vector<std::string> notes;  ///< one per log with skipped lines
};

/// load_runs, make_series (wall time from each path's first line), layout
/// and render in `format`. Writes nothing.
result<plot_summary> plot_files(const std::vector<std::string>& paths, image_format format,
                                const figure_options& o);

}  // namespace hydra::ops
