#!/usr/bin/env bash
# Churn drill (p2p backend): 4 node processes train 2 epochs; node 1 is
# kill -9'd at 30% of the job and restarted with its state dir at 60%, a
# fresh node joins at 50%. The job must never restart (restarts = 0), must
# finish with every replica agreeing, and must land within 1 point of the
# same job without churn. Usage: churn.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

calm=$(timeout 240 "$hydra" demo --nodes 4 --epochs 2 --seed 3 --json 2>/dev/null)
check "no-churn run finished" test -n "$calm"
churn=$(timeout 240 "$hydra" demo --nodes 4 --epochs 2 --seed 3 --churn --state "$tmp/c" --json 2>/dev/null)
check "churn run finished" test -n "$churn"
if [ $failures -ne 0 ]; then
  for f in "$tmp"/c/node-*/node.log; do echo "--- $f"; tail -n 20 "$f"; done
  exit 1
fi
echo "no churn: $calm"
echo "churn:    $churn"
a=$(get "$calm" test_accuracy); b=$(get "$churn" test_accuracy)
check "restarts = 0" test "$(get "$churn" restarts)" = 0
check "a peer was lost" $py -c "assert $(get "$churn" peers_lost) >= 1"
check "peers joined (fresh and restarted)" $py -c "assert $(get "$churn" peers_joined) >= 2"
check "every replica agrees" test "$(get "$churn" replicas_agree)" = True
check "all samples trained" test "$(get "$churn" samples)" = 120000
check "accuracy within 1 point of no churn ($b vs $a)" $py -c "assert abs($b - $a) <= 0.01"
finish
