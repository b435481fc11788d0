#!/usr/bin/env bash
# Compare `hydra train` with the same training in PyTorch, and both with the
# machine's measured FMA peak.
#
#   bench/train_vs_torch.sh [--model mlp|cnn] [--threads T] [--epochs N]
#                           [--batch B] [--lr X] [--repeat R]
#   defaults: --model mlp --threads 2 --epochs 1 --batch 64 --lr 0.1 --repeat 1
#
# Runs, in this order: build/bench/hydra_fma_peak --threads T (once), then
# R times alternately bench/torch_train.py and build/hydra train. The figures
# reported are medians over the R runs. Prints a table, then one JSON line.
#
# torch runs with OMP_NUM_THREADS=T OMP_WAIT_POLICY=PASSIVE (passive waiting
# helps torch's many short parallel regions on few cores); hydra gets only
# --threads. Environment overrides: HYDRA (default build/hydra),
# FMA_PEAK (default build/bench/hydra_fma_peak), PYTHON (default
# /usr/bin/python3, the interpreter with Debian's torch), DATA (Fashion-MNIST
# folder, default /usr/share/datasets/fashion-mnist).
set -euo pipefail

die() { echo "train_vs_torch.sh: $*" >&2; exit 1; }
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

model=mlp threads=2 epochs=1 batch=64 lr=0.1 repeat=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model|--threads|--epochs|--batch|--lr|--repeat)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      declare "${1#--}=$2"; shift 2 ;;
    --model=*|--threads=*|--epochs=*|--batch=*|--lr=*|--repeat=*)
      opt="${1%%=*}"; declare "${opt#--}=${1#*=}"; shift ;;
    -h|--help) usage 0 ;;
    *) echo "train_vs_torch.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $model == mlp || $model == cnn ]] || die "--model must be mlp or cnn (got '$model')"
