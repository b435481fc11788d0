#include "ops/service.hpp"

#include <systemd/sd-daemon.h>

namespace hydra::ops {

void notify_ready(const std::string& status) { sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str()); }

void notify_status(const std::string& status) { sd_notifyf(0, "STATUS=%s", status.c_str()); }

void notify_watchdog() { sd_notify(0, "WATCHDOG=1"); }

void notify_stopping(const std::string& status) { sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status.c_str()); }

std::chrono::microseconds watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) return std::chrono::microseconds(usec);
  return std::chrono::microseconds(0);
}

}  // namespace hydra::ops
