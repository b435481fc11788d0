#!/usr/bin/env bash
# What an idle Hydra node costs its machine: `hydra demo --nodes N
# --no-train` (real node processes on loopback), and once membership has
# settled, the CPU each node process uses over a window (utime + stime from
# /proc/PID/stat), split by thread name (CAF's scheduler workers are named
# "caf.multiplexer" in CAF 0.17; "hydra" is the main and transport threads),
# and its open descriptors. Goal (issue 15): <= 0.5 % of a core per node at
# every N, descriptors growing at most logarithmically.
#
#   bench/idle_cpu.sh [--nodes 4,16,64] [--window S (60)] [--settle S (20)]
#                     [--scheduler sharing|stealing]
#
# Environment: BUILD (default build). Prints one line per N and one JSON
# line per N ({"n":..,"cpu_percent_per_node":..,"fds_per_node":..,...}).
set -euo pipefail
die() { echo "idle_cpu.sh: $*" >&2; exit 1; }
nodes=4,16,64 window=60 settle=20 scheduler=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) [[ $# -ge 2 ]] || die "$1 needs a value"; nodes="$2"; shift 2 ;;
    --window) [[ $# -ge 2 ]] || die "$1 needs a value"; window="$2"; shift 2 ;;
    --settle) [[ $# -ge 2 ]] || die "$1 needs a value"; settle="$2"; shift 2 ;;
    --scheduler) [[ $# -ge 2 ]] || die "$1 needs a value"; scheduler="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $window =~ ^[1-9][0-9]*$ && $settle =~ ^[0-9]+$ ]] || die "--window and --settle must be whole seconds"
root=$(cd "$(dirname "$0")/.." && pwd)
hydra=${BUILD:-$root/build}/hydra
[[ -x $hydra ]] || die "$hydra not built"
tck=$(getconf CLK_TCK)
work=$(mktemp -d)
demo=""
cleanup() { [[ -n $demo ]] && kill "$demo" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

sample() {  # "pid thread ticks" for every thread of the given pids
  for p in "$@"; do
    for t in /proc/"$p"/task/*; do
      [[ -r $t/stat ]] || continue
      printf '%s %s %s\n' "$p" "$(tr ' ' _ <"$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')"
    done
  done
}

for n in ${nodes//,/ }; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "bad node count '$n'"
  state="$work/n$n"
  [[ -n $scheduler ]] && export HYDRA_SCHEDULER="$scheduler"  # read by `hydra node --scheduler`
  "$hydra" demo --nodes "$n" --no-train --state "$state" --duration $((settle + window + 600)) >"$work/demo$n.log" 2>&1 &
  demo=$!
  # Settled: every node process is up and the demo reported convergence
  # (its "membership" line), then `settle` more seconds.
  for _ in $(seq 1 600); do
    grep -q "converged\|membership" "$work/demo$n.log" 2>/dev/null && break
    kill -0 "$demo" 2>/dev/null || { cat "$work/demo$n.log" >&2; die "demo with $n nodes exited early"; }
    sleep 1
  done
  sleep "$settle"
  mapfile -t pids < <(pgrep -f -- "--state $state/node-" || true)
  [[ ${#pids[@]} -eq $n ]] || die "expected $n node processes, found ${#pids[@]}"
  sample "${pids[@]}" >"$work/t0"
  sleep "$window"
  sample "${pids[@]}" >"$work/t1"
  fds=0
  for p in "${pids[@]}"; do fds=$((fds + $(ls /proc/"$p"/fd | wc -l))); done
  kill "$demo" 2>/dev/null || true
  wait "$demo" 2>/dev/null || true
  demo=""
  python3 - "$work/t0" "$work/t1" "$window" "$tck" "$n" "$fds" <<'PY'
import collections, json, sys
t0, t1 = ([l.split() for l in open(f)] for f in sys.argv[1:3])
window, tck, n, fds = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
by_thread = collections.Counter()
start = collections.Counter(); end = collections.Counter()
for p, c, v in t0: start[c] += int(v)
for p, c, v in t1: end[c] += int(v)
for c in end: by_thread[c] = (end[c] - start.get(c, 0)) / tck / window * 100 / n
total = sum(by_thread.values())
threads = ", ".join(f"{c} {v:.2f}" for c, v in sorted(by_thread.items(), key=lambda kv: -kv[1]) if v >= 0.005)
print(f"N={n:<4} CPU per node {total:5.2f} % of a core over {window:.0f} s ({threads}); descriptors per node {fds / n:.0f}")
print(json.dumps({"n": n, "window_s": window, "cpu_percent_per_node": round(total, 3),
                  "by_thread": {c: round(v, 3) for c, v in by_thread.items()}, "fds_per_node": round(fds / n, 1)}))
PY
done
