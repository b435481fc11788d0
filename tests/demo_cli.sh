#!/usr/bin/env bash
# `hydra demo` as a user meets it: N local nodes converge, the table is
# printed, and every node process is gone afterwards — at the end of
# --duration and on Ctrl-C (SIGINT). Usage: demo_cli.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"
nodes_left() { pgrep -f "hydra node .*--state $tmp" | wc -l; }

out=$("$hydra" demo --nodes 3 --no-train --state "$tmp/a" --duration 0.5 --json 2>/dev/null)
check "demo --json exits 0" test $? -eq 0
check "demo reports 3 nodes converged" /usr/bin/python3 -c "
import json, sys
j = json.loads(sys.argv[1])
assert j['nodes'] == 3 and len(j['addresses']) == 3
assert sum(p['state'] == 'alive' for p in j['view_of_node_0']['peers']) == 3" "$out"
check "node i keeps its state in DIR/node-i" test -f "$tmp/a/node-2/identity.key"
check "no node left after --duration" test "$(nodes_left)" = 0

"$hydra" demo --nodes 3 --no-train --state "$tmp/b" >"$tmp/out" 2>/dev/null &
demo=$!
for _ in $(seq 1 150); do grep -q "Ctrl-C" "$tmp/out" && break; sleep 0.1; done
check "demo prints the membership table" grep -q "all 3 nodes see each other" "$tmp/out"
check "3 nodes running" test "$(nodes_left)" = 3
kill -INT $demo
wait $demo
check "no node left after Ctrl-C" test "$(nodes_left)" = 0
"$hydra" demo --nodes 0 >"$tmp/bad" 2>&1
check "--nodes 0 exits non-zero" test $? -ne 0
check "--nodes 0 says why" grep -q "not in range" "$tmp/bad"
finish
