#!/usr/bin/env bash
# SIGTERM drains a trainer (what `systemctl stop hydra` sends): two nodes
# train one job; node 1 gets SIGTERM at about 30 %. It finishes its round,
# writes its checkpoint, leaves the group and exits 0 within seconds; node 0
# re-forms alone and finishes the whole job (no restart from step 0). Node 1
# leaves no result.json (it did not finish), and its checkpoint is at the
# step where it stopped.
# Usage: drain.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

train=(--train --world 2 --epochs 2 --limit 12000 --threads 1 --checkpoint-every 5)
for i in 0 1; do mkdir -p "$tmp/n$i"; admit "$tmp/n$i"; done
"$hydra" node --listen 127.0.0.1:0 --state "$tmp/n0" "${train[@]}" >"$tmp/n0.log" 2>&1 &
p0=$!
for _ in $(seq 1 200); do [ -s "$tmp/n0/address" ] && break; sleep 0.05; done
"$hydra" node --listen 127.0.0.1:0 --state "$tmp/n1" --join "$(cat "$tmp/n0/address")" "${train[@]}" >"$tmp/n1.log" 2>&1 &
p1=$!
check "node 1 reached 30 % of the job" wait_progress "$tmp/n1/progress" 0.3
t0=$(date +%s.%N)
kill -TERM $p1
wait $p1
rc=$?
secs=$($py -c "print(round($(date +%s.%N) - $t0, 2))")
echo "node 1 stopped in $secs s (rc $rc)"
check "node 1 exits 0 after SIGTERM" test $rc -eq 0
check "node 1 exits within 20 s (drain, not the whole job)" $py -c "assert $secs < 20"
check "node 1 says it drained" grep -q "drained at step" "$tmp/n1.log"
check "node 1 left its checkpoint" test -s "$tmp/n1/checkpoint.bin"
check "node 1 left no result.json (it did not finish the job)" test ! -e "$tmp/n1/result.json"
wait $p0
check "node 0 finished the job alone (rc $?)" test -s "$tmp/n0/result.json"
r0=$(cat "$tmp/n0/result.json" 2>/dev/null)
[ -n "$r0" ] && {
  check "node 0 trained every sample ($(get "$r0" samples))" test "$(get "$r0" samples)" = 24000
  check "node 0 never restarted from step 0" test "$(get "$r0" restarts)" = 0
  check "node 0 saw the group shrink ($(get "$r0" peers_lost) time)" test "$(get "$r0" peers_lost)" -ge 1
}
step=$(grep -o "drained at step [0-9]*" "$tmp/n1.log" | head -1 | grep -o "[0-9]*$")
total=$(awk '{print $2}' "$tmp/n1/progress")
check "node 1 drained mid-job (step ${step:-?} of ${total:-?})" $py -c "assert 0 < ${step:-0} < ${total:-0}"
finish
