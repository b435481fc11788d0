#include "actors/guest.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hydra::actors {
namespace {

using namespace std::chrono_literals;

/// A policy driven second by second through a fake probe and a manual clock.
struct guest_rig {
  manual_env e;
  fake_probe probe;
  guest_policy policy;
  guest_decision last;
  explicit guest_rig(guest_config cfg) : policy(std::move(cfg)) {}
  /// One sample a second for `seconds`; other processes use `other_pct` of
  /// 100 jiffies a second, this process `self_pct`.
  const guest_decision& run(int seconds, double other_pct = 0, double self_pct = 0) {
    for (int i = 0; i < seconds; ++i) {
      e.advance(1s);
      probe.facts.cpu_total += 100;
      probe.facts.cpu_busy += static_cast<std::uint64_t>(other_pct + self_pct);
      probe.facts.self_cpu += static_cast<std::uint64_t>(self_pct);
      last = policy.update(e.now(), probe.sample());
    }
    return last;
  }
};

guest_config with_resume(guest_config c, double resume = 5) {
  c.resume_after = resume;
  return c;
}

TEST(GuestPolicy, EverythingOffAlwaysRuns) {
  guest_config c;
  EXPECT_FALSE(c.enabled());
  guest_rig g(c);
  g.probe.facts.on_battery = true;
  g.probe.facts.input_events = 1;
  EXPECT_TRUE(g.run(3, 95).run);
  g.probe.facts.input_events = 7;
  EXPECT_TRUE(g.run(1, 95).run);
}

TEST(GuestPolicy, UserActiveThenIdle) {
  guest_config c;
  c.idle_seconds = 10;
  EXPECT_TRUE(c.enabled());
  guest_rig g(with_resume(c, 3));
  g.probe.facts.input_events = 100;
  // At start nobody can say when the last key was pressed: assume just now.
  auto d = g.run(1);
  EXPECT_FALSE(d.run);
  EXPECT_NE(d.reason.find("user active"), std::string::npos) << d.reason;
  EXPECT_NE(d.detail.find("keyboard/mouse"), std::string::npos) << d.detail;
  // Idle for 10 s, then the resume delay.
  g.run(9);
  EXPECT_FALSE(g.last.run);
  g.run(2);
  EXPECT_FALSE(g.last.run);
  EXPECT_NE(g.last.reason.find("cleared"), std::string::npos) << g.last.reason;
  g.run(2);
  EXPECT_TRUE(g.last.run) << g.last.reason;
  EXPECT_EQ(g.last.reason, "");
  // A key press pauses at once.
  g.probe.facts.input_events = 101;
  EXPECT_FALSE(g.run(1).run);
  EXPECT_NE(g.last.reason.find("user active"), std::string::npos);
}

TEST(GuestPolicy, NoInputDeviceNeverPausesForInput) {
  guest_config c;
  c.idle_seconds = 10;
  guest_rig g(c);
  g.probe.facts.input_events.reset();
  EXPECT_TRUE(g.run(3).run);
}

TEST(GuestPolicy, OtherCpuAboveAndBelowThreshold) {
  guest_config c;
  c.max_other_cpu = 25;
  c.cpu_window = 3;
  {
    // Nothing is judged before a whole window (3 s) has been seen.
    guest_rig fresh(c);
    EXPECT_TRUE(fresh.run(3, 90).run);
    EXPECT_FALSE(fresh.run(1, 90).run);
  }
  guest_rig g(with_resume(c, 3));
  // This process may use the whole machine: only the others count.
  EXPECT_TRUE(g.run(5, 10, 90).run);
  EXPECT_TRUE(g.run(5, 25, 70).run);  // at the limit is not over it
  auto d = g.run(4, 60, 20);
  EXPECT_FALSE(d.run);
  EXPECT_NE(d.reason.find("other processes use over 25% CPU"), std::string::npos) << d.reason;
  EXPECT_NE(d.detail.find("60%"), std::string::npos) << d.detail;
  // Stays paused while the window still averages above the limit.
  EXPECT_FALSE(g.run(1, 0).run);
  g.run(3, 5);
  EXPECT_FALSE(g.last.run);  // clear, but within the resume delay
  g.run(2, 5);
  EXPECT_TRUE(g.last.run) << g.last.reason;
}

TEST(GuestPolicy, OnBattery) {
  guest_config c;
  c.on_battery = true;
  guest_rig g(with_resume(c, 4));
  EXPECT_TRUE(g.run(2).run);
  g.probe.facts.on_battery = true;
  auto d = g.run(1);
  EXPECT_FALSE(d.run);
  EXPECT_EQ(d.reason, "on battery");
  g.probe.facts.on_battery = false;
  EXPECT_FALSE(g.run(4).run);  // clear for 0..3 s of the 4 s delay
  EXPECT_TRUE(g.run(1).run);
}

TEST(GuestPolicy, HoursWrapPastMidnight) {
  guest_config c;
  c.hours = "18:00-07:00";
  guest_rig g(with_resume(c, 0));
  g.probe.facts.local_seconds = 12 * 3600;  // noon: outside
  auto d = g.run(1);
  EXPECT_FALSE(d.run);
  EXPECT_EQ(d.reason, "outside hours 18:00-07:00");
  EXPECT_NE(d.detail.find("12:00"), std::string::npos) << d.detail;
  g.probe.facts.local_seconds = 18 * 3600;  // 18:00: inside
  EXPECT_TRUE(g.run(1).run);
  g.probe.facts.local_seconds = 23 * 3600 + 59 * 60;
  EXPECT_TRUE(g.run(1).run);
  g.probe.facts.local_seconds = 3 * 3600;  // past midnight
  EXPECT_TRUE(g.run(1).run);
  g.probe.facts.local_seconds = 7 * 3600;  // 07:00: the window has ended
  EXPECT_FALSE(g.run(1).run);
}

TEST(GuestPolicy, HysteresisRestartsTheResumeDelay) {
  guest_config c;
  c.on_battery = true;
  guest_rig g(with_resume(c, 5));
  g.probe.facts.on_battery = true;
  EXPECT_FALSE(g.run(1).run);
  // Flapping: the condition returns within the delay, so the count restarts.
  g.probe.facts.on_battery = false;
  EXPECT_FALSE(g.run(4).run);
  g.probe.facts.on_battery = true;
  EXPECT_FALSE(g.run(1).run);
  g.probe.facts.on_battery = false;
  EXPECT_FALSE(g.run(5).run);
  EXPECT_NE(g.last.reason.find("on battery"), std::string::npos) << g.last.reason;
  EXPECT_TRUE(g.run(1).run);
  EXPECT_FALSE(g.policy.paused());
}

TEST(GuestPolicy, ReasonNamesEveryConditionThatHolds) {
  guest_config c;
  c.on_battery = true;
  c.hours = "09:00-10:00";
  guest_rig g(c);
  g.probe.facts.on_battery = true;
  g.probe.facts.local_seconds = 20 * 3600;
  auto d = g.run(1);
  EXPECT_EQ(d.reason, "outside hours 09:00-10:00; on battery");
  // The advertised reason does not change from second to second.
  EXPECT_EQ(g.run(3).reason, d.reason);
}

TEST(GuestHours, ParsesAndRejects) {
  auto h = parse_hours("12:00-13:30, 18:00-07:00");
  ASSERT_TRUE(h) << h.err().message;
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].from, 12 * 3600);
  EXPECT_EQ((*h)[0].to, 13 * 3600 + 30 * 60);
  EXPECT_TRUE(within_hours(*h, 12 * 3600 + 59));
  EXPECT_FALSE(within_hours(*h, 14 * 3600));
  EXPECT_TRUE(within_hours(*h, 6 * 3600));
  auto all_evening = parse_hours("18:00-24:00");
  ASSERT_TRUE(all_evening);
  EXPECT_TRUE(within_hours(*all_evening, 86399));
  for (const char* bad : {"", "18:00", "25:00-07:00", "18:60-07:00", "18:00-18:00", "6pm-7am", "18:00-07:00,x"}) {
    auto r = parse_hours(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.err().code, errc::invalid_input);
    }
  }
}

