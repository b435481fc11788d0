#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a build of their own, beside the
# GCC one) and runs each in turn, one at a time, under nice. Fails when a
# target crashes, leaks, times out or fails to build. See fuzz/README.md.
#
#   fuzz/run.sh --short               ~8 s or 100k runs per target (the CI test fuzz.short)
#   fuzz/run.sh --long                10M runs per target (no time limit)
#   fuzz/run.sh --time S --runs N     custom limits
#   options: --build DIR (default build/fuzz-build), --only a,b  (targets),
#            --seeds (regenerate fuzz/corpus/ with make_seeds first),
#            --build-only, -- ARGS (passed to every target)
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$src/build/fuzz-build"
max_time=15
runs=200000
only=""
seeds=0
build_only=0
extra=()

while [ $# -gt 0 ]; do
  case "$1" in
    --short) max_time=8; runs=100000 ;;
    --long) max_time=0; runs=10000000 ;;
    --time) max_time="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --build) build="$2"; shift ;;
    --only) only="$2"; shift ;;
    --seeds) seeds=1 ;;
    --build-only) build_only=1 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

CC="${FUZZ_CC:-clang-14}"
CXX="${FUZZ_CXX:-clang++-14}"
command -v "$CXX" >/dev/null || { echo "fuzz/run.sh: $CXX not found (deploy/install-deps.sh installs clang-14)" >&2; exit 1; }
jobs="${FUZZ_BUILD_JOBS:-2}"

start=$(date +%s)
# Debug: no -DNDEBUG; the fuzz targets add their own -O1 -g and sanitizers.
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_BUILD_TYPE=Debug -DHYDRA_FUZZ=ON >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
nice -n 10 cmake --build "$build" --target hydra_fuzz -j "$jobs" >"$build.build.log" 2>&1 ||
  { tail -50 "$build.build.log"; exit 1; }
echo "fuzz: built in $(( $(date +%s) - start )) s ($build)"

bin="$build/fuzz"
if [ "$seeds" = 1 ]; then "$bin/hydra_fuzz_make_seeds" "$src/fuzz/corpus"; fi
[ "$build_only" = 1 ] && exit 0

targets=$(sed -n 's/^ *hydra_fuzz_target(\([a-z_]*\).*/\1/p' "$src/fuzz/CMakeLists.txt")
if [ -n "$only" ]; then targets=$(echo "$only" | tr ',' ' '); fi

work="$build/fuzz-work"
mkdir -p "$work"
failed=()
printf '%-18s %10s %8s %8s %8s %6s  %s\n' target execs exec/s cov ft secs result
for t in $targets; do
  [ -x "$bin/$t" ] || { echo "fuzz: $t not built (trust sources missing?), skipped"; continue; }
  mkdir -p "$work/$t" "$src/fuzz/corpus/$t"
  log="$work/$t.log"
  t0=$(date +%s)
  rc=0
  # New inputs go to the work folder (first); the committed seeds are only read.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
    nice -n 10 "$bin/$t" -runs="$runs" -max_total_time="$max_time" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/$t-" "${extra[@]}" \
    "$work/$t" "$src/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  result=ok
  if [ "$rc" != 0 ]; then
    result="FAILED (rc $rc): $(grep -m1 -E 'ERROR|SUMMARY|runtime error|deadly signal' "$log" || echo see log)"
    failed+=("$t")
  fi
  printf '%-18s %10s %8s %8s %8s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$secs" "$result"
done

echo "fuzz: total $(( $(date +%s) - start )) s; logs and crash inputs in $work"
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do echo "---- $t ----"; tail -40 "$work/$t.log"; done
  exit 1
fi
