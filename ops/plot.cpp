// Logs -> series -> scene -> SVG/PNG. Only load_runs reads files; nothing
// here writes any (the CLI writes the result atomically).

#include "ops/plot.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>
#include <tuple>

#ifdef HYDRA_OPS_CAIRO
#include <cairo.h>
#endif

namespace hydra::ops {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool finite(double v) { return std::isfinite(v); }

// Calls f(line, number) for each line of `text` (no '\n', no trailing '\r').
template <class F>
void for_each_line(std::string_view text, F f) {
  std::size_t no = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(line, ++no);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; });
}

// A numeric field: absent or null leaves `out` missing; another type fails.
bool read_number(const json& j, const char* key, double& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_number()) return false;
  out = it->get<double>();
  return finite(out);
}

void note_skip(std::size_t& skipped, std::size_t& first, std::size_t line) {
  if (skipped++ == 0) first = line;
}

}  // namespace

train_log parse_train_log(std::string_view text) {
  train_log log;
  for_each_line(text, [&](std::string_view line, std::size_t no) {
    if (blank(line)) return;
    auto j = json::parse(line.begin(), line.end(), nullptr, false);
    train_record r;
    bool ok = !j.is_discarded() && j.is_object() && read_number(j, "t", r.t) && read_number(j, "step", r.step) &&
              read_number(j, "samples", r.samples) && read_number(j, "loss", r.loss) &&
              read_number(j, "round_s", r.round_s) && read_number(j, "test_accuracy", r.test_accuracy);
    if (!ok) return note_skip(log.skipped, log.first_skipped_line, no);
    if (finite(r.loss) || finite(r.test_accuracy) || finite(r.round_s)) log.records.push_back(r);
  });
  return log;
}

round_log parse_round_log(std::string_view text) {
  round_log log;
  for_each_line(text, [&](std::string_view line, std::size_t no) {
    if (blank(line)) return;
    std::istringstream in{std::string(line)};
    std::vector<std::string> fields;
    for (std::string f; in >> f;) fields.push_back(f);
    std::array<double, 3> v{0, 0, 0};
    bool ok = fields.size() == 2 || fields.size() == 3;
    for (std::size_t i = 0; ok && i < fields.size(); ++i) {
      char* end = nullptr;
      v[i] = std::strtod(fields[i].c_str(), &end);
      ok = *end == '\0' && finite(v[i]) && v[i] >= 0;
    }
    if (!ok) return note_skip(log.skipped, log.first_skipped_line, no);
    log.records.push_back({v[0], v[1], v[2]});
  });
  return log;
}

std::optional<run_result> parse_result_json(std::string_view text) {
  auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  run_result r;
  if (!read_number(j, "test_accuracy", r.test_accuracy)) r.test_accuracy = missing;
  if (!read_number(j, "samples", r.samples)) r.samples = missing;
  if (!read_number(j, "rounds", r.rounds)) r.rounds = missing;
  return r;
}

std::optional<double> first_time(const train_log& log) {
  std::optional<double> t0;
  for (auto& r : log.records)
    if (finite(r.t) && (!t0 || r.t < *t0)) t0 = r.t;
  return t0;
}

namespace {

// Piecewise-linear y(x) through known pairs, extended past the ends along
// the end segments. Needs two distinct x.
class interpolator {
 public:
  void add(double x, double y) {
    if (finite(x) && finite(y)) xy_[x] = y;  // a repeated x keeps the latest
  }
  bool usable() const { return xy_.size() >= 2; }
  double at(double x) const {
    auto hi = xy_.lower_bound(x);
    if (hi == xy_.end()) --hi;
    if (hi == xy_.begin()) ++hi;
    auto lo = std::prev(hi);
    return lo->second + (x - lo->first) * (hi->second - lo->second) / (hi->first - lo->first);
  }

