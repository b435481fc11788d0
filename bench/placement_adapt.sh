#!/usr/bin/env bash
# Rebalancing after a change, measured: 4 local nodes train the CNN with the
# adaptive policy; at ~40% of the job node 3 is slowed to cpu-limit 25 with
# `hydra ctl ... set cpu-limit 25`. From node 0's per-round log it prints how
# many rounds after the change the round time is back within 1.2x of the new
# ideal (global batch / summed measured speed + all-reduce time).
#   bench/placement_adapt.sh [--samples N] [--policy adaptive|model|uniform]
set -euo pipefail
cd "$(dirname "$0")/.."
samples=6400 policy=adaptive
while [[ $# -gt 0 ]]; do
  case "$1" in
    --samples) samples=$2; shift 2 ;;
    --policy) policy=$2; shift 2 ;;
    *) echo "usage: $0 [--samples N] [--policy P]" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d)
trap 'pkill -9 -f "state $tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
build/hydra demo --nodes 4 --model cnn --policy "$policy" --limit "$samples" --state "$tmp/job" --json \
  >"$tmp/result.json" 2>/dev/null &
demo=$!
step=""
for _ in $(seq 1 2400); do
  read -r s t _ 2>/dev/null < "$tmp/job/node-0/progress" || true
  if [[ -n "${s:-}" && -n "${t:-}" && $((s * 10)) -ge $((t * 4)) ]]; then step=$s; break; fi
  sleep 0.05
done
build/hydra ctl --as "$tmp/job/operator" --connect "$(cat "$tmp/job/node-3/address")" set cpu-limit 25 >/dev/null
echo "node 3 set to cpu-limit 25 at step $step" >&2
wait $demo
/usr/bin/python3 - "$tmp/job/node-0/rounds.log" "$step" "$policy" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
change, policy = int(sys.argv[2]), sys.argv[3]
before = sorted(r[1] for r in rows if r[0] < change)[len([r for r in rows if r[0] < change]) // 2]
after = [r for r in rows if r[0] > change + 1]
# the new ideal: the estimate once the change has shown in two windows
new_ideal = sorted(r[2] for r in after[6:])[len(after[6:]) // 2]
back = next((i + 1 for i, r in enumerate(after) if r[1] <= 1.2 * new_ideal and i > 0), None)
print(f"policy {policy}: median round before {before*1e3:.1f} ms; new ideal {new_ideal*1e3:.1f} ms")
print("rounds after the change (ms):", " ".join(f"{r[1]*1e3:.0f}" for r in after[:10]))
print(f"back within 1.2x of the new ideal after {back} round(s)")
PY
