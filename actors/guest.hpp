#pragma once
/// The polite guest: like BOINC's computing preferences, a node trains only
/// while the machine's owner does not need it. A `machine_probe` reads the
/// machine's facts (keyboard/mouse interrupts, CPU time of the machine and of
/// this process, battery, local time of day); a `guest_policy`, pure and
/// driven by those samples, says run or pause (and why). `hydra node` samples
/// once a second, drains its trainer on pause and restarts it on resume.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/env.hpp"
#include "common/result.hpp"

namespace hydra::actors {

/// One reading of the machine. Counters run from boot; the policy uses
/// their differences.
struct machine_sample {
  /// Keyboard/mouse interrupts so far; nullopt when no such device is seen
  /// (a VM, a server): then the input condition never holds.
  std::optional<std::uint64_t> input_events;
  std::uint64_t cpu_busy = 0;   ///< machine's busy jiffies, all cores (/proc/stat)
  std::uint64_t cpu_total = 0;  ///< machine's jiffies, busy + idle + iowait
  std::uint64_t self_cpu = 0;   ///< this process's jiffies, user + system (/proc/self/stat)
  bool on_battery = false;      ///< running from a battery
  int local_seconds = 0;        ///< local time of day, seconds after midnight
};

/// Where a guest gets its facts. Implementations need not be thread-safe:
/// one monitor thread samples.
class machine_probe {
 public:
  virtual ~machine_probe() = default;
  virtual machine_sample sample() = 0;
};

/// /proc/interrupts names counted as keyboard/mouse when none are given:
/// PS/2 (i8042), named keyboards, mice, touchpads and HID devices, and the
/// USB host controllers (a USB keyboard or mouse interrupts only when used;
/// other busy USB devices count too, which errs on the polite side).
inline constexpr const char* default_input_irqs = "i8042,keyboard,mouse,touchpad,hid,xhci,ehci,ohci,uhci";

/// The real machine: /proc/interrupts, /proc/stat, /proc/self/stat,
/// /sys/class/power_supply and the local time zone (time from `e`).
class os_probe final : public machine_probe {
 public:
  /// `input_irqs`: comma-separated, case-insensitive substrings of the
  /// interrupt names in /proc/interrupts that count as user input.
  explicit os_probe(env& e, const std::string& input_irqs = default_input_irqs, std::string proc = "/proc",
                    std::string power_supply = "/sys/class/power_supply");
  machine_sample sample() override;

 private:
  env& env_;
  std::vector<std::string> input_irqs_;
  std::string proc_, power_supply_;
};

/// Reads /proc/interrupts-format text: the summed counts of the lines whose
/// name contains one of `names` (lower case); nullopt when none matches.
std::optional<std::uint64_t> count_input_interrupts(const std::string& text, std::span<const std::string> names);

/// Battery or mains (as capabilities' read_os_state): on battery when a
/// battery is Discharging, or when it has adapters and none is online.
bool read_on_battery(const std::string& power_supply_dir);

/// Facts a test sets by hand.
class fake_probe final : public machine_probe {
 public:
  machine_sample facts;
  machine_sample sample() override { return facts; }
};

/// Test and drill hook: facts from a small JSON file, re-read on every
/// sample, over the real ones. Keys (each optional): "input_events" (number,
/// or null = no input device), "cpu_busy", "cpu_total", "self_cpu",
/// "on_battery" (bool), "local_time" ("HH:MM" or "HH:MM:SS"). A missing or
/// unreadable file leaves `base`'s facts.
class file_probe final : public machine_probe {
 public:
  file_probe(std::string path, std::unique_ptr<machine_probe> base);
  machine_sample sample() override;

 private:
  std::string path_;
  std::unique_ptr<machine_probe> base_;
};

/// The probe `hydra node` uses: os_probe, under a file_probe when
/// $HYDRA_GUEST_PROBE_FILE names a file (tests and drills).
std::unique_ptr<machine_probe> make_machine_probe(env& e, const std::string& input_irqs = default_input_irqs);

/// A daily window in local time, seconds after midnight: [from, to), or
/// wrapping midnight when from > to.
struct hours_window {
  int from = 0, to = 0;
};

/// "18:00-07:00" or a comma list ("12:00-13:00,18:00-07:00"); "24:00" may
/// end a window. errc::invalid_input naming the bad part otherwise.
result<std::vector<hours_window>> parse_hours(const std::string& text);

/// Whether `local_seconds` falls in one of the windows.
bool within_hours(std::span<const hours_window> windows, int local_seconds);

/// When the guest steps aside. Every condition is off by default.
struct guest_config {
  double idle_seconds = 0;   ///< train only after this long without keyboard/mouse input (0 = off)
  double max_other_cpu = 0;  ///< pause while other processes use more than this % of the machine (0 = off)
  bool on_battery = false;   ///< pause while on battery
  std::string hours;         ///< train only within these windows (parse_hours; "" = any time)
  double resume_after = 30;  ///< every condition must stay clear this long before training resumes
  double cpu_window = 10;    ///< seconds over which other processes' CPU use is averaged (judged once a window is seen)
  /// Whether any condition is on.
  bool enabled() const { return idle_seconds > 0 || max_other_cpu > 0 || on_battery || !hours.empty(); }
};

/// What the policy says: run, or pause and why.
struct guest_decision {
  bool run = true;
  /// Why the trainer is paused ("" when it runs): names the condition(s),
  /// steady while they hold (it is advertised, so it must not change
  /// every second).
  std::string reason;
  /// The same with the measured values, for the log.
  std::string detail;
};

/// Pauses at once when a condition holds; resumes when none has held for
/// `resume_after` seconds (hysteresis). Pure: time and facts come in as
/// arguments. At the first sample it assumes input just happened (a counter
/// from boot cannot say when the last key was pressed), so an input-idle
/// guest starts paused.
class guest_policy {
 public:
  /// Precondition: cfg.hours parses (check with parse_hours first).
  explicit guest_policy(guest_config cfg);
  guest_decision update(env::clock::time_point now, const machine_sample& s);
  bool paused() const { return paused_; }

 private:
  struct cpu_point {
    env::clock::time_point t;
    std::uint64_t busy, total, self;
  };
  guest_config cfg_;
  std::vector<hours_window> hours_;
  bool paused_ = false;
  std::string last_reason_;
  std::optional<env::clock::time_point> clear_since_;
  std::optional<std::uint64_t> last_input_;
  env::clock::time_point last_input_at_{};
  std::deque<cpu_point> cpu_;
};

}  // namespace hydra::actors