 private:
  std::map<double, double> xy_;
};

void rounds_from_log(const run_logs& run, double t0, std::vector<point>& by_samples, std::vector<point>& by_time) {
  if (run.rounds.records.empty()) return;
  interpolator samples, wall;
  samples.add(0, 0);  // no steps, no samples
  for (auto& r : run.train.records) {
    samples.add(r.step, r.samples);
    wall.add(r.step, r.t - t0);
  }
  if (!samples.usable() && run.result && finite(run.result->samples)) {
    double last = 0;
    for (auto& r : run.rounds.records) last = std::max(last, r.step);
    if (last > 0) samples.add(last, run.result->samples);
  }
  double sum = 0;
  for (auto& r : run.rounds.records) {
    sum += r.seconds;
    if (samples.usable()) by_samples.push_back({samples.at(r.step), r.seconds});
    by_time.push_back({wall.usable() ? wall.at(r.step) : sum, r.seconds});
  }
}

}  // namespace

std::vector<series> make_series(const run_logs& run, double t0) {
  std::array<std::vector<point>, panel_count> p;
  for (auto& r : run.train.records) {
    const double t = r.t - t0;
    for (auto [y, row] : {std::pair{r.loss, 0}, std::pair{r.test_accuracy, 2}, std::pair{r.round_s, 4}}) {
      if (!finite(y)) continue;
      if (finite(r.samples)) p[row].push_back({r.samples, y});
      if (finite(t)) p[row + 1].push_back({t, y});
    }
  }
  if (p[4].empty() && p[5].empty()) rounds_from_log(run, t0, p[4], p[5]);
  if (p[2].empty() && run.result && finite(run.result->test_accuracy) && finite(run.result->samples))
    p[2].push_back({run.result->samples, run.result->test_accuracy});
  std::vector<series> out;
  for (std::size_t i = 0; i < panel_count; ++i)
    if (!p[i].empty()) out.push_back({run.name, panel_ids[i], std::move(p[i])});
  return out;
}

std::vector<point> downsample(const std::vector<point>& pts, std::size_t max_points) {
  max_points = std::max<std::size_t>(max_points, 4);
  if (pts.size() <= max_points) return pts;
  const std::size_t inner = pts.size() - 2, buckets = (max_points - 2) / 2;
  std::vector<point> out{pts.front()};
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t from = 1 + b * inner / buckets, to = 1 + (b + 1) * inner / buckets;
    if (from >= to) continue;
    std::size_t lo = from, hi = from;
    for (std::size_t i = from; i < to; ++i) {
      if (pts[i].y < pts[lo].y) lo = i;
      if (pts[i].y > pts[hi].y) hi = i;
    }
    out.push_back(pts[std::min(lo, hi)]);
    if (lo != hi) out.push_back(pts[std::max(lo, hi)]);
  }
  out.push_back(pts.back());
  return out;
}

// ---- layout ----------------------------------------------------------------

namespace {

constexpr const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct panel_text {
  const char *title, *x_label, *y_label;
};
constexpr panel_text panel_texts[panel_count] = {
    {"Loss vs samples", "samples", "loss"},
    {"Loss vs wall time", "seconds since first line", "loss"},
    {"Test accuracy vs samples", "samples", "test accuracy"},
    {"Test accuracy vs wall time", "seconds since first line", "test accuracy"},
    {"Round time vs samples", "samples", "round time (s)"},
    {"Round time vs wall time", "seconds since first line", "round time (s)"},
};

// A "nice" axis: the data's range widened to whole steps of 1, 2 or 5 x 10^k.
struct axis {
  double lo = 0, hi = 1, step = 0.2;
};

axis nice_axis(double lo, double hi) {
  if (!(hi - lo > 1e-12 * std::max(1.0, std::fabs(hi)))) {
    const double pad = lo != 0 ? std::fabs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / 5, mag = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / mag, step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

std::string tick_label(double v, const axis& a) {
  const double big = std::max(std::fabs(a.lo), std::fabs(a.hi));
  const double div = big >= 1e6 ? 1e6 : big >= 1e4 ? 1e3 : 1;
  const char* suffix = div == 1e6 ? "M" : div == 1e3 ? "k" : "";
  if (std::fabs(v) < a.step * 1e-6) return "0";
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(a.step / div) - 1e-9)), 0, 6);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v / div, suffix);
  return buf;
}

struct frame {
  double left, top, right, bottom;
};

void add_line(scene& s, std::vector<point> pts, const char* color, double width, bool dashed = false) {
  s.items.push_back(scene_line{std::move(pts), color, width, "", "", dashed});
}

