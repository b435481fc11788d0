#!/usr/bin/env bash
# The trust boundary's price on the data plane: a 16 MiB float all-reduce
# with 2 ranks on loopback, three ways in one run --
#   p2p encrypted   Hydra's ring over comm::tcp_link (AES-256-GCM channel, the default)
#   p2p plaintext   the same ring in the benchmark-only plaintext mode
#   mpi tcp         Open MPI's MPI_Allreduce over the tcp btl on lo
# -- medians of >= 10 reps each, plus the handshake's cost, then the ratios
# (bandwidth; > 1 = faster). Goal: encrypted >= 0.6x plaintext.
#
#   bench/secure_allreduce.sh [--bytes B] [--reps R]
#   defaults: --bytes 16777216 --reps 20
#
# Environment overrides: BUILD (default build), SECURE_BENCH (default
# $BUILD/bench/hydra_secure_allreduce), MPI_BENCH (default
# $BUILD/bench/hydra_mpi_allreduce), MPI_LINKS (default 2: btl_tcp_links,
# Open MPI's best here), PYTHON (default /usr/bin/python3).
# On a shared 2-core machine the figures move with the load: compare the
# ratios of one run, not absolute times across runs.
set -euo pipefail

die() { echo "secure_allreduce.sh: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

bytes=$((16 << 20)) reps=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bytes) [[ $# -ge 2 ]] || die "$1 needs a value"; bytes="$2"; shift 2 ;;
    --reps) [[ $# -ge 2 ]] || die "$1 needs a value"; reps="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "secure_allreduce.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $bytes =~ ^[1-9][0-9]*$ ]] || die "--bytes must be a positive integer (got '$bytes')"
[[ $reps =~ ^[1-9][0-9]*$ ]] && (( reps >= 10 )) || die "--reps must be an integer >= 10 (got '$reps')"

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
secure_bench=${SECURE_BENCH:-$build/bench/hydra_secure_allreduce}
mpi_bench=${MPI_BENCH:-$build/bench/hydra_mpi_allreduce}
# Open MPI's best on loopback here: 2 TCP links per peer (1 link 88.5 ms, 2: 74.5, 4: 74.5 at 16 MiB).
mpi_links=${MPI_LINKS:-2}
py=${PYTHON:-/usr/bin/python3}
[[ -x $secure_bench ]] || die "$secure_bench not built (cmake --build build --target hydra_secure_allreduce)"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "running p2p encrypted + plaintext: 2 ranks, $bytes bytes, $reps reps" >&2
timeout 600 "$secure_bench" --bytes "$bytes" --reps "$reps" | grep '^{' >>"$results" || die "p2p run failed"

if [[ -x $mpi_bench ]] && command -v mpirun >/dev/null; then
  echo "running mpi: 2 ranks, tcp, btl_tcp_links $mpi_links" >&2
  # The flags of bench/allreduce_vs_mpi.sh; MPI prints every size up to $bytes, the table keeps $bytes.
  timeout 600 mpirun --allow-run-as-root --oversubscribe --mca pml ob1 -np 2 \
    --mca btl tcp,self --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo --mca btl_tcp_links "$mpi_links" \
    "$mpi_bench" tcp "$bytes" | grep '^{' >>"$results" \
    || die "mpi run failed (see its error above)"
else
  echo "secure_allreduce.sh: warning: $mpi_bench or mpirun missing; no MPI row" >&2
fi

"$py" - "$results" "$bytes" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
size = int(sys.argv[2])
ms = {}
for r in rows:
    if r["impl"] == "p2p" and r["bytes"] == size:
        ms["p2p " + r["mode"]] = r["median_ms"]
    elif r["impl"] == "mpi" and r["bytes"] == size and r["ranks"] == 2:
        ms["mpi tcp"] = r["median_ms"]
label = f"2 ranks, {size / (1 << 20):g} MiB"
print(f"{label:<22} {'median ms':>10} {'Gbit/s':>8}")
for k in ("p2p encrypted", "p2p plaintext", "mpi tcp"):
    if k in ms:
        print(f"{k:<22} {ms[k]:>10.2f} {size * 8 / (ms[k] * 1e-3) / 1e9:>8.2f}")
def ratio(a, b):
    return f"{ms[b] / ms[a]:.2f}x" if a in ms and b in ms else "-"
print()
print(f"encrypted / plaintext  {ratio('p2p encrypted', 'p2p plaintext')}   (goal >= 0.6x)")
print(f"encrypted / mpi tcp    {ratio('p2p encrypted', 'mpi tcp')}")
print(f"plaintext / mpi tcp    {ratio('p2p plaintext', 'mpi tcp')}")
for r in rows:
    if r["impl"] == "handshake":
        print(f"handshake ({r['where']}): median {r['median_us']:.0f} us over {r['reps']} reps")
PY
echo
cat "$results"
