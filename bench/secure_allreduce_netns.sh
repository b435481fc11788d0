#!/usr/bin/env bash
# The trust boundary's price over a 1 Gbit/s link: the 16 MiB 2-rank
# all-reduce of bench/secure_allreduce.sh, but with one rank process in each
# of two network namespaces joined by a veth pair (10.77.0.1/24 and
# 10.77.0.2/24) shaped on both ends by `tbf rate 1gbit burst 256kb latency
# 50ms`. Per run: p2p encrypted and plaintext (hydra_secure_allreduce
# --rank, reps interleaved, medians). Prints each run's medians and ratio,
# then the median over runs. Goal: encrypted >= 0.95x plaintext on the
# shaped link.
# Then Open MPI's MPI_Allreduce over the tcp btl on the same link: mpirun
# runs in namespace a and starts one orted in each namespace through an rsh
# agent that is `ip netns exec NS` (plm_rsh_agent; the "hosts" are the
# namespace names, each with its own TMPDIR so the two orteds, which share
# a hostname, keep separate session folders). Its best configuration on this
# link was btl_tcp_links 4 (measured: 1 link 304 ms, 2: 192, 3: 185, 4: 188,
# 8 hangs; the allreduce algorithm, socket buffers and eager limits changed
# < 5%); MPI_LINKS overrides it.
#
#   bench/secure_allreduce_netns.sh [--bytes B] [--reps R] [--runs N] [--rate RATE]
#   defaults: --bytes 16777216 --reps 20 --runs 3 --rate 1gbit
#
# Needs root and iproute2 (ip netns, tc). The namespaces (hysec-PID-a/b) are
# removed on exit, also on failure or Ctrl-C. Environment: BUILD (default
# build), SECURE_BENCH (default $BUILD/bench/hydra_secure_allreduce, must
# have --rank), MPI_BENCH (default $BUILD/bench/hydra_mpi_allreduce; no MPI
# row when it or mpirun is missing), MPI_LINKS (default 4), PYTHON (default
# /usr/bin/python3).
set -euo pipefail

die() { echo "secure_allreduce_netns.sh: $*" >&2; exit 1; }
usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