// Axes, grid, ticks, labels and the series of one panel inside `f`.
void layout_panel(scene& s, frame f, std::size_t panel, const std::vector<const series*>& lines,
                  const std::map<std::string, std::size_t>& colors) {
  const auto& txt = panel_texts[panel];
  s.items.push_back(scene_text{(f.left + f.right) / 2, f.top - 10, txt.title, 13, 'm', false, true});
  s.items.push_back(scene_rect{f.left, f.top, f.right - f.left, f.bottom - f.top, "#ffffff", ""});
  s.items.push_back(scene_text{(f.left + f.right) / 2, f.bottom + 34, txt.x_label, 11, 'm'});
  s.items.push_back(scene_text{f.left - 50, (f.top + f.bottom) / 2, txt.y_label, 11, 'm', true});
  if (lines.empty()) {
    s.items.push_back(scene_text{(f.left + f.right) / 2, (f.top + f.bottom) / 2, "no data", 12, 'm'});
    s.items.push_back(scene_rect{f.left, f.top, f.right - f.left, f.bottom - f.top, "", "#444444"});
    return;
  }
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (auto* l : lines)
    for (auto& p : l->points) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
  const axis ax = nice_axis(x0, x1), ay = nice_axis(y0, y1);
  auto px = [&](double x) { return f.left + (x - ax.lo) / (ax.hi - ax.lo) * (f.right - f.left); };
  auto py = [&](double y) { return f.bottom - (y - ay.lo) / (ay.hi - ay.lo) * (f.bottom - f.top); };
  for (int i = 0; ax.lo + i * ax.step <= ax.hi + ax.step * 1e-6; ++i) {
    const double v = ax.lo + i * ax.step, x = px(v);
    add_line(s, {{x, f.top}, {x, f.bottom}}, "#e6e6e6", 1);
    add_line(s, {{x, f.bottom}, {x, f.bottom + 4}}, "#444444", 1);
    s.items.push_back(scene_text{x, f.bottom + 16, tick_label(v, ax), 10, 'm'});
  }
  for (int i = 0; ay.lo + i * ay.step <= ay.hi + ay.step * 1e-6; ++i) {
    const double v = ay.lo + i * ay.step, y = py(v);
    add_line(s, {{f.left, y}, {f.right, y}}, "#e6e6e6", 1);
    add_line(s, {{f.left - 4, y}, {f.left, y}}, "#444444", 1);
    s.items.push_back(scene_text{f.left - 7, y + 3.5, tick_label(v, ay), 10, 'e'});
  }
  for (auto* l : lines) {
    const char* color = palette[colors.at(l->name) % std::size(palette)];
    scene_line line{{}, color, 1.5, l->name, l->panel};
    for (auto& p : l->points) line.points.push_back({px(p.x), py(p.y)});
    if (l->points.size() <= 30)
      for (auto& p : line.points) s.items.push_back(scene_dot{p.x, p.y, 2.5, color});
    s.items.push_back(std::move(line));
  }
  s.items.push_back(scene_rect{f.left, f.top, f.right - f.left, f.bottom - f.top, "", "#444444"});
}

// The legend under the title, wrapping; returns its height.
double layout_legend(scene& s, const std::vector<std::string>& names, double width, double top) {
  double x = 40, y = top + 12;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double w = 24 + 7.0 * static_cast<double>(names[i].size()) + 20;
    if (x > 40 && x + w > width - 20) x = 40, y += 20;
    add_line(s, {{x, y - 4}, {x + 18, y - 4}}, palette[i % std::size(palette)], 3);
    s.items.push_back(scene_text{x + 24, y, names[i], 12, 's'});
    x += w;
  }
  return names.empty() ? 0 : y - top + 10;
}

}  // namespace