TEST(GuestProbe, CountsKeyboardAndMouseInterrupts) {
  const std::string text =
      "           CPU0       CPU1\n"
      "  0:         22          0   IO-APIC   2-edge      timer\n"
      "  1:        100         20   IO-APIC   1-edge      i8042\n"
      " 12:       3000          5   IO-APIC  12-edge      i8042\n"
      " 16:          7          9   IR-PCI-MSI 327680-edge  xhci_hcd\n"
      " 30:     123456          0   IR-PCI-MSI 512000-edge  nvme0q0\n"
      "NMI:          0          0   Non-maskable interrupts\n";
  std::vector<std::string> names = {"i8042"};
  EXPECT_EQ(count_input_interrupts(text, names), 3125u);
  names.push_back("xhci");
  EXPECT_EQ(count_input_interrupts(text, names), 3141u);
  std::vector<std::string> none = {"mouse"};
  EXPECT_FALSE(count_input_interrupts(text, none));
}

struct temp_dir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("hydra-guest-" + std::to_string(::getpid()));
  temp_dir() { std::filesystem::create_directories(path); }
  ~temp_dir() { std::filesystem::remove_all(path); }
  void write(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories((path / rel).parent_path());
    std::ofstream(path / rel) << text << "\n";
  }
};

TEST(GuestProbe, ReadsBatteryAndMains) {
  temp_dir d;
  EXPECT_FALSE(read_on_battery(d.path.string()));  // no power supply: a desktop
  d.write("BAT0/type", "Battery");
  d.write("BAT0/status", "Charging");
  d.write("AC/type", "Mains");
  d.write("AC/online", "1");
  EXPECT_FALSE(read_on_battery(d.path.string()));
  d.write("AC/online", "0");
  EXPECT_TRUE(read_on_battery(d.path.string()));
  d.write("AC/online", "1");
  d.write("BAT0/status", "Discharging");
  EXPECT_TRUE(read_on_battery(d.path.string()));
}

