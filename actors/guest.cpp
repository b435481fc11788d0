#include "actors/guest.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace hydra::actors {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string first_line(const std::filesystem::path& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, sep)) {
    const auto a = part.find_first_not_of(" \t"), b = part.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(part.substr(a, b - a + 1));
  }
  return out;
}

/// "HH:MM" or "HH:MM:SS" (or "H:MM") -> seconds after midnight; -1 when
/// malformed. "24:00" only when `allow_24` (the end of a window).
int parse_clock(const std::string& s, bool allow_24) {
  std::vector<int> parts;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || j - i > 2) return -1;
    parts.push_back(std::stoi(s.substr(i, j - i)));
    if (j == s.size()) break;
    if (s[j] != ':') return -1;
    i = j + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return -1;
  const int h = parts[0], m = parts[1], sec = parts.size() == 3 ? parts[2] : 0;
  if (m > 59 || sec > 59) return -1;
  if (h == 24 && m == 0 && sec == 0) return allow_24 ? 86400 : -1;
  if (h > 23) return -1;
  return h * 3600 + m * 60 + sec;
}

std::string fmt_percent(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f%%", v);
  return b;
}

std::string fmt_seconds(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f s", v);
  return b;
}

}  // namespace

// ---- probes -----------------------------------------------------------------

std::optional<std::uint64_t> count_input_interrupts(const std::string& text, std::span<const std::string> names) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // the CPU header
  std::optional<std::uint64_t> sum;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    // Per-CPU counts, then the controller and the device names.
    std::istringstream fields(line.substr(colon + 1));
    std::uint64_t count = 0;
    std::string tok;
    std::string rest;
    while (fields >> tok) {
      if (!tok.empty() && std::all_of(tok.begin(), tok.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        count += std::strtoull(tok.c_str(), nullptr, 10);
        continue;
      }
      std::getline(fields, rest);
      rest = lower(tok + rest);
      break;
    }
    if (rest.empty()) continue;
    for (const auto& n : names)
      if (rest.find(n) != std::string::npos) {
        sum = sum.value_or(0) + count;
        break;
      }
  }
  return sum;
}

bool read_on_battery(const std::string& power_supply_dir) {
  namespace fs = std::filesystem;
  bool discharging = false, battery = false, adapter = false, online = false;
  std::error_code ec;
  for (const auto& dev : fs::directory_iterator(power_supply_dir, ec)) {
    const std::string type = first_line(dev.path() / "type");
    if (type == "Battery") {
      battery = true;
      if (first_line(dev.path() / "status") == "Discharging") discharging = true;
    } else if (fs::exists(dev.path() / "online", ec)) {
      adapter = true;
      if (first_line(dev.path() / "online") == "1") online = true;
    }
  }
  return discharging || (battery && adapter && !online);
}

os_probe::os_probe(env& e, const std::string& input_irqs, std::string proc, std::string power_supply)
    : env_(e), proc_(std::move(proc)), power_supply_(std::move(power_supply)) {
  for (auto& n : split(lower(input_irqs), ',')) input_irqs_.push_back(n);
}

machine_sample os_probe::sample() {
  machine_sample s;
  s.input_events = count_input_interrupts(read_text(proc_ + "/interrupts"), input_irqs_);
  {
    // cpu  user nice system idle iowait irq softirq steal (guest time is in user)
    std::ifstream f(proc_ + "/stat");
    std::string cpu;
    std::uint64_t v[8] = {};
    f >> cpu;
    for (auto& x : v) f >> x;
    if (cpu == "cpu") {
      s.cpu_busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
      s.cpu_total = s.cpu_busy + v[3] + v[4];
    }
  }
  {
    // pid (comm) state ppid ... utime stime: fields 14 and 15; comm may hold spaces.
    const std::string st = read_text(proc_ + "/self/stat");
    const auto close = st.rfind(')');
    if (close != std::string::npos) {
      std::istringstream f(st.substr(close + 1));
      std::string tok;
      std::uint64_t utime = 0, stime = 0;
      for (int field = 3; field <= 15 && f >> tok; ++field) {
        if (field == 14) utime = std::strtoull(tok.c_str(), nullptr, 10);
        if (field == 15) stime = std::strtoull(tok.c_str(), nullptr, 10);
      }
      s.self_cpu = utime + stime;
    }
  }
  s.on_battery = read_on_battery(power_supply_);
  const std::time_t t = static_cast<std::time_t>(env_.unix_seconds());
  std::tm local{};
  localtime_r(&t, &local);
  s.local_seconds = local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec;
  return s;
}

file_probe::file_probe(std::string path, std::unique_ptr<machine_probe> base)
    : path_(std::move(path)), base_(std::move(base)) {}

machine_sample file_probe::sample() {
  machine_sample s = base_->sample();
  auto j = nlohmann::json::parse(read_text(path_), nullptr, false);
  if (!j.is_object()) return s;
  if (j.contains("input_events"))
    s.input_events = j["input_events"].is_number() ? std::optional(j["input_events"].get<std::uint64_t>()) : std::nullopt;
  auto num = [&](const char* key, std::uint64_t& out) {
    if (j.contains(key) && j[key].is_number()) out = j[key].get<std::uint64_t>();
  };
  num("cpu_busy", s.cpu_busy);
  num("cpu_total", s.cpu_total);
  num("self_cpu", s.self_cpu);
  if (j.contains("on_battery") && j["on_battery"].is_boolean()) s.on_battery = j["on_battery"].get<bool>();
  if (j.contains("local_time") && j["local_time"].is_string())
    if (const int t = parse_clock(j["local_time"].get<std::string>(), false); t >= 0) s.local_seconds = t;
  return s;
}