for v in threads epochs batch repeat; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$v must be a positive integer (got '${!v}')"
done
[[ $lr =~ ^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] || die "--lr must be a number like 0.1 or 1e-3 (got '$lr')"

# Work from the repository root, wherever we are called from.
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

HYDRA=${HYDRA:-build/hydra}
FMA_PEAK=${FMA_PEAK:-build/bench/hydra_fma_peak}
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
[[ -x $HYDRA ]] || die "$HYDRA not found or not executable; build it first (cmake --build build)"
[[ -x $FMA_PEAK ]] || die "$FMA_PEAK not found; build it first (cmake --build build --target hydra_fma_peak)"
[[ -x $PYTHON ]] || die "$PYTHON not found (it must be the interpreter with PyTorch)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# json_get JSON KEY -> value, or "null" when absent.
if command -v jq >/dev/null 2>&1; then
  json_get() { jq -r --arg k "$2" 'if has($k) and .[$k] != null then .[$k] else "null" end' <<<"$1"; }
else
  json_get() {
    "$PYTHON" -c 'import json,sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print("null" if v is None else v)' "$1" "$2"
  }
fi

# run_json NAME CMD... : runs CMD, returns the last JSON line of its stdout.
# On failure shows its stderr and stops the script.
run_json() {
  local name=$1; shift
  local out="$tmp/$name.out" err="$tmp/$name.err" line
  if ! "$@" >"$out" 2>"$err"; then
    echo "train_vs_torch.sh: $name failed: $*" >&2
    tail -n 30 "$err" >&2
    exit 1
  fi
  line=$(grep '^[[:space:]]*{' "$out" | tail -n 1 || true)
  if [[ -z $line ]]; then
    echo "train_vs_torch.sh: $name printed no JSON object: $*" >&2
    tail -n 30 "$out" "$err" >&2
    exit 1
  fi
  printf '%s\n' "$line"
}

# median of the arguments ("null" if any is null or there are none)
median() {
  printf '%s\n' "$@" | awk '
    $0 == "null" || $0 == "" { bad = 1 }
    { v[NR] = $0 + 0 }
    END {
      if (bad || NR == 0) { print "null"; exit }
      for (i = 2; i <= NR; i++) { x = v[i]; j = i - 1
        while (j > 0 && v[j] > x) { v[j + 1] = v[j]; j-- } v[j + 1] = x }
      if (NR % 2) printf "%.10g\n", v[(NR + 1) / 2]; else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

mean() {
  printf '%s\n' "$@" | awk '$0 == "null" { bad = 1 } { s += $0 }
    END { if (bad || NR == 0) print "null"; else printf "%.10g\n", s / NR }'
}

mul() { [[ $1 == null || $2 == null ]] && { echo null; return; }
        awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN { printf "%.6g\n", a * b * s }'; }
safe_div() { [[ $1 == null || $2 == null ]] && { echo null; return; }
             awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "null"; else printf "%.6g\n", a / b }'; }
pct() { [[ $1 == null ]] && { echo n/a; return; }; awk -v a="$1" 'BEGIN { printf "%.2f %%", a * 100 }'; }
fmt() { [[ $1 == null ]] && { echo n/a; return; }; awk -v a="$1" -v f="$2" 'BEGIN { printf f, a }'; }

log() { echo "$*" >&2; }

log "FMA peak, $threads thread(s)..."
fma_json=$(run_json fma_peak "$FMA_PEAK" --threads "$threads")
fma_peak=$(json_get "$fma_json" fma_peak_gflops)
fma512_peak=$(json_get "$fma_json" fma512_peak_gflops)

torch_sps=() torch_acc=() torch_loss=()
hydra_sps=() hydra_acc=() hydra_loss=() hydra_gflops=()
torch_version=null openblas_core=null hydra_fps=null
for ((i = 1; i <= repeat; i++)); do
  log "run $i/$repeat: torch..."
  j=$(run_json torch env OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=PASSIVE \
        "$PYTHON" bench/torch_train.py --model "$model" --epochs "$epochs" --batch "$batch" \
        --lr "$lr" --optimizer sgd --threads "$threads" --seed "$i" --data "$DATA")
  torch_sps+=("$(json_get "$j" train_samples_per_second)")
  torch_acc+=("$(json_get "$j" test_accuracy)")
  torch_loss+=("$(json_get "$j" final_loss)")
  torch_version=$(json_get "$j" torch_version)
  openblas_core=$(json_get "$j" openblas_core)
  log "  torch: ${torch_sps[-1]} samples/s, accuracy ${torch_acc[-1]}"

  log "run $i/$repeat: hydra..."
  j=$(run_json hydra "$HYDRA" train --model "$model" --epochs "$epochs" --batch "$batch" \
        --lr "$lr" --threads "$threads" --seed "$i" --json)
  hydra_sps+=("$(json_get "$j" train_samples_per_second)")
  hydra_acc+=("$(json_get "$j" test_accuracy)")
  hydra_loss+=("$(json_get "$j" final_loss)")
  hydra_gflops+=("$(json_get "$j" achieved_gflops)")
  hydra_fps=$(json_get "$j" flops_per_sample)
  log "  hydra: ${hydra_sps[-1]} samples/s, accuracy ${hydra_acc[-1]}"
done

t_sps=$(median "${torch_sps[@]}");  h_sps=$(median "${hydra_sps[@]}")
# Accuracy after a short run swings by a point or two from seed to seed (for
# both): run i uses seed i for both, and accuracies are means over the seeds.
t_acc=$(mean "${torch_acc[@]}");  h_acc=$(mean "${hydra_acc[@]}")
t_loss=$(median "${torch_loss[@]}"); h_loss=$(median "${hydra_loss[@]}")
h_gflops=$(median "${hydra_gflops[@]}")
ratio=$(safe_div "$h_sps" "$t_sps")
h_peak_frac=$(safe_div "$h_gflops" "$fma_peak")
h_peak512_frac=$(safe_div "$h_gflops" "$fma512_peak")
# torch's GFLOP/s, counted with hydra's FLOPs per sample (same model)
t_gflops=$(mul "$t_sps" "$hydra_fps" 1e-9)

sfx=""; [[ $repeat -gt 1 ]] && sfx=" (seeds 1..$repeat: median speed, mean accuracy)"
echo
echo "hydra train vs PyTorch $torch_version: $model, $epochs epoch(s), batch $batch, lr $lr, $threads thread(s)$sfx"
printf '  %-26s %14s %14s\n' "" hydra torch
printf '  %-26s %14s %14s\n' "train samples/s" "$(fmt "$h_sps" %.1f)" "$(fmt "$t_sps" %.1f)"
printf '  %-26s %14s %14s\n' "test accuracy" "$(pct "$h_acc")" "$(pct "$t_acc")"
printf '  %-26s %14s %14s\n' "final loss (last epoch)" "$(fmt "$h_loss" %.4f)" "$(fmt "$t_loss" %.4f)"
printf '  %-26s %14s %14s\n' "achieved GFLOP/s" "$(fmt "$h_gflops" %.1f)" "$(fmt "$t_gflops" %.1f)"
printf '  %-26s %14s\n' "ratio hydra/torch" "$(fmt "$ratio" %.3f)"
printf '  %-26s %14s   (measured AVX2 FMA peak %s GFLOP/s)\n' "hydra % of FMA peak" \
  "$(pct "$h_peak_frac")" "$(fmt "$fma_peak" %.1f)"
if [[ $fma512_peak != null ]]; then
  printf '  %-26s %14s   (measured AVX-512 FMA peak %s GFLOP/s)\n' "hydra % of AVX-512 peak" \
    "$(pct "$h_peak512_frac")" "$(fmt "$fma512_peak" %.1f)"
fi
[[ $openblas_core != null ]] && echo "  (torch's OpenBLAS kernels: $openblas_core)"
echo

pctnum() { [[ $1 == null ]] && { echo null; return; }; awk -v a="$1" 'BEGIN { printf "%.6g\n", a * 100 }'; }
jstr() { [[ $1 == null ]] && echo null || printf '"%s"' "$1"; }
printf '{"model":"%s","epochs":%s,"batch":%s,"lr":%s,"threads":%s,"repeat":%s,' \
  "$model" "$epochs" "$batch" "$lr" "$threads" "$repeat"
printf '"hydra_samples_per_second":%s,"torch_samples_per_second":%s,"ratio_hydra_torch":%s,' \
  "$h_sps" "$t_sps" "$ratio"
printf '"hydra_test_accuracy":%s,"torch_test_accuracy":%s,"hydra_final_loss":%s,"torch_final_loss":%s,' \
  "$h_acc" "$t_acc" "$h_loss" "$t_loss"
printf '"hydra_achieved_gflops":%s,"torch_achieved_gflops":%s,"fma_peak_gflops":%s,"hydra_pct_of_fma_peak":%s,' \
  "$h_gflops" "$t_gflops" "$fma_peak" "$(pctnum "$h_peak_frac")"
printf '"fma512_peak_gflops":%s,"hydra_pct_of_fma512_peak":%s,' "$fma512_peak" "$(pctnum "$h_peak512_frac")"
printf '"hydra_runs_samples_per_second":[%s],"torch_runs_samples_per_second":[%s],' \
  "$(IFS=,; echo "${hydra_sps[*]}")" "$(IFS=,; echo "${torch_sps[*]}")"
printf '"hydra_runs_test_accuracy":[%s],"torch_runs_test_accuracy":[%s],' \
  "$(IFS=,; echo "${hydra_acc[*]}")" "$(IFS=,; echo "${torch_acc[*]}")"
printf '"torch_version":%s,"openblas_core":%s}\n' "$(jstr "$torch_version")" "$(jstr "$openblas_core")"
