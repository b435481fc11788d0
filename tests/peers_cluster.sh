#!/usr/bin/env bash
# Multi-process membership test: 8 node processes on loopback, node i joined
# through node i-1 (each through a different peer). All must list all 8 alive
# within 10 s; after kill -9 of one, all others must mark it dead within
# 10 s; restarted with its state dir (no --join: it uses its snapshot), it
# must come back with the same id and be seen alive by all.
# Usage: peers_cluster.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
N=8
VICTIM=3
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
py=/usr/bin/python3
# The test's cluster: one operator admits every node; ctl asks as it.
"$hydra" operator init --dir "$tmp/op" --name test >/dev/null
export HYDRA_AS="$tmp/op"

fail() { echo "FAIL: $*"; for i in $(seq 0 $((N - 1))); do echo "--- node-$i log (tail)"; tail -n 15 "$tmp/node-$i/node.log" 2>/dev/null; done; exit 1; }
now() { date +%s.%N; }
elapsed() { $py -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$(now)"; }

start_node() {  # start_node I [JOIN]
  local i=$1 join=${2:-}
  mkdir -p "$tmp/node-$i"
  rm -f "$tmp/node-$i/address"
  [ -f "$tmp/node-$i/membership.cert" ] || "$hydra" operator admit --dir "$tmp/op" --node "$tmp/node-$i" >/dev/null
  if [ -n "$join" ]; then
    "$hydra" node --listen 127.0.0.1:0 --state "$tmp/node-$i" --join "$join" >>"$tmp/node-$i/node.log" 2>&1 &
  else
    "$hydra" node --listen 127.0.0.1:0 --state "$tmp/node-$i" >>"$tmp/node-$i/node.log" 2>&1 &
  fi
  pids[$i]=$!
  for _ in $(seq 1 300); do
    [ -s "$tmp/node-$i/address" ] && { addr[$i]=$(cat "$tmp/node-$i/address"); return 0; }
    sleep 0.05
  done
  fail "node $i did not start"
}

# view I -> JSON of node I's peers
view() { "$hydra" ctl --connect "${addr[$1]}" --timeout 2 peers --json 2>/dev/null; }
# count_state I ID STATE -> 1 if node I sees ID in STATE
sees() {
  view "$1" | $py -c "
import json, sys
v = json.load(sys.stdin)
print(int(any(p['id'] == sys.argv[1] and p['state'] == sys.argv[2] for p in v['peers'])))" "$2" "$3" 2>/dev/null || echo 0
}
alive_count() { view "$1" | $py -c "import json,sys; print(sum(p['state']=='alive' for p in json.load(sys.stdin)['peers']))" 2>/dev/null || echo 0; }
self_id() { view "$1" | $py -c "import json,sys; print([p['id'] for p in json.load(sys.stdin)['peers'] if p['self']][0])"; }

declare -a addr
start_node 0
for i in $(seq 1 $((N - 1))); do start_node "$i" "${addr[$((i - 1))]}"; done
t0=$(now)
converged=0
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt 10 ]; do
  ok=0
  for i in $(seq 0 $((N - 1))); do [ "$(alive_count "$i")" = "$N" ] && ok=$((ok + 1)); done
  [ $ok = $N ] && { converged=1; break; }
  sleep 0.2
done
[ $converged = 1 ] || fail "not all $N nodes saw $N alive within 10 s"
echo "ok   all $N nodes list all $N alive after $(elapsed "$t0") s"

victim_id=$(self_id $VICTIM)

kill -9 "${pids[$VICTIM]}"
t0=$(now)
dead=0
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt 10 ]; do
  ok=0
  for i in $(seq 0 $((N - 1))); do
    [ "$i" = $VICTIM ] && continue
    [ "$(sees "$i" "$victim_id" dead)" = 1 ] && ok=$((ok + 1))
  done
  [ $ok = $((N - 1)) ] && { dead=1; break; }
  sleep 0.2
done
[ $dead = 1 ] || fail "not every node marked the killed node dead within 10 s"
echo "ok   all $((N - 1)) survivors mark node $VICTIM dead after $(elapsed "$t0") s"

start_node $VICTIM  # no --join: it rejoins from its snapshot
t0=$(now)
[ "$(self_id $VICTIM)" = "$victim_id" ] || fail "restarted node has a new id"
back=0
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt 10 ]; do
  ok=0
  for i in $(seq 0 $((N - 1))); do [ "$(alive_count "$i")" = "$N" ] && ok=$((ok + 1)); done
  [ $ok = $N ] && { back=1; break; }
  sleep 0.2
done
[ $back = 1 ] || fail "restarted node not seen alive by all within 10 s"
echo "ok   node $VICTIM rejoined as ${victim_id:0:16} (same id), all $N alive after $(elapsed "$t0") s"
