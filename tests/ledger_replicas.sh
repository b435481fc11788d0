#!/usr/bin/env bash
# Ledger replication across 3 real node processes (loopback):
# - entries are appended through `hydra ctl ledger append` to nodes 0 and 2
#   by two concurrent writers; node 2 is kill -9'd while they run, then
#   restarted from its state dir;
# - afterwards every acknowledged entry (the append call returned ok) is on
#   all 3 replicas, all replicas report identical balances and heads, and
#   `hydra ledger verify` passes on each;
# - a byte flipped inside a stored entry makes `ledger verify` fail and name
#   the entry.
# Usage: ledger_replicas.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

start() {  # start I [JOIN]
  local dir="$tmp/n$1"
  mkdir -p "$dir"
  rm -f "$dir/address"
  admit "$dir"
  "$hydra" node --listen 127.0.0.1:0 --state "$dir" ${2:+--join "$2"} >>"$dir/node.log" 2>&1 &
  pids[$1]=$!
  for _ in $(seq 1 200); do [ -s "$dir/address" ] && break; sleep 0.05; done
  addr[$1]=$(cat "$dir/address")
}
start 0
start 1 "${addr[0]}"
start 2 "${addr[1]}"
# Wait until everyone sees everyone.
for _ in $(seq 1 100); do
  n=$("$hydra" ctl --connect "${addr[0]}" peers --json | $py -c "import json,sys; print(sum(p['state']=='alive' for p in json.load(sys.stdin)['peers']))")
  [ "$n" = 3 ] && break
  sleep 0.1
done
check "3 nodes see each other" test "$n" = 3

# writer NODE COUNT TAG: sequential appends; acknowledged hashes to acked-TAG.
writer() {
  local node=$1 count=$2 tag=$3 i out
  for i in $(seq 1 "$count"); do
    out=$("$hydra" ctl --connect "${addr[$node]}" --timeout 15 ledger append compute_credit "acct-$((i % 5))" "$i" \
          "{\"writer\":\"$tag\",\"i\":$i}" 2>/dev/null) || continue
    echo "$out" | $py -c "import json,sys; j=json.load(sys.stdin); assert j['acknowledged']; print(j['hash'])" \
      >>"$tmp/acked-$tag" 2>/dev/null
  done
}
writer 0 40 a &
wa=$!
writer 2 200 b &
wb=$!
# Kill node 2 while the writers run, once some appends to it were acknowledged
# (at most 30 s: these machines are shared and slow at times).
for _ in $(seq 1 300); do [ "$(wc -l <"$tmp/acked-b" 2>/dev/null || echo 0)" -ge 5 ] && break; sleep 0.1; done
kill -9 "${pids[2]}"
wait "$wb" 2>/dev/null
echo "killed node 2 after $(wc -l <"$tmp/acked-b" 2>/dev/null || echo 0) acknowledged appends to it"
sleep 1
start 2 "${addr[0]}"
writer 2 10 c
wait "$wa"
echo "acknowledged: $(cat "$tmp"/acked-* | wc -l) entries"
check "some appends to node 2 were acknowledged before the kill" test -s "$tmp/acked-b"

# Converge: identical heads on all three.
same=0
for _ in $(seq 1 100); do
  h0=$("$hydra" ctl --connect "${addr[0]}" ledger summary | $py -c "import json,sys; print(json.load(sys.stdin)['heads'])")
  h1=$("$hydra" ctl --connect "${addr[1]}" ledger summary | $py -c "import json,sys; print(json.load(sys.stdin)['heads'])")
  h2=$("$hydra" ctl --connect "${addr[2]}" ledger summary | $py -c "import json,sys; print(json.load(sys.stdin)['heads'])")
  if [ "$h0" = "$h1" ] && [ "$h1" = "$h2" ]; then same=1; break; fi
  sleep 0.2
done
check "replicas converge to identical heads" test "$same" = 1
for i in 0 1 2; do kill "${pids[$i]}"; done
wait 2>/dev/null

missing=0
for i in 0 1 2; do
  for h in $(cat "$tmp"/acked-*); do
    "$hydra" ledger show "$h" --state "$tmp/n$i" >/dev/null 2>&1 || { missing=$((missing + 1)); echo "replica $i lacks $h"; }
  done
done
check "every acknowledged entry is on all 3 replicas" test "$missing" = 0
b0=$("$hydra" ledger balances --json --state "$tmp/n0")
b1=$("$hydra" ledger balances --json --state "$tmp/n1")
b2=$("$hydra" ledger balances --json --state "$tmp/n2")
check "identical balances on all replicas" test "$b0" = "$b1" -a "$b1" = "$b2"
check "balances are not empty" test "$(echo "$b0" | $py -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 5
for i in 0 1 2; do
  check "ledger verify replica $i" "$hydra" ledger verify --state "$tmp/n$i"
done

check_flip_names "$tmp/n0/ledger.log" 7 60
finish
