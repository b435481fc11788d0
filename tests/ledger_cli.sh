#!/usr/bin/env bash
# `hydra ledger` as an operator meets it: entries appended by a node's own key
# (fsync'd), balances, show, verify; a byte flipped in a stored entry makes
# verify fail and name the entry. Usage: ledger_cli.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"
d="$tmp/node"
for i in 1 2 3; do
  "$hydra" ledger append-test --state "$d" --kind reward --subject alice --amount $((i * 100)) >/dev/null
done
"$hydra" ledger append-test --state "$d" --kind penalty --subject alice --amount 50 >/dev/null
check "verify passes on a good ledger" "$hydra" ledger verify --state "$d"
bal=$("$hydra" ledger balances --state "$d" --json)
check "balances fold the entries (600 - 50 = 550)" $py -c "import json,sys; assert json.loads(sys.argv[1])['alice'] == 550, sys.argv[1]" "$bal"
# Flip one byte inside the second entry's body.
size=$(stat -c %s "$d/ledger.log")
$py - "$d/ledger.log" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
first = int.from_bytes(b[0:4], 'little') + 8          # record 0: [len][crc][body]
off = first + 8 + 40                                  # inside record 1's body
b[off] ^= 0x5a
open(p, 'wb').write(bytes(b))
PY
"$hydra" ledger verify --state "$d" >"$tmp/out" 2>&1
check "verify fails on a flipped byte" test $? -ne 0
check "verify names the damaged entry" grep -qiE "record 1|entry 1|index 1" "$tmp/out"
cat "$tmp/out"
check "file size unchanged by verify" test "$(stat -c %s "$d/ledger.log")" = "$size"
"$hydra" ledger verify --state "$tmp/nowhere" >"$tmp/out2" 2>&1
check "missing ledger is a clear error" grep -qi "nowhere" "$tmp/out2"
finish