scene layout_figure(const std::vector<series>& all, const figure_options& o) {
  scene s;
  s.width = o.width;
  std::vector<std::string> names;
  std::map<std::string, std::size_t> colors;
  for (auto& l : all)
    if (colors.emplace(l.name, names.size()).second) names.push_back(l.name);
  s.items.push_back(scene_rect{0, 0, o.width, 0, "#fafafa", ""});
  s.items.push_back(scene_text{o.width / 2, 28, o.title, 18, 'm', false, true});
  const double top = 44 + layout_legend(s, names, o.width, 44) + 16;
  std::vector<series> small;
  for (auto& l : all) small.push_back({l.name, l.panel, downsample(l.points, o.max_points)});
  const double col = o.width / 2;
  for (std::size_t i = 0; i < panel_count; ++i) {
    std::vector<const series*> lines;
    for (auto& l : small)
      if (l.panel == panel_ids[i]) lines.push_back(&l);
    const double x = (i % 2) * col, y = top + static_cast<double>(i / 2) * o.panel_height;
    layout_panel(s, {x + 80, y + 28, x + col - 24, y + o.panel_height - 48}, i, lines, colors);
  }
  s.height = top + 3 * o.panel_height + 8;
  std::get<scene_rect>(s.items[0]).h = s.height;
  return s;
}

