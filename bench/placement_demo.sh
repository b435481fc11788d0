#!/usr/bin/env bash
# Job sizing on a heterogeneous cluster, measured: 4 local nodes with
# duty-cycle caps (default 100,100,50,25) train the same job under each
# policy; prints mean round seconds, the ideal (global batch / summed
# measured speed + measured all-reduce time), speed-up over uniform, and
# accuracy (must not change: same global batch).
#   bench/placement_demo.sh [--model cnn|mlp] [--limits 100,100,50,25] [--samples N]
set -euo pipefail
cd "$(dirname "$0")/.."
model=cnn limits=100,100,50,25 samples=3200
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --limits) limits=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    *) echo "usage: $0 [--model cnn|mlp] [--limits L1,L2,...] [--samples N]" >&2; exit 2 ;;
  esac
done
[[ -x build/hydra ]] || { echo "build/hydra is missing: build first" >&2; exit 1; }
nodes=$(awk -F, '{print NF}' <<<"$limits")
results=()
for policy in uniform model adaptive; do
  echo "running $policy ..." >&2
  results+=("$(build/hydra demo --nodes "$nodes" --model "$model" --cpu-limit "$limits" --policy "$policy" \
                 --limit "$samples" --json 2>/dev/null)")
done
/usr/bin/python3 - "$model" "$limits" "${results[@]}" <<'PY'
import json, sys
model, limits, rows = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
base = rows[0]["mean_round_seconds"]
print(f"{model}, {len(limits.split(','))} nodes at cpu-limit {limits}")
print(f"{'policy':<10}{'round ms':>10}{'ideal ms':>10}{'vs ideal':>10}{'vs uniform':>12}{'accuracy':>10}")
for r in rows:
    m, i = r["mean_round_seconds"], r["ideal_round_seconds"]
    print(f"{r['policy']:<10}{m*1e3:>10.1f}{i*1e3:>10.1f}{m/i:>10.2f}{base/m:>11.2f}x{100*r['test_accuracy']:>9.2f}%")
print(json.dumps({r["policy"]: {"mean_round_seconds": r["mean_round_seconds"],
                                "ideal_round_seconds": r["ideal_round_seconds"],
                                "test_accuracy": r["test_accuracy"]} for r in rows}))
PY
