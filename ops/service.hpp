#pragma once
/// Talking to the service manager (systemd's sd_notify protocol, through
/// libsystemd). Every call is a no-op when the process was not started by
/// systemd with Type=notify (no NOTIFY_SOCKET), so `hydra node` calls them
/// unconditionally.

#include <chrono>
#include <string>

namespace hydra::ops {

/// READY=1 plus a STATUS line.
void notify_ready(const std::string& status);
/// STATUS=... (shown by `systemctl status`).
void notify_status(const std::string& status);
/// WATCHDOG=1: the node is alive (its actor answered).
void notify_watchdog();
/// STOPPING=1 plus a STATUS line: a drain has begun.
void notify_stopping(const std::string& status);
/// The watchdog interval systemd expects pings within (WatchdogSec=), or
/// zero when there is no watchdog.
std::chrono::microseconds watchdog_interval();

}  // namespace hydra::ops
