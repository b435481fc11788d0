#!/usr/bin/env bash
# Stop a whole job and resume it: 3 nodes train 2 epochs with their state in
# DIR; at ~50% every process is killed -9 (demo and nodes). The same command
# again resumes every node from its fsync'd checkpoint (not from step 0) and
# ends with exactly the weights of an uninterrupted run. Usage: resume.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"
args=(demo --nodes 3 --epochs 2 --seed 5 --json)

whole=$(timeout 200 "$hydra" "${args[@]}" 2>/dev/null)
"$hydra" "${args[@]}" --state "$tmp/job" >/dev/null 2>&1 &
demo=$!
wait_progress "$tmp/job/node-0/progress" 0.5
kill -9 $demo; pkill -9 -f "state $tmp/job"; wait $demo 2>/dev/null
echo "killed everything at ${p:-?} of the job"
check "checkpoints were written" test -s "$tmp/job/node-0/checkpoint.bin"
resumed=$(timeout 200 "$hydra" "${args[@]}" --state "$tmp/job" 2>/dev/null)
check "resumed run finished" test -n "$resumed"
[ -n "$resumed" ] || { tail -n 20 "$tmp"/job/node-*/node.log; exit 1; }
from=$(get "$resumed" resumed_from_step)
check "resumed from a checkpoint, not step 0 (step $from)" $py -c "assert $from > 0"
check "restarts = 0" test "$(get "$resumed" restarts)" = 0
check "same weights as the uninterrupted run" test "$(get "$resumed" weights_hash)" = "$(get "$whole" weights_hash)"
finish
