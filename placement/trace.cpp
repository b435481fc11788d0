#include <algorithm>
#include <charconv>
#include <string>

#include "placement/sim.hpp"

namespace hydra::placement {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto p = s.find(sep);
    out.push_back(trim(s.substr(0, p)));
    if (p == std::string_view::npos) return out;
    s.remove_prefix(p + 1);
  }
}

template <class T>
bool parse_number(std::string_view s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

error line_error(std::size_t line, const std::string& what) {
  return make_error(errc::invalid_input, "trace line " + std::to_string(line) + ": " + what);
}

result<trace_event> parse_line(std::size_t line, std::string_view text) {
  auto f = split(text, ',');
  if (f.size() != 4 && !(f.size() == 3 && f[2] == "leave"))
    return line_error(line, "expected node_id,time_s,event,value");
  trace_event e;
  if (!parse_number(f[0], e.node_id)) return line_error(line, "bad node_id '" + std::string(f[0]) + "'");
  if (!parse_number(f[1], e.time_s) || !(e.time_s >= 0))
    return line_error(line, "bad time_s '" + std::string(f[1]) + "'");
  if (f[2] == "join") e.what = trace_event::kind::join;
  else if (f[2] == "leave") e.what = trace_event::kind::leave;
  else if (f[2] == "speed") e.what = trace_event::kind::speed;
  else return line_error(line, "unknown event '" + std::string(f[2]) + "' (join, leave or speed)");
  if (e.what == trace_event::kind::leave) return e;
  if (f.size() < 4 || !parse_number(f[3], e.value) || !(e.value > 0))
    return line_error(line, "bad value (samples/s > 0 expected)");
  return e;
}

}  // namespace

result<std::vector<trace_event>> parse_trace(std::string_view text) {
  std::vector<trace_event> out;
  std::size_t line = 0;
  while (!text.empty()) {
    auto p = text.find('\n');
    auto l = trim(text.substr(0, p));
    text.remove_prefix(p == std::string_view::npos ? text.size() : p + 1);
    ++line;
    if (l.empty() || l.front() == '#') continue;
    if (out.empty() && l.starts_with("node_id")) continue;
    auto e = parse_line(line, l);
    if (!e) return e.err();
    out.push_back(*e);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const trace_event& a, const trace_event& b) { return a.time_s < b.time_s; });
  return out;
}

status apply_spec(std::string_view spec, sim_config& c) {
  for (auto item : split(spec, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      return make_error(errc::invalid_input, "spec: expected key=value, got '" + std::string(item) + "'");
    auto key = trim(item.substr(0, eq)), val = trim(item.substr(eq + 1));
    double d = 0;
    std::uint64_t u = 0;
    auto bad = [&] {
      return make_error(errc::invalid_input, "spec: bad value for " + std::string(key) + ": '" +
                                                 std::string(val) + "'");
    };
    auto num = [&](double& out, double lo) { return parse_number(val, d) && d >= lo ? (out = d, true) : false; };
    auto cnt = [&](auto& out, std::uint64_t lo) {
      return parse_number(val, u) && u >= lo ? (out = u, true) : false;
    };
    bool ok = false;
    if (key == "spread") ok = num(c.speed_spread, 1);
    else if (key == "churn") ok = num(c.churn_per_hour, 0);
    else if (key == "drift") ok = num(c.drift, 0);
    else if (key == "noise") ok = num(c.noise, 0);
    else if (key == "model_bytes") ok = num(c.model_bytes, 0);
    else if (key == "nodes") ok = cnt(c.nodes, 1);
    else if (key == "rounds") ok = cnt(c.rounds, 1);
    else if (key == "batch") ok = cnt(c.global_batch, 0);
    else if (key == "seed") ok = cnt(c.seed, 0);
    else
      return make_error(errc::invalid_input, "spec: unknown key '" + std::string(key) +
                                                 "' (nodes rounds spread churn drift noise seed batch model_bytes)");
    if (!ok) return bad();
  }
  return {};
}

}  // namespace hydra::placement