bytes=$((16 << 20)) reps=20 runs=3 rate=1gbit
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bytes) [[ $# -ge 2 ]] || die "$1 needs a value"; bytes="$2"; shift 2 ;;
    --reps) [[ $# -ge 2 ]] || die "$1 needs a value"; reps="$2"; shift 2 ;;
    --runs) [[ $# -ge 2 ]] || die "$1 needs a value"; runs="$2"; shift 2 ;;
    --rate) [[ $# -ge 2 ]] || die "$1 needs a value"; rate="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "secure_allreduce_netns.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $bytes =~ ^[1-9][0-9]*$ ]] || die "--bytes must be a positive integer (got '$bytes')"
[[ $reps =~ ^[1-9][0-9]*$ ]] && (( reps >= 10 )) || die "--reps must be an integer >= 10 (got '$reps')"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer (got '$runs')"
[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
command -v ip >/dev/null && command -v tc >/dev/null || die "needs iproute2 (ip, tc)"

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
secure_bench=${SECURE_BENCH:-$build/bench/hydra_secure_allreduce}
py=${PYTHON:-/usr/bin/python3}
mpi_bench=${MPI_BENCH:-$build/bench/hydra_mpi_allreduce}
mpi_links=${MPI_LINKS:-4}
[[ -x $secure_bench ]] || die "$secure_bench not built (cmake --build build --target hydra_secure_allreduce)"

ns_a="hysec-$$-a" ns_b="hysec-$$-b" veth_a="hysec$$a" veth_b="hysec$$b"
ip_a=10.77.0.1 ip_b=10.77.0.2 port=7600
work=$(mktemp -d)
cleanup() {
  local rc=$?
  jobs -p | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true  # deleting a namespace deletes its veth end, and so the pair
  ip link del "$veth_a" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$veth_a" type veth peer name "$veth_b"
ip link set "$veth_a" netns "$ns_a"
ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev "$veth_a"
ip -n "$ns_b" addr add "$ip_b/24" dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up
ip netns exec "$ns_a" tc qdisc add dev "$veth_a" root tbf rate "$rate" burst 256kb latency 50ms
ip netns exec "$ns_b" tc qdisc add dev "$veth_b" root tbf rate "$rate" burst 256kb latency 50ms
ip -n "$ns_a" route get "$ip_b" | grep -q "dev $veth_a" || die "no route $ip_a -> $ip_b over the veth"
echo "link: $ns_a/$veth_a $ip_a <-> $ns_b/$veth_b $ip_b, tbf rate $rate burst 256kb latency 50ms on both ends" >&2

results="$work/results"
agent=""
if [[ -x $mpi_bench ]] && command -v mpirun >/dev/null; then
  # Open MPI's rsh agent is called as "AGENT HOST COMMAND...": HOST is a namespace here.
  agent="$work/netns-rsh"
  cat >"$agent" <<EOF
#!/bin/sh
ns="\$1"; shift
mkdir -p "$work/tmp-\$ns"
export TMPDIR="$work/tmp-\$ns"
exec ip netns exec "\$ns" /bin/sh -c "\$*"
EOF
  chmod +x "$agent"
else
  echo "secure_allreduce_netns.sh: warning: $mpi_bench or mpirun missing; no MPI row" >&2
fi
for run in $(seq 1 "$runs"); do
  seed=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  echo "run $run/$runs: p2p encrypted + plaintext, $bytes bytes, $reps reps" >&2
  ip netns exec "$ns_b" timeout 600 "$secure_bench" --rank 1 --listen "$ip_b:$port" --peer "$ip_a:$port" \
    --seed "$seed" --bytes "$bytes" --reps "$reps" >"$work/rank1.out" 2>&1 &
  r1=$!
  if ! ip netns exec "$ns_a" timeout 600 "$secure_bench" --rank 0 --listen "$ip_a:$port" --peer "$ip_b:$port" \
      --seed "$seed" --bytes "$bytes" --reps "$reps" 2>"$work/rank0.err" | grep '^{' | sed "s/^{/{\"run\":$run,/" >>"$results"; then
    cat "$work/rank0.err" "$work/rank1.out" >&2
    die "p2p run $run failed"
  fi
  wait "$r1" || { cat "$work/rank1.out" >&2; die "p2p rank 1 of run $run failed"; }
  if [[ -n $agent ]]; then
    echo "run $run/$runs: mpi tcp, btl_tcp_links $mpi_links" >&2
    # MPI prints every size up to $bytes; the table keeps $bytes.
    if ! (cd "$work" && ip netns exec "$ns_a" timeout 300 mpirun --allow-run-as-root --oversubscribe \
          --mca plm_rsh_agent "$agent" -H "$ns_a:1,$ns_b:1" -np 2 --mca pml ob1 --mca btl tcp,self \
          --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
          --mca btl_tcp_links "$mpi_links" "$mpi_bench" tcp "$bytes" 2>"$work/mpi.err") |
        grep '^{' | sed "s/^{/{\"run\":$run,/" >>"$results"; then
      tail -5 "$work/mpi.err" >&2
      die "mpi run $run failed (its error is above)"
    fi
  fi
done
echo "tbf on $veth_a after the runs:" >&2
ip netns exec "$ns_a" tc -s qdisc show dev "$veth_a" | sed 's/^/  /' >&2

"$py" - "$results" "$bytes" "$rate" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
size, rate = int(sys.argv[2]), sys.argv[3]
runs = sorted({r["run"] for r in rows})
ms = {}
for r in rows:
    if r["bytes"] != size:
        continue
    key = "p2p " + r["mode"] if r["impl"] == "p2p" else "mpi tcp" if r["impl"] == "mpi" else None
    if key:
        ms.setdefault(key, {})[r["run"]] = r["median_ms"]
keys = [k for k in ("p2p encrypted", "p2p plaintext", "mpi tcp") if k in ms]
floor = size * 8 / 1e9 * 1e3  # ms: each of 2 ranks sends `size` bytes per all-reduce
print(f"2 ranks, {size / (1 << 20):g} MiB, veth + tbf {rate}; wire floor at 1 Gbit/s: {floor:.1f} ms")
print(f"{'run':<5}" + "".join(f"{k:>16}" for k in keys) + f"{'enc/plain':>11}" + (f"{'enc/mpi':>9}" if "mpi tcp" in ms else ""))
for run in runs:
    line = f"{run:<5}" + "".join(f"{ms[k][run]:>13.1f} ms" if run in ms[k] else f"{'-':>16}" for k in keys)
    e, p, m = (ms.get(k, {}).get(run) for k in ("p2p encrypted", "p2p plaintext", "mpi tcp"))
    line += f"{p / e:>10.3f}x" if e and p else f"{'-':>11}"
    if "mpi tcp" in ms:
        line += f"{m / e:>8.3f}x" if e and m else f"{'-':>9}"
    print(line)
med = {k: statistics.median(ms[k].values()) for k in keys}
print(f"{'median':<5}" + "".join(f"{med[k]:>13.1f} ms" for k in keys))
print(f"{'Gbit/s':<5}" + "".join(f"{size * 8 / (med[k] * 1e-3) / 1e9:>16.3f}" for k in keys))
print()
if "p2p encrypted" in med and "p2p plaintext" in med:
    per_run = [ms["p2p plaintext"][r] / ms["p2p encrypted"][r] for r in runs
               if r in ms["p2p plaintext"] and r in ms["p2p encrypted"]]
    print(f"encrypted / plaintext  {statistics.median(per_run):.3f}x (median of {len(per_run)} runs' ratios; "
          f"range {min(per_run):.3f}-{max(per_run):.3f})   (goal >= 0.95x)")
if "mpi tcp" in med:
    print(f"encrypted / mpi tcp    {med['mpi tcp'] / med['p2p encrypted']:.3f}x")
    print(f"plaintext / mpi tcp    {med['mpi tcp'] / med['p2p plaintext']:.3f}x")
PY
echo
cat "$results"