std::unique_ptr<machine_probe> make_machine_probe(env& e, const std::string& input_irqs) {
  auto real = std::make_unique<os_probe>(e, input_irqs);
  if (const char* f = std::getenv("HYDRA_GUEST_PROBE_FILE"); f && *f)
    return std::make_unique<file_probe>(f, std::move(real));
  return real;
}

// ---- hours ------------------------------------------------------------------

result<std::vector<hours_window>> parse_hours(const std::string& text) {
  std::vector<hours_window> out;
  for (auto part : split(text, ',')) {
    std::erase(part, ' ');
    const auto dash = part.find('-');
    const int from = dash == std::string::npos ? -1 : parse_clock(part.substr(0, dash), false);
    const int to = dash == std::string::npos ? -1 : parse_clock(part.substr(dash + 1), true);
    if (from < 0 || to < 0)
      return make_error(errc::invalid_input, "hours '" + part + "': want HH:MM-HH:MM (local time, e.g. 18:00-07:00)");
    if (from == to % 86400)
      return make_error(errc::invalid_input, "hours '" + part + "': starts where it ends (for any time, leave it unset)");
    out.push_back({from, to});
  }
  if (out.empty()) return make_error(errc::invalid_input, "hours '" + text + "': no window (want HH:MM-HH:MM)");
  return out;
}

bool within_hours(std::span<const hours_window> windows, int t) {
  for (const auto& w : windows)
    if (w.from < w.to ? (t >= w.from && t < w.to) : (t >= w.from || t < w.to)) return true;
  return false;
}

// ---- policy -----------------------------------------------------------------

guest_policy::guest_policy(guest_config cfg) : cfg_(std::move(cfg)) {
  if (!cfg_.hours.empty())
    if (auto h = parse_hours(cfg_.hours)) hours_ = std::move(*h);
}

guest_decision guest_policy::update(env::clock::time_point now, const machine_sample& s) {
  std::vector<std::string> reasons, details;
  auto hold = [&](std::string reason, std::string detail) {
    reasons.push_back(std::move(reason));
    details.push_back(std::move(detail));
  };
  if (!hours_.empty() && !within_hours(hours_, s.local_seconds)) {
    char now_text[16];
    std::snprintf(now_text, sizeof now_text, "%02d:%02d", s.local_seconds / 3600, s.local_seconds / 60 % 60);
    hold("outside hours " + cfg_.hours, std::string("local time ") + now_text + ", training hours " + cfg_.hours);
  }
  if (cfg_.on_battery && s.on_battery) hold("on battery", "on battery");
  if (s.input_events) {
    if (!last_input_ || *s.input_events != *last_input_) last_input_at_ = now;
    last_input_ = s.input_events;
    const double idle = seconds_between(last_input_at_, now);
    if (cfg_.idle_seconds > 0 && idle < cfg_.idle_seconds)
      hold("user active (keyboard/mouse input in the last " + fmt_seconds(cfg_.idle_seconds) + ")",
           "keyboard/mouse input " + fmt_seconds(idle) + " ago (idle needed: " + fmt_seconds(cfg_.idle_seconds) + ")");
  }
  cpu_.push_back({now, s.cpu_busy, s.cpu_total, s.self_cpu});
  while (cpu_.size() > 2 && seconds_between(cpu_[1].t, now) >= cfg_.cpu_window) cpu_.pop_front();
  if (cfg_.max_other_cpu > 0 && cpu_.size() >= 2) {
    const auto &a = cpu_.front(), &b = cpu_.back();
    // Judged over a whole window only (not on the first second's spike).
    if (seconds_between(a.t, b.t) >= cfg_.cpu_window && b.total > a.total && b.busy >= a.busy) {
      const double busy = double(b.busy - a.busy), self = b.self >= a.self ? double(b.self - a.self) : 0.0;
      const double other = std::max(0.0, 100.0 * (busy - self) / double(b.total - a.total));
      if (other > cfg_.max_other_cpu)
        hold("other processes use over " + fmt_percent(cfg_.max_other_cpu) + " CPU",
             "other processes used " + fmt_percent(other) + " of the machine's CPU over the last " +
                 fmt_seconds(seconds_between(a.t, b.t)) + " (limit " + fmt_percent(cfg_.max_other_cpu) + ")");
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : "; ") + x;
    return out;
  };
  if (!reasons.empty()) {
    paused_ = true;
    clear_since_.reset();
    last_reason_ = join(reasons);
    return {false, last_reason_, join(details)};
  }
  if (!paused_) return {};
  if (!clear_since_) clear_since_ = now;
  if (seconds_between(*clear_since_, now) >= cfg_.resume_after) {
    paused_ = false;
    clear_since_.reset();
    return {};
  }
  const std::string waiting = last_reason_ + " (cleared; resuming after " + fmt_seconds(cfg_.resume_after) + ")";
  return {false, waiting, waiting};
}

}  // namespace hydra::actors
