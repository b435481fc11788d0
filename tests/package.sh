#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` builds hydra_VERSION_amd64.deb with the
# binary, the systemd unit, the default config as a conffile, the --help
# text and declared dependencies. As root (CI is a fresh Debian 12 machine):
# `dpkg -i` it; the `hydra` system user and /var/lib/hydra (0700) exist;
# `systemd-analyze verify` passes on the installed unit; an operator admits
# the machine and the node starts from the packaged config with the unit's
# own ExecStart line, as the unit's user, and tells the service manager
# READY=1 and WATCHDOG=1 through NOTIFY_SOCKET (where systemd is not PID 1,
# this test plays its part: it listens on the socket); SIGTERM gives
# STOPPING=1 and a clean exit. `dpkg --purge` then removes it all.
# The node is told `--listen 127.0.0.1:0 --metrics 127.0.0.1:0` on top of
# the packaged config: tests use loopback only (the config listens on all
# interfaces, as a service on a LAN must).
# Usage: package.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
source "$(dirname "$0")/lib.sh"
version=$(sed -n 's/^project(hydra VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../CMakeLists.txt")
deb="$build/hydra_${version}_amd64.deb"

rm -f "$deb"
(cd "$build" && cpack -G DEB >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; echo "FAIL cpack -G DEB"; exit 1; }
check "cpack made $(basename "$deb")" test -s "$deb"
dpkg-deb -I "$deb" >"$tmp/info.txt"
dpkg-deb -c "$deb" >"$tmp/contents.txt"
dpkg-deb -e "$deb" "$tmp/control"
check "it declares its library dependencies (libcaf, libdnnl, libsodium, libsystemd)" \
  bash -c "grep '^ Depends:' '$tmp/info.txt' | grep -q libcaf && grep '^ Depends:' '$tmp/info.txt' | grep -q libdnnl && grep '^ Depends:' '$tmp/info.txt' | grep -q libsodium && grep '^ Depends:' '$tmp/info.txt' | grep -q libsystemd"
for f in ./usr/bin/hydra ./usr/lib/systemd/system/hydra.service ./etc/hydra/hydra.toml \
         ./usr/share/doc/hydra/hydra-help.txt ./usr/share/doc/hydra/hostfile.example; do
  check "the package holds $f" grep -q " $f\$" "$tmp/contents.txt"
done
check "/etc/hydra/hydra.toml is a conffile" grep -qx "/etc/hydra/hydra.toml" "$tmp/control/conffiles"
check "maintainer scripts: postinst, prerm, postrm" test -x "$tmp/control/postinst" -a -x "$tmp/control/prerm" -a -x "$tmp/control/postrm"

if [ "$(id -u)" != 0 ]; then
  echo "skip dpkg -i: not root"
  finish
  exit $?
fi
if dpkg -s hydra >/dev/null 2>&1; then
  echo "skip dpkg -i: a hydra package is already installed on this machine (not replacing it)"
  finish
  exit $?
fi
purge() { dpkg --purge hydra >"$tmp/purge.log" 2>&1; }
trap 'pkill -9 -f "hydra node --config /etc/hydra" 2>/dev/null; purge; pkill -9 -f "state $tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

check "dpkg -i installs it" bash -c "dpkg -i '$deb' >'$tmp/dpkg.log' 2>&1 || { cat '$tmp/dpkg.log'; false; }"
check "the hydra system user exists" bash -c "getent passwd hydra | grep -q ':/var/lib/hydra:'"
check "/var/lib/hydra belongs to hydra, mode 700" test "$(stat -c '%U %a' /var/lib/hydra 2>/dev/null)" = "hydra 700"
check "/usr/bin/hydra runs (--version)" bash -c "/usr/bin/hydra --version | grep -q '$version'"
if /usr/bin/hydra config --help >/dev/null 2>&1; then
  check "hydra config check passes on the packaged config" bash -c "/usr/bin/hydra config check /etc/hydra/hydra.toml >'$tmp/check.txt' 2>&1 || { cat '$tmp/check.txt'; false; }"
fi
check "systemd-analyze verify passes on the unit" bash -c "systemd-analyze verify /usr/lib/systemd/system/hydra.service >'$tmp/verify.txt' 2>&1; rc=\$?; cat '$tmp/verify.txt'; test \$rc -eq 0 && ! grep -qi 'hydra.service' '$tmp/verify.txt'"

# Admit this machine: the test's operator (tests/lib.sh) admits the
# packaged state folder, as an operator does on a real PC.
state=$(sed -n 's/^ *state *= *"\(.*\)".*/\1/p' /etc/hydra/hydra.toml | head -1)
state=${state:-/var/lib/hydra}
hydra=/usr/bin/hydra
admit "$state"
chown -R hydra:hydra "$state"
check "the operator admitted the machine ($state/membership.cert)" test -s "$state/membership.cert"

# The unit's ExecStart, run as the unit's user with its environment, and a
# notify socket that records what the node tells the service manager.
exec_start=$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/hydra.service)
envline=$(sed -n 's/^Environment=//p' /usr/lib/systemd/system/hydra.service)
sock="$tmp/notify.sock"
$py - "$sock" "$tmp/notify.log" <<'PYEOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)
s.settimeout(120)
with open(sys.argv[2], "a") as log:
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            msg = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            break
        log.write(msg.replace("\n", " | ") + "\n"); log.flush()
        if "STOPPING=1" in msg:
            break
PYEOF
listener=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
chmod 755 "$tmp"
setpriv --reuid=hydra --regid=hydra --init-groups -- env NOTIFY_SOCKET="$sock" WATCHDOG_USEC=3000000 $envline \
  sh -c 'export WATCHDOG_PID=$$; exec '"$exec_start"' --listen 127.0.0.1:0 --metrics 127.0.0.1:0' \
  >"$tmp/node.out" 2>"$tmp/node.log" &
node=$!
for _ in $(seq 1 600); do grep -q "READY=1" "$tmp/notify.log" 2>/dev/null && grep -q "WATCHDOG=1" "$tmp/notify.log" && break; sleep 0.1; done
check "the node told the service manager READY=1" grep -q "READY=1" "$tmp/notify.log"
check "and WATCHDOG=1 while it lives" grep -q "WATCHDOG=1" "$tmp/notify.log"
check "it runs from the packaged state folder ($state/address)" test -s "$state/address"
kill -TERM $node
for _ in $(seq 1 300); do kill -0 $node 2>/dev/null || break; sleep 0.1; done
wait $node
rc=$?
check "SIGTERM: it exits cleanly (rc $rc)" test $rc -eq 0
wait $listener 2>/dev/null
check "and says STOPPING=1 first" grep -q "STOPPING=1" "$tmp/notify.log"
echo "--- what the node told the service manager:"; sed 's/^/  /' "$tmp/notify.log" | head -8
[ $failures -eq 0 ] || { echo "--- node log"; tail -20 "$tmp/node.log"; }

purge
check "dpkg --purge removes the binary and the user" bash -c "! test -e /usr/bin/hydra && ! getent passwd hydra >/dev/null"
finish
