#!/usr/bin/env bash
# Training across local node processes (p2p backend, real sockets):
# 1. 4 nodes in sync mode reach the accuracy of a single node with the same
#    model, global batch, samples and seed (within 0.5 points), and every
#    replica ends with the same weights.
# 2. Local-SGD mode (H = 16) with int8 compression sends >= 50x fewer bytes
#    per trained sample than sync fp32, losing at most 1 point of accuracy.
# Usage: train_together.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

single=$("$hydra" train --model mlp --epochs 1 --batch 64 --seed 1 --threads 1 --json -q)
sync=$("$hydra" demo --nodes 4 --mode sync --batch 64 --seed 1 --json 2>/dev/null)
check "sync demo ran" test -n "$sync"
local=$("$hydra" demo --nodes 4 --mode local --local-steps 16 --compress int8 --batch 64 --seed 1 --json 2>/dev/null)
check "local int8 demo ran" test -n "$local"
[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }

a1=$(get "$single" test_accuracy); a4=$(get "$sync" test_accuracy); al=$(get "$local" test_accuracy)
echo "single node: $a1   4 nodes sync: $a4   4 nodes local+int8: $al"
check "4-node sync within 0.5 points of one node ($a4 vs $a1)" $py -c "assert abs($a4 - $a1) <= 0.005"
check "replicas agree (sync)" test "$(get "$sync" replicas_agree)" = True
check "no restarts" test "$(get "$sync" restarts)" = 0
check "sync trained every sample" test "$(get "$sync" samples)" = 60000
bs=$(get "$sync" bytes_per_sample); bl=$(get "$local" bytes_per_sample)
ratio=$($py -c "print(round($bs / $bl, 1))")
echo "bytes per sample: sync fp32 $bs, local int8 $bl: ${ratio}x fewer"
check "local int8 sends >= 50x fewer bytes per sample (${ratio}x)" $py -c "assert $ratio >= 50"
check "local int8 loses <= 1 point ($al vs $a4)" $py -c "assert $al >= $a4 - 0.01"
check "replicas agree (local)" test "$(get "$local" replicas_agree)" = True
finish
