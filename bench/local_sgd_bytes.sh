#!/usr/bin/env bash
# Communication vs accuracy of local SGD (issue 14): 4 nodes, 3 epochs, MLP,
# batch 64, seed 1. Sync fp32 is the baseline; each local-mode setting
# (H local steps between syncs, delta codec) reports bytes per trained sample,
# the reduction against sync fp32, and test accuracy against sync's.
# Bytes and accuracy do not depend on the machine's load (seeded; the
# all-reduce is deterministic), so one run per setting is enough.
# Usage: bench/local_sgd_bytes.sh [BUILD_DIR] [SETTINGS...]
#   SETTINGS: H:CODEC[:OUTER_LR] (default: 16:int8 32:int8 64:int8 32:int8:0.5 64:int8:0.5)
set -uo pipefail
build=${1:-build}
shift || true
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(16:int8 32:int8 64:int8 32:int8:0.5 64:int8:0.5)
hydra="$build/hydra"
common=(--nodes 4 --epochs 3 --batch 64 --seed 1 --json --no-metrics)
run() { "$hydra" demo "${common[@]}" "$@" 2>/dev/null; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
base=$(run --mode sync)
[ -n "$base" ] || { echo "FAIL: the sync run failed"; exit 1; }
bb=$(field "$base" bytes_per_sample); ba=$(field "$base" test_accuracy)
printf "%-22s %14s %10s %10s %10s\n" setting bytes/sample reduction accuracy "vs sync"
printf "%-22s %14.0f %9.1fx %9.2f%% %+9.2f\n" "sync fp32" "$bb" 1 "$(/usr/bin/python3 -c "print(100*$ba)")" 0
for s in "${settings[@]}"; do
  IFS=: read -r h codec olr <<<"$s"
  extra=(--mode local --local-steps "$h" --compress "$codec")
  [ -n "${olr:-}" ] && extra+=(--outer-lr "$olr")
  r=$(run "${extra[@]}")
  if [ -z "$r" ]; then printf "%-22s FAILED\n" "$s"; continue; fi
  b=$(field "$r" bytes_per_sample); a=$(field "$r" test_accuracy)
  /usr/bin/python3 -c "print('%-22s %14.0f %9.1fx %9.2f%% %+9.2f' % ('H=$h $codec' + (' olr=$olr' if '$olr' else ''), $b, $bb / $b, 100 * $a, 100 * ($a - $ba)))"
done
