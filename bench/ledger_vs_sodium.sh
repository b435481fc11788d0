#!/usr/bin/env bash
# Ledger throughput against raw libsodium, on one core.
#
#   bench/ledger_vs_sodium.sh        (from the repo root, build in ./build)
#
# Runs build/bench/hydra_ledger_bench pinned with `taskset -c $CPU`, then
# prints: libsodium crypto_sign_verify_detached/s on a typical entry's signed
# bytes (and over the whole entry stream), ledger_state::append/s (verify + chain + fold, 8 authors),
# the same with an authority (role rules, admissions' certificates verified),
# ledger_log::append/s with fsync, verify_file entries/s over a 10k-entry
# file, and each as a ratio to the raw verify rate. Figures are medians over
# REPS repetitions (randomly interleaved); the CPU-bound rates are per CPU
# second, the fsync rate per wall-clock second. Ends with one JSON line.
# Takes about a minute on an idle core (longer on a shared one).
#
# Environment: BUILD (default build), CPU (core to pin to, default 0),
# MIN_TIME (seconds per benchmark, default 1; libbenchmark 1.7 takes a plain
# number, not "1s"), REPS (default 3), LOG_DIR (where the fsync'd log file
# goes, default $BUILD: a real disk, unlike a tmpfs /tmp), PYTHON (default
# /usr/bin/python3; used when jq is absent).
set -euo pipefail

die() { echo "ledger_vs_sodium.sh: $*" >&2; exit 1; }
case "${1:-}" in
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) die "no arguments expected (got '$1'); see --help" ;;
esac

BUILD=${BUILD:-build}
CPU=${CPU:-0}
MIN_TIME=${MIN_TIME:-1}
REPS=${REPS:-3}
LOG_DIR=${LOG_DIR:-$BUILD}
PYTHON=${PYTHON:-/usr/bin/python3}
BENCH="$BUILD/bench/hydra_ledger_bench"

[[ -x $BENCH ]] || die "$BENCH not found; build it: cmake --build $BUILD --target hydra_ledger_bench -j2"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
[[ $CPU =~ ^[0-9]+$ ]] || die "CPU must be a core number (got '$CPU')"
[[ $MIN_TIME =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MIN_TIME must be a number of seconds (got '$MIN_TIME')"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer (got '$REPS')"
[[ -d $LOG_DIR && -w $LOG_DIR ]] || die "LOG_DIR '$LOG_DIR' is not a writable directory"
if command -v jq >/dev/null; then parser=jq
elif [[ -x $PYTHON ]]; then parser=python
else die "need jq or python3 to read the benchmark JSON"; fi

json=$(mktemp "${TMPDIR:-/tmp}/ledger_bench.XXXXXX.json")
trap 'rm -f "$json"' EXIT

aggr=()
# Repetitions of the benchmarks are interleaved in random order, so a change in
# the machine's load (other processes on the core) hits all of them alike.
[[ $REPS -gt 1 ]] && aggr=(--benchmark_repetitions="$REPS" --benchmark_enable_random_interleaving=true
                           --benchmark_report_aggregates_only=true)
HYDRA_BENCH_DIR="$LOG_DIR" taskset -c "$CPU" "$BENCH" \
  --benchmark_min_time="$MIN_TIME" "${aggr[@]}" \
  --benchmark_out="$json" --benchmark_out_format=json

# field BENCHMARK COUNTER: the median (or the single run's) value.
field() {
  local v
  if [[ $parser == jq ]]; then
    v=$(jq -r --arg n "$1" --arg f "$2" --argjson reps "$REPS" '
      [.benchmarks[] | select((.run_name == $n or (.run_name | startswith($n + "/")))
         and (if $reps > 1 then .aggregate_name == "median" else .run_type == "iteration" end))
       | .[$f]][0] // empty' "$json")
  else
    v=$("$PYTHON" -c '
import json, sys
n, f, reps, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for b in json.load(open(path))["benchmarks"]:
    r = b["run_name"]
    if (r == n or r.startswith(n + "/")) and (b.get("aggregate_name") == "median" if reps > 1
                                        else b.get("run_type") == "iteration"):
        if f in b: print(b[f])
        break' "$1" "$2" "$REPS" "$json")
  fi
  [[ -n $v && $v != null ]] || die "no $2 for $1 in the benchmark output"
  echo "$v"
}

verify=$(field BM_sodium_verify verifies_per_s)
vstream=$(field BM_sodium_verify_stream verifies_per_s)
bytes=$(field BM_sodium_verify bytes)
append=$(field BM_state_append entries_per_s)
append_auth=$(field BM_state_append_authority entries_per_s)
logapp=$(field BM_log_append_fsync entries_per_s)
vfile=$(field BM_verify_file entries_per_s)
fstype=$(df -PT "$LOG_DIR" 2>/dev/null | awk 'NR == 2 { print $2 }')
fstype=${fstype:-unknown}

awk -v v="$verify" -v vs="$vstream" -v b="$bytes" -v a="$append" -v aa="$append_auth" -v l="$logapp" -v f="$vfile" \
    -v cpu="$CPU" -v mt="$MIN_TIME" -v reps="$REPS" -v dir="$LOG_DIR" -v fs="$fstype" '
BEGIN {
  printf "\nledger vs libsodium (core %s, min_time %s s, median of %s)\n", cpu, mt, reps
  printf "  %-52s %12.0f /s\n", sprintf("libsodium crypto_sign_verify_detached (%d B)", b), v
  printf "  %-52s %12.0f /s\n", "  same, over the 10k-entry stream (8 keys)", vs
  printf "  %-52s %12.0f /s\n", "ledger_state::append (verify+chain+fold, 8 authors)", a
  printf "  %-52s %12.0f /s\n", "  same, with an authority (role rules, cert checks)", aa
  printf "  %-52s %12.0f /s\n", sprintf("ledger_log::append + fsync (%s, %s)", dir, fs), l
  printf "  %-52s %12.0f entries/s\n", "verify_file (10k-entry file)", f
  printf "ratio state append / verify:  %.3f  (/ stream verify: %.3f)\n", a / v, a / vs
  printf "ratio authority append / verify:  %.3f  (/ stream verify: %.3f)\n", aa / v, aa / vs
  printf "ratio log append / verify:    %.3f\n", l / v
  printf "ratio verify_file / verify:   %.3f\n", f / v
  printf "{\"verify_per_s\":%.1f,\"stream_verify_per_s\":%.1f,\"signed_bytes\":%d,\"state_append_per_s\":%.1f,\"state_append_authority_per_s\":%.1f,\"log_append_fsync_per_s\":%.1f,\"verify_file_entries_per_s\":%.1f,\"append_over_verify\":%.4f,\"authority_append_over_verify\":%.4f,\"log_append_over_verify\":%.4f,\"verify_file_over_verify\":%.4f,\"log_fs\":\"%s\"}\n", v, vs, b, a, aa, l, f, a / v, aa / v, l / v, f / v, fs
}'
