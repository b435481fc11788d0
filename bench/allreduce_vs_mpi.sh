#!/usr/bin/env bash
# All-reduce (float sum) timings, 4 KiB .. 64 MiB: Open MPI's MPI_Allreduce
# with 2 and 4 ranks over tcp on loopback and over shared memory (vader), and
# -- when it is built -- Hydra's p2p all-reduce beside it, with the ratio
# p2p / mpi-tcp per size. Prints a table, then every JSON line it collected.
#
#   bench/allreduce_vs_mpi.sh [--ranks "2 4"] [--max-bytes B]
#   defaults: --ranks "2 4" --max-bytes 67108864
#
# Each measurement is one JSON line:
#   {"impl":"mpi","btl":"tcp","ranks":2,"bytes":16777216,"median_ms":11.2,"gbps":12.0}
# median over >= 10 reps after warm-up, each rep timed on its slowest rank;
# gbps = bytes * 8 / median / 1e9 (algorithm bandwidth, Gbit/s).
# Environment overrides: BUILD (default build), MPI_BENCH (default
# $BUILD/bench/hydra_mpi_allreduce), P2P_BENCH (default
# $BUILD/bench/hydra_p2p_allreduce), PYTHON (default /usr/bin/python3).
# 4 ranks on a 2-core machine are oversubscribed: expect noise, compare medians.
set -euo pipefail

die() { echo "allreduce_vs_mpi.sh: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

ranks="2 4" max_bytes=$((64 << 20))
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) [[ $# -ge 2 ]] || die "$1 needs a value"; ranks="$2"; shift 2 ;;
    --max-bytes) [[ $# -ge 2 ]] || die "$1 needs a value"; max_bytes="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "allreduce_vs_mpi.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
for n in $ranks; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "--ranks must list positive integers (got '$ranks')"; done
[[ $max_bytes =~ ^[1-9][0-9]*$ ]] || die "--max-bytes must be a positive integer (got '$max_bytes')"

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
mpi_bench=${MPI_BENCH:-$build/bench/hydra_mpi_allreduce}
p2p_bench=${P2P_BENCH:-$build/bench/hydra_p2p_allreduce}
py=${PYTHON:-/usr/bin/python3}
[[ -x $mpi_bench ]] || die "$mpi_bench not built (cmake --build build --target hydra_mpi_allreduce)"
command -v mpirun >/dev/null || die "mpirun not found (apt-get install openmpi-bin)"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
mpirun_base=(mpirun --allow-run-as-root --oversubscribe --mca pml ob1)
declare -A btl_args=(
  # btl_tcp_links 2: Open MPI's best over loopback here (16 MiB, 2 ranks: 88.5 ms with 1 link, 74.5 with 2 or 4).
  [tcp]="--mca btl tcp,self --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo --mca btl_tcp_links 2"
  [vader]="--mca btl vader,self --mca oob_tcp_if_include lo"
)
for n in $ranks; do
  for btl in tcp vader; do
    echo "running mpi: $n ranks, $btl" >&2
    # shellcheck disable=SC2086  # btl_args holds several words on purpose
    timeout 600 "${mpirun_base[@]}" -np "$n" ${btl_args[$btl]} "$mpi_bench" "$btl" "$max_bytes" \
      | grep '^{' >>"$results" || die "mpi run ($n ranks, $btl) failed"
  done

  # ---- P2P HOOK ------------------------------------------------------------
  # Hydra's own all-reduce, when built. Contract: `hydra_p2p_allreduce
  # --ranks N --max-bytes B` starts its N ranks itself (loopback) and prints
  # the same JSON lines with "impl":"p2p" (btl: the transport, e.g. "tcp").
  if [[ -x $p2p_bench ]]; then
    echo "running p2p: $n ranks" >&2
    # A failed p2p run only loses its column: the MPI reference still prints.
    timeout 600 "$p2p_bench" --ranks "$n" --max-bytes "$max_bytes" | grep '^{' >>"$results" \
      || echo "allreduce_vs_mpi.sh: warning: p2p run ($n ranks) failed; its column stays empty" >&2
  fi
  # ---- end P2P HOOK --------------------------------------------------------
done

"$py" - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cell = {}
for r in rows:
    cell[(r["ranks"], r["bytes"], r["impl"] + "-" + r["btl"])] = r["median_ms"]
has_p2p = any(r["impl"] == "p2p" for r in rows)
p2p_col = next((r["impl"] + "-" + r["btl"] for r in rows if r["impl"] == "p2p"), None)
cols = ["mpi-tcp", "mpi-vader"] + ([p2p_col] if has_p2p else [])
def size(b):
    return f"{b >> 20} MiB" if b >= 1 << 20 else f"{b >> 10} KiB"
head = f"{'ranks':>5} {'size':>8} " + " ".join(f"{c + ' ms':>14}" for c in cols)
head += f" {'tcp Gbit/s':>10}" + (f" {'p2p bw/mpi':>12}" if has_p2p else "")
print(head)
for (n, b) in sorted({(k[0], k[1]) for k in cell}):
    vals = [cell.get((n, b, c)) for c in cols]
    line = f"{n:>5} {size(b):>8} " + " ".join(f"{v:>14.3f}" if v is not None else f"{'-':>14}" for v in vals)
    tcp = cell.get((n, b, "mpi-tcp"))
    line += f" {b * 8 / (tcp * 1e-3) / 1e9:>10.2f}" if tcp else f" {'-':>10}"
    if has_p2p:
        p = cell.get((n, b, p2p_col))
        # bandwidth ratio p2p / mpi-over-tcp (> 1: p2p is faster)
        line += f" {tcp / p:>12.2f}" if p and tcp else f" {'-':>12}"
    print(line)
EOF
echo
cat "$results"