TEST(GuestProbe, ReadsProcFiles) {
  temp_dir d;
  d.write("proc/interrupts", "   CPU0\n  1:   42   IO-APIC 1-edge i8042\n");
  d.write("proc/stat", "cpu  10 1 5 100 4 2 3 1 0 0\ncpu0 10 1 5 100 4 2 3 1 0 0");
  d.write("proc/self/stat", "77 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 31 12 13 14 15");
  manual_env e;
  os_probe p(e, "i8042", (d.path / "proc").string(), (d.path / "none").string());
  auto s = p.sample();
  EXPECT_EQ(s.input_events, 42u);
  EXPECT_EQ(s.cpu_busy, 22u);
  EXPECT_EQ(s.cpu_total, 126u);
  EXPECT_EQ(s.self_cpu, 43u);
  EXPECT_FALSE(s.on_battery);
  EXPECT_GE(s.local_seconds, 0);
  EXPECT_LT(s.local_seconds, 86400);
}

TEST(GuestProbe, FileOverridesTheRealFacts) {
  temp_dir d;
  auto base = std::make_unique<fake_probe>();
  base->facts.cpu_total = 500;
  base->facts.input_events = 9;
  file_probe p((d.path / "facts.json").string(), std::move(base));
  EXPECT_EQ(p.sample().cpu_total, 500u);  // no file yet
  d.write("facts.json", R"({"on_battery": true, "local_time": "23:30", "input_events": null})");
  auto s = p.sample();
  EXPECT_TRUE(s.on_battery);
  EXPECT_EQ(s.local_seconds, 23 * 3600 + 30 * 60);
  EXPECT_FALSE(s.input_events);
  EXPECT_EQ(s.cpu_total, 500u);
  d.write("facts.json", "{not json");
  EXPECT_FALSE(p.sample().on_battery);
}

}  // namespace
}  // namespace hydra::actors
