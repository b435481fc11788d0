#!/usr/bin/env bash
# The polite guest (BOINC's computing preferences): two nodes train one job;
# node 1 pauses while "on battery" (--guest-on-battery, its facts from
# $HYDRA_GUEST_PROBE_FILE, which the test rewrites). At about 25 % it goes
# on battery: it must say why in `hydra ctl peers` (its own view, the other
# node's view through its signed advert, and its /api/status), drain its
# trainer, and node 0 must go on training alone. Back on mains, node 1
# resumes after --guest-resume-after, rejoins (node 0's group grows back to
# 2) and both finish the job with every sample trained. Then a node outside
# its --guest-hours starts paused and exits promptly on SIGTERM.
# Usage: guest.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

facts="$tmp/facts.json"
echo '{"on_battery": false}' >"$facts"
# A 10 % cap keeps the job long enough (about 30 s) to watch a pause and a rejoin.
train=(--train --world 2 --epochs 10 --limit 12000 --threads 1 --checkpoint-every 5 --cpu-limit 10)
for i in 0 1 2; do mkdir -p "$tmp/n$i"; admit "$tmp/n$i"; done
"$hydra" node --listen 127.0.0.1:0 --state "$tmp/n0" "${train[@]}" >"$tmp/n0.log" 2>&1 &
p0=$!
for _ in $(seq 1 200); do [ -s "$tmp/n0/address" ] && break; sleep 0.05; done
a0=$(cat "$tmp/n0/address")
HYDRA_GUEST_PROBE_FILE="$facts" "$hydra" node --listen 127.0.0.1:0 --state "$tmp/n1" --join "$a0" "${train[@]}" \
  --guest-on-battery --guest-resume-after 2 --metrics 127.0.0.1:0 >"$tmp/n1.log" 2>&1 &
p1=$!
for _ in $(seq 1 200); do [ -s "$tmp/n1/address" ] && break; sleep 0.05; done
a1=$(cat "$tmp/n1/address")

# paused_in ADDR ID: node ID's pause reason in ADDR's membership view.
paused_in() {
  "$hydra" ctl --connect "$1" --timeout 2 peers --json 2>/dev/null | $py -c "
import json, sys
v = json.load(sys.stdin)
print(next((p['capabilities'].get('paused', '') for p in v['peers'] if p['id'] == '$2'), '?'))"
}
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
  local n=$(($1 * 10))
  shift
  for _ in $(seq 1 $n); do "$@" && return 0; sleep 0.1; done
  return 1
}
# trainers_in FILE: the group size a progress file reports (5th field).
trainers_in() { awk '{print $5}' "$1" 2>/dev/null; }