// ---- SVG -------------------------------------------------------------------

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2)) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1 < s.size() ? i + 1 : i]);
  if (n == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) return 0;  // overlong, surrogate
  if (n == 4 && ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90))) return 0;
  return n;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Appends the parts in order (chains of operator+ on temporaries trip a
// false -Wrestrict in GCC 12).
void put(std::string& out, std::initializer_list<std::string_view> parts) {
  for (auto p : parts) out.append(p);
}

void svg_item(std::string& out, const scene_rect& r) {
  put(out, {"<rect x=\"", num(r.x), "\" y=\"", num(r.y), "\" width=\"", num(r.w), "\" height=\"", num(r.h),
            "\" fill=\"", r.fill.empty() ? "none" : r.fill, "\""});
  if (!r.stroke.empty()) put(out, {" stroke=\"", r.stroke, "\""});
  out += "/>\n";
}

void svg_item(std::string& out, const scene_line& l) {
  out += "<polyline";
  if (!l.series.empty())
    put(out, {" class=\"series\" data-series=\"", xml_escape(l.series), "\" data-panel=\"", xml_escape(l.panel),
              "\" stroke-linejoin=\"round\""});
  put(out, {" fill=\"none\" stroke=\"", l.color, "\" stroke-width=\"", num(l.width), "\""});
  if (l.dashed) out += " stroke-dasharray=\"4 3\"";
  out += " points=\"";
  for (std::size_t i = 0; i < l.points.size(); ++i)
    put(out, {i ? " " : "", num(l.points[i].x), ",", num(l.points[i].y)});
  out += "\"/>\n";
}

void svg_item(std::string& out, const scene_text& t) {
  const char* anchor = t.anchor == 'm' ? "middle" : t.anchor == 'e' ? "end" : "start";
  put(out, {"<text x=\"", num(t.x), "\" y=\"", num(t.y), "\" font-size=\"", num(t.size), "\" text-anchor=\"",
            anchor, "\""});
  if (t.bold) out += " font-weight=\"bold\"";
  if (t.vertical) put(out, {" transform=\"rotate(-90 ", num(t.x), " ", num(t.y), ")\""});
  put(out, {">", xml_escape(t.text), "</text>\n"});
}

void svg_item(std::string& out, const scene_dot& d) {
  put(out, {"<circle cx=\"", num(d.x), "\" cy=\"", num(d.y), "\" r=\"", num(d.r), "\" fill=\"", d.color, "\"/>\n"});
}

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    const char c = s[i];
    if (n == 0 || (n == 1 && static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')) {
      out += '?';
      ++i;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string render_svg(const scene& s) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  put(out, {"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", num(s.width), "\" height=\"", num(s.height),
            "\" viewBox=\"0 0 ", num(s.width), " ", num(s.height),
            "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"});
  for (auto& item : s.items) std::visit([&](auto& x) { svg_item(out, x); }, item);
  out += "</svg>\n";
  return out;
}

// ---- PNG (cairo) -------------------------------------------------------------

#ifdef HYDRA_OPS_CAIRO
namespace {

void set_color(cairo_t* cr, const std::string& hex) {
  const unsigned v = static_cast<unsigned>(std::strtoul(hex.c_str() + 1, nullptr, 16));
  cairo_set_source_rgb(cr, ((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0);
}

void draw(cairo_t* cr, const scene_rect& r) {
  cairo_rectangle(cr, r.x, r.y, r.w, r.h);
  if (!r.fill.empty()) set_color(cr, r.fill), cairo_fill_preserve(cr);
  if (!r.stroke.empty()) set_color(cr, r.stroke), cairo_set_line_width(cr, 1), cairo_stroke_preserve(cr);
  cairo_new_path(cr);
}

void draw(cairo_t* cr, const scene_line& l) {
  if (l.points.empty()) return;
  cairo_move_to(cr, l.points[0].x, l.points[0].y);
  for (auto& p : l.points) cairo_line_to(cr, p.x, p.y);
  const double dash[] = {4, 3};
  cairo_set_dash(cr, dash, l.dashed ? 2 : 0, 0);
  cairo_set_line_width(cr, l.width);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  set_color(cr, l.color);
  cairo_stroke(cr);
}

void draw(cairo_t* cr, const scene_text& t) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         t.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, t.size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, t.text.c_str(), &ext);
  const double shift = t.anchor == 'm' ? ext.x_advance / 2 : t.anchor == 'e' ? ext.x_advance : 0;
  cairo_save(cr);
  cairo_translate(cr, t.x, t.y);
  if (t.vertical) cairo_rotate(cr, -std::numbers::pi / 2);
  cairo_move_to(cr, -shift, 0);
  set_color(cr, "#222222");
  cairo_show_text(cr, t.text.c_str());
  cairo_restore(cr);
}

void draw(cairo_t* cr, const scene_dot& d) {
  cairo_arc(cr, d.x, d.y, d.r, 0, 2 * std::numbers::pi);
  set_color(cr, d.color);
  cairo_fill(cr);
}

cairo_status_t append_png(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

bool png_supported() { return true; }

result<std::string> render_png(const scene& s) {
  auto* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(std::ceil(s.width)),
                                             static_cast<int>(std::ceil(s.height)));
  auto* cr = cairo_create(surface);
  for (auto& item : s.items) std::visit([&](auto& x) { draw(cr, x); }, item);
  std::string out;
  const cairo_status_t st =
      cairo_status(cr) != CAIRO_STATUS_SUCCESS ? cairo_status(cr) : cairo_surface_write_to_png_stream(surface, append_png, &out);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  if (st != CAIRO_STATUS_SUCCESS) return make_error(errc::internal, std::string("cairo: ") + cairo_status_to_string(st));
  return out;
}
#else
bool png_supported() { return false; }

result<std::string> render_png(const scene&) {
  return make_error(errc::invalid_input, "this hydra was built without cairo, so it writes .svg only");
}
#endif

result<image_format> format_for_path(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".svg") return image_format::svg;
  if (ext == ".png" && png_supported()) return image_format::png;
  if (ext == ".png") return make_error(errc::invalid_input, path + ": this hydra was built without cairo; use .svg");
  return make_error(errc::invalid_input, path + ": unknown extension '" + ext + "' (supported: " +
                                             (png_supported() ? ".svg, .png)" : ".svg)"));
}

// ---- files -------------------------------------------------------------------

namespace {

constexpr const char* log_files[] = {"train.log", "rounds.log", "result.json"};

bool holds_logs(const fs::path& dir) {
  std::error_code ec;
  for (auto* f : log_files)
    if (fs::is_regular_file(dir / f, ec)) return true;
  return false;
}

// "node-2" before "node-10": digit runs compare as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      auto da = a.substr(i, ie - i), db = b.substr(j, je - j);
      da.erase(0, std::min(da.find_first_not_of('0'), da.size()));
      db.erase(0, std::min(db.find_first_not_of('0'), db.size()));
      if (da.size() != db.size()) return da.size() < db.size();
      if (da != db) return da < db;
      i = ie, j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

// The node folders a path names: itself, or its sub-folders that hold logs.
result<std::vector<fs::path>> node_dirs(const std::string& arg) {
  std::error_code ec;
  const fs::path p(arg);
  if (!fs::exists(p, ec)) return make_error(errc::not_found, arg + ": no such folder");
  if (!fs::is_directory(p, ec))
    return make_error(errc::invalid_input, arg + ": not a folder (give a node's state folder or a job folder)");
  if (holds_logs(p)) return std::vector<fs::path>{p};
  std::vector<fs::path> dirs;
  for (auto it = fs::directory_iterator(p, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_directory(ec) && holds_logs(it->path())) dirs.push_back(it->path());
  if (ec) return make_error(errc::io, arg + ": cannot list folder: " + ec.message());
  if (dirs.empty())
    return make_error(errc::not_found, "no logs found in " + arg +
                                           " (expected train.log, rounds.log or result.json, or node folders "
                                           "holding them)");
  std::sort(dirs.begin(), dirs.end(),
            [](const fs::path& a, const fs::path& b) { return natural_less(a.filename(), b.filename()); });
  return dirs;
}

// The file's text; "" when it does not exist.
result<std::string> read_text(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::io, path.string() + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return make_error(errc::io, path.string() + ": read failed");
  return s.str();
}

std::string folder_name(const fs::path& dir, bool with_parent) {
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (abs.empty()) abs = dir.lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  return with_parent ? (abs.parent_path().filename() / abs.filename()).string() : abs.filename().string();
}

void make_names_unique(std::vector<run_logs>& runs) {
  for (bool with_parent : {false, true}) {
    std::map<std::string, int> seen;
    for (auto& r : runs) ++seen[r.name];
    bool clash = false;
    for (auto& r : runs)
      if (seen[r.name] > 1) clash = true, r.name = folder_name(r.dir, true);
    if (!clash) return;
    if (with_parent) {
      std::map<std::string, int> count;
      for (auto& r : runs)
        if (int k = ++count[r.name]; seen[r.name] > 1 && k > 1) r.name += " (" + std::to_string(k) + ")";
    }
  }
}

}  // namespace

result<std::vector<run_logs>> load_runs(const std::vector<std::string>& paths) {
  if (paths.empty()) return make_error(errc::invalid_input, "no folders given");
  std::vector<run_logs> runs;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto dirs = node_dirs(paths[i]);
    if (!dirs) return dirs.err();
    for (auto& dir : *dirs) {
      std::array<std::string, 3> text;
      for (std::size_t f = 0; f < 3; ++f) {
        auto t = read_text(dir / log_files[f]);
        if (!t) return t.err();
        text[f] = std::move(*t);
      }
      run_logs r{folder_name(dir, false), dir.string(), i, parse_train_log(text[0]), parse_round_log(text[1]),
                 text[2].empty() ? std::nullopt : parse_result_json(text[2])};
      runs.push_back(std::move(r));
    }
  }
  make_names_unique(runs);
  return runs;
}

result<plot_summary> plot_files(const std::vector<std::string>& paths, image_format format,
                                const figure_options& o) {
  auto runs = load_runs(paths);
  if (!runs) return runs.err();
  std::vector<double> t0(paths.size(), INFINITY);
  for (auto& r : *runs)
    if (auto t = first_time(r.train)) t0[r.source] = std::min(t0[r.source], *t);
  plot_summary sum;
  sum.runs = runs->size();
  std::vector<series> all;
  for (auto& r : *runs) {
    for (auto& l : make_series(r, finite(t0[r.source]) ? t0[r.source] : 0)) {
      l.points = downsample(l.points, o.max_points);
      sum.points += l.points.size();
      all.push_back(std::move(l));
    }
    for (auto [file, skipped, first] : {std::tuple{"train.log", r.train.skipped, r.train.first_skipped_line},
                                        std::tuple{"rounds.log", r.rounds.skipped, r.rounds.first_skipped_line}}) {
      if (skipped == 0) continue;
      sum.skipped += skipped;
      sum.notes.push_back((fs::path(r.dir) / file).string() + ": skipped " + std::to_string(skipped) +
                          (skipped == 1 ? " line" : " lines") + " (first: line " + std::to_string(first) + ")");
    }
  }
  if (all.empty())
    return make_error(errc::not_found, "nothing to plot: the logs in " + paths.front() +
                                           (paths.size() > 1 ? " ..." : "") + " hold no loss, accuracy or round time");
  sum.series = all.size();
  const scene s = layout_figure(all, o);
  if (format == image_format::svg) {
    sum.bytes = render_svg(s);
  } else {
    auto png = render_png(s);
    if (!png) return png.err();
    sum.bytes = std::move(*png);
  }
  return sum;
}

}  // namespace hydra::ops
