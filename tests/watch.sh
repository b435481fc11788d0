#!/usr/bin/env bash
# `hydra node --watch DIR` and `hydra contribute` against a small training
# cluster (3 real node processes):
# - a valid CSV dropped into node 0's watch folder is scored by the other
#   two nodes and moves to DIR/.accepted with its verdict; a malformed one
#   moves to DIR/.rejected with the reason;
# - `hydra contribute` gets a clear verdict for a good file, a clear error
#   for a malformed one (exit 2), for a missing path and for a node that is
#   not there (exit != 0), and the contributor's balance appears in the
#   ledger of every node.
# Usage: watch.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

train=(--train --world 3 --epochs 4 --holdout 12000 --stay --threads 1)
start() {  # start I [JOIN] [EXTRA...]
  local i=$1 join=$2
  shift 2
  local dir="$tmp/n$i"
  mkdir -p "$dir"
  admit "$dir"
  "$hydra" node --listen 127.0.0.1:0 --state "$dir" ${join:+--join "$join"} "${train[@]}" "$@" >>"$dir/node.log" 2>&1 &
  pids[$i]=$!
  for _ in $(seq 1 200); do [ -s "$dir/address" ] && break; sleep 0.05; done
  addr[$i]=$(cat "$dir/address")
}
mkdir -p "$tmp/watch"
start 0 "" --watch "$tmp/watch"
start 1 "${addr[0]}"
start 2 "${addr[1]}"

# Contributor files from the held-out part of the training set.
$py - "$tmp" <<'EOF'
import gzip, struct, sys
tmp = sys.argv[1]
root = "/usr/share/datasets/fashion-mnist"
def idx(name):
    with gzip.open(f"{root}/{name}.gz") as f:
        return f.read()
img, lab = idx("train-images-idx3-ubyte"), idx("train-labels-idx1-ubyte")
def rows(a, b):
    out = ["label," + ",".join(f"p{i}" for i in range(784))]
    for k in range(a, b):
        px = img[16 + 784 * k:16 + 784 * (k + 1)]
        out.append(str(lab[8 + k]) + "," + ",".join(str(p) for p in px))
    return "\n".join(out) + "\n"
open(f"{tmp}/good-watch.csv", "w").write(rows(48000, 48200))
open(f"{tmp}/good-cli.csv", "w").write(rows(48200, 48400))
open(f"{tmp}/bad.csv", "w").write(rows(48400, 48405)[:-3000])
EOF

# Let the job warm up (scorers answer "not ready" until the model is past chance).
cp "$tmp/good-watch.csv" "$tmp/watch/good.csv"
cp "$tmp/bad.csv" "$tmp/watch/bad.csv"
for _ in $(seq 1 600); do
  [ -f "$tmp/watch/.accepted/good.csv" ] && [ -f "$tmp/watch/.rejected/bad.csv" ] && break
  sleep 0.1
done
check "watched good file accepted" test -f "$tmp/watch/.accepted/good.csv"
check "watched bad file rejected" test -f "$tmp/watch/.rejected/bad.csv"
cat "$tmp/watch/.accepted/good.csv.verdict.json" "$tmp/watch/.rejected/bad.csv.verdict.json" 2>/dev/null
check "accepted verdict has a score" grep -q '"score"' "$tmp/watch/.accepted/good.csv.verdict.json"
check "rejected verdict names the line" grep -q 'bad.csv line' "$tmp/watch/.rejected/bad.csv.verdict.json"

admit_key "$tmp/me.key"
out=$("$hydra" contribute --connect "${addr[1]}" --as "$tmp/me.key" --json "$tmp/good-cli.csv" 2>/dev/null)
rc=$?
echo "$out"
check "contribute: good file accepted" test "$rc" = 0
check "contribute: 200 samples accepted" $py -c "
import json, sys; j = json.loads(sys.argv[1]); assert j['status'] == 'accepted' and j['accepted'] == 200, j" "$out"
acct=$($py -c "import json,sys; print(json.loads(sys.argv[1])['contributor'])" "$out")
out=$("$hydra" contribute --connect "${addr[1]}" --as "$tmp/me.key" "$tmp/good-cli.csv" 2>&1)
echo "$out"
check "contribute: the same file again is refused as duplicate" grep -q "duplicate" <<<"$out"
check "contribute: key file is 0600" test "$(stat -c %a "$tmp/me.key")" = 600
out=$("$hydra" contribute --connect "${addr[1]}" --as "$tmp/me.key" "$tmp/bad.csv" 2>&1)
rc=$?
echo "$out"
check "contribute: malformed file rejected with exit 2" test "$rc" = 2
check "contribute: names the problem" grep -q "pixel values, expected 784" <<<"$out"
out=$("$hydra" contribute --connect "${addr[1]}" --as "$tmp/me.key" "$tmp/nope.csv" 2>&1)
check "contribute: missing path is a clear error" grep -q "nope.csv" <<<"$out"
out=$("$hydra" contribute --connect 127.0.0.1:1 --as "$tmp/me.key" --timeout 3 "$tmp/good-cli.csv" 2>&1)
rc=$?
check "contribute: unreachable node fails" test "$rc" -ne 0
check "contribute: says it cannot connect" grep -q "cannot connect\|closed\|refused" <<<"$out"

# The contributor's ledger entries reach every replica: the reward, then
# the duplicate penalty, so all three agree on the same (negative) sum.
want=$("$hydra" ctl --connect "${addr[1]}" ledger balances | $py -c "import json,sys; print(json.load(sys.stdin).get('$acct', 0))")
echo "contributor balance on the collector: $want"
seen=0
for _ in $(seq 1 50); do
  seen=0
  for i in 0 1 2; do
    b=$("$hydra" ctl --connect "${addr[$i]}" ledger balances | $py -c "import json,sys; print(json.load(sys.stdin).get('$acct', 0))")
    [ "$b" = "$want" ] && [ "$b" != 0 ] && seen=$((seen + 1))
  done
  [ $seen = 3 ] && break
  sleep 0.2
done
check "the contributor's balance is the same on all 3 replicas" test "$seen" = 3
for i in 0 1 2; do kill "${pids[$i]}" 2>/dev/null; done
wait 2>/dev/null
finish