check "node 1 reached 25 % of the job" wait_progress "$tmp/n1/progress" 0.25
id1=$("$hydra" ctl --connect "$a1" --timeout 2 peers --json | $py -c "
import json, sys
print(next(p['id'] for p in json.load(sys.stdin)['peers'] if p['self']))")
check "node 1 is not paused while on mains" test "$(paused_in "$a1" "$id1")" = ""

echo '{"on_battery": true}' >"$facts"
check "node 1 says it is paused: on battery" wait_for 10 eval 'test "$(paused_in "$a1" "$id1")" = "on battery"'
check "node 0 sees node 1 paused (signed advert)" wait_for 10 eval 'test "$(paused_in "$a0" "$id1")" = "on battery"'
check "the peers table shows the reason" eval '"$hydra" ctl --connect "$a0" peers | grep -q "on battery"'
check "node 1 drained its trainer" wait_for 20 grep -q "trainer drained at step" "$tmp/n1.log"
check "node 1 logged why" grep -q "guest: pausing the trainer: on battery" "$tmp/n1.log"
check "node 1's /api/status carries the reason" eval 'curl -sf "http://$(cat "$tmp/n1/metrics_address")/api/status" |
  $py -c "import json,sys; d=json.load(sys.stdin); assert [p for p in d[\"view\"][\"peers\"] if p[\"self\"]][0][\"capabilities\"][\"paused\"] == \"on battery\""'
check "node 0 trains on alone" wait_for 30 eval 'test "$(trainers_in "$tmp/n0/progress")" = 1'
s0=$(awk '{print $1}' "$tmp/n0/progress")
sleep 2
s1=$(awk '{print $1}' "$tmp/n0/progress")
check "node 0 makes progress while node 1 is paused (step $s0 -> $s1)" test "${s1:-0}" -gt "${s0:-0}"
check "node 1 is still running (paused, not exited)" kill -0 $p1

echo '{"on_battery": false}' >"$facts"
check "node 1 resumes its trainer" wait_for 20 eval 'test "$(grep -c "guest: starting the trainer" "$tmp/n1.log")" -ge 2'
check "node 1's advert is cleared" wait_for 10 eval 'test "$(paused_in "$a0" "$id1")" = ""'
check "node 0's group grows back to 2" wait_for 60 eval 'grep -q "group re-formed: 2 trainers (was 1)" "$tmp/n0.log"'

timeout 200 tail --pid=$p0 -f /dev/null
wait $p0
check "node 0 finished the job (rc $?)" test -s "$tmp/n0/result.json"
timeout 30 tail --pid=$p1 -f /dev/null
wait $p1
check "node 1 finished the job after resuming (rc $?)" test -s "$tmp/n1/result.json"
r0=$(cat "$tmp/n0/result.json" 2>/dev/null)
r1=$(cat "$tmp/n1/result.json" 2>/dev/null)
[ -n "$r0" ] && {
  check "node 0 trained every sample ($(get "$r0" samples))" test "$(get "$r0" samples)" = 120000
  check "node 0 never restarted from step 0" test "$(get "$r0" restarts)" = 0
  check "node 0 saw node 1 leave ($(get "$r0" peers_lost)) and rejoin ($(get "$r0" peers_joined))" \
    $py -c "assert $(get "$r0" peers_lost) >= 1 and $(get "$r0" peers_joined) >= 1"
}
[ -n "$r1" ] && {
  check "node 1 resumed from its checkpoint (step $(get "$r1" resumed_from_step))" \
    $py -c "assert $(get "$r1" resumed_from_step) > 0"
  check "both nodes end with the same weights" test "$(get "$r0" weights_hash)" = "$(get "$r1" weights_hash)"
}

# Outside its hours a node starts paused, and a SIGTERM while paused exits at once.
echo '{"local_time": "12:00"}' >"$facts"
HYDRA_GUEST_PROBE_FILE="$facts" "$hydra" node --listen 127.0.0.1:0 --state "$tmp/n2" "${train[@]}" \
  --guest-hours 18:00-07:00 >"$tmp/n2.log" 2>&1 &
p2=$!
for _ in $(seq 1 200); do [ -s "$tmp/n2/address" ] && break; sleep 0.05; done
a2=$(cat "$tmp/n2/address")
id2=$("$hydra" ctl --connect "$a2" --timeout 2 peers --json | $py -c "
import json, sys
print(next(p['id'] for p in json.load(sys.stdin)['peers'] if p['self']))")
check "node 2 starts paused: outside hours" wait_for 10 eval 'test "$(paused_in "$a2" "$id2")" = "outside hours 18:00-07:00"'
check "node 2 never started a trainer" eval '! grep -q "waiting for 2 trainers" "$tmp/n2.log"'
t0=$(date +%s.%N)
kill -TERM $p2
wait $p2
rc=$?
secs=$($py -c "print(round($(date +%s.%N) - $t0, 2))")
check "node 2 exits 0 on SIGTERM while paused ($secs s, rc $rc)" $py -c "assert $rc == 0 and $secs < 5"
if [ $failures -ne 0 ]; then
  for f in "$tmp"/n*.log; do echo "--- $f"; tail -n 25 "$f"; done
fi
finish
