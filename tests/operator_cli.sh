#!/usr/bin/env bash
# `hydra operator` as an operator meets it: init a cluster (key 0600, folder
# 0700, no overwrite), admit a node and a contributor key, an expired
# certificate, a second operator who issues too, revoke, show; bad role names
# and bad keys exit 2 with a clear message. Usage: operator_cli.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"
op="$tmp/op"
node="$tmp/node"
mode() { stat -c %a "$1"; }
jq_py() { $py -c "import json,sys; d=json.loads(sys.argv[1]); print($1)" "$2"; }

for sub in init add-operator admit revoke show; do
  check "operator $sub --help" "$hydra" operator "$sub" --help >/dev/null
done

out=$("$hydra" operator init --dir "$op" --name lab --json)
check "init succeeds" test $? -eq 0
echo "$out"
check "init prints the cluster id" test "$(get "$out" cluster_id | wc -c)" -eq 65
check "operator.key is mode 0600" test "$(mode "$op/operator.key")" = 600
check "OPDIR is mode 0700" test "$(mode "$op")" = 700
check "cluster.pub written" test -s "$op/cluster.pub"
sum=$(md5sum <"$op/cluster.pub")
"$hydra" operator init --dir "$op" >"$tmp/out" 2>&1
check "init refuses to overwrite" test $? -ne 0
check "refusal names the existing cluster.pub" grep -q "$op/cluster.pub" "$tmp/out"
check "cluster.pub unchanged" test "$(md5sum <"$op/cluster.pub")" = "$sum"

# A node.
"$hydra" operator admit --dir "$op" --node "$node" --site site-a >"$tmp/out" 2>&1
check "admit a node" test $? -eq 0
cat "$tmp/out"
check "membership.cert is mode 0644" test "$(mode "$node/membership.cert")" = 644
check "cluster.pub copied to the node" cmp -s "$op/cluster.pub" "$node/cluster.pub"
show=$("$hydra" operator show "$node/membership.cert")
echo "$show"
check "show: default roles" test "$(get "$show" roles)" = "trainer,collector,scorer,ledger"
check "show: site" test "$(get "$show" site)" = site-a
check "show: about a year left" test "$(get "$show" days_left)" -ge 364
check "show: valid for the cluster" test "$(get "$show" check)" = ok
cshow=$("$hydra" operator show "$op/cluster.pub")
check "show cluster.pub: name and one operator" test "$(jq_py "d['name'], len(d['operators'])" "$cshow")" = "lab 1"

# Bad input exits 2 with a clear message.
"$hydra" operator admit --dir "$op" --node "$node" --roles trainer,wizard >"$tmp/out" 2>&1
check "unknown role exits 2" test $? -eq 2
check "unknown role is named" grep -q "unknown role 'wizard'" "$tmp/out"
"$hydra" operator admit --dir "$op" --node "$node" --days 0 >"$tmp/out" 2>&1
check "--days 0 without an expiry exits 2" test $? -eq 2
"$hydra" operator add-operator --dir "$op" --pub nothex >"$tmp/out" 2>&1
check "bad --pub exits 2" test $? -eq 2
check "bad --pub explained" grep -q "64 hex digits" "$tmp/out"
"$hydra" operator admit --dir "$tmp/nowhere" --node "$node" >"$tmp/out" 2>&1
check "missing OPDIR exits 2" test $? -eq 2
check "missing OPDIR points at init" grep -q "operator init" "$tmp/out"
printf 'garbage' >"$tmp/garbage"
"$hydra" operator show "$tmp/garbage" >/dev/null 2>&1
check "show of a foreign file exits 2" test $? -eq 2
cp "$node/membership.cert" "$tmp/flipped.cert"
$py - "$tmp/flipped.cert" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[-1] ^= 1; open(sys.argv[1], 'wb').write(b)
PY
"$hydra" operator show "$tmp/flipped.cert" >"$tmp/out" 2>&1
check "a flipped byte is refused (exit 2)" test $? -eq 2
check "a flipped byte: bad signature" grep -q "bad certificate signature" "$tmp/out"

# A contributor key, and an already-expired certificate.
"$hydra" operator admit --dir "$op" --key "$tmp/alice.key" --roles contributor >/dev/null
check "admit --key writes KEYFILE.cert" test -s "$tmp/alice.key.cert"
check "contributor key is mode 0600" test "$(mode "$tmp/alice.key")" = 600
past=$(($(date +%s) - 3 * 86400 - 60))
"$hydra" operator admit --dir "$op" --node "$tmp/old" --days 0 --valid-until "$past" >"$tmp/out" 2>&1
check "expired certificate is issued" test $? -eq 0
check "expired certificate warns" grep -q "warning" "$tmp/out"
show=$("$hydra" operator show "$tmp/old/membership.cert")
check "expired certificate fails the check" grep -q "expired 3 days ago" <<<"$(get "$show" check)"

# A second operator (a remote site) issues certificates the cluster accepts.
"$hydra" operator init --dir "$tmp/op2" --name other >/dev/null
"$hydra" operator add-operator --dir "$op" --key "$tmp/op2/operator.key" >"$tmp/out" 2>&1
check "add-operator succeeds" test $? -eq 0
check "add-operator prints where cluster.pub is" grep -q "$op/cluster.pub" "$tmp/out"
cshow=$("$hydra" operator show "$op/cluster.pub")
check "cluster keeps its id" test "$(get "$cshow" id)" = "$(get "$out" cluster_id)"
check "cluster has two operators" test "$(jq_py "len(d['operators'])" "$cshow")" = 2
cp "$op/cluster.pub" "$tmp/op2/cluster.pub"
"$hydra" operator admit --dir "$tmp/op2" --node "$tmp/node2" >/dev/null
show=$("$hydra" operator show "$tmp/node2/membership.cert" --cluster "$op/cluster.pub")
check "the second operator's certificate is valid" test "$(get "$show" check)" = ok

# Revocation.
rev=$("$hydra" operator revoke --dir "$op" --node "$node")
check "revoke succeeds" test $? -eq 0
echo "$rev"
subject=$(get "$("$hydra" operator show "$node/membership.cert")" subject)
check "revoke prints the key" test "$(get "$rev" revoked)" = "$subject"
check "revoke prints the ledger subject" test "$(get "$rev" subject)" = "$subject"
check "revoked key listed in OPDIR/revoked" grep -qx "$subject" "$op/revoked"
rev=$("$hydra" operator revoke --dir "$op" --pub "$subject")
check "revoking twice is idempotent" test "$(get "$rev" new)" = False -a "$(wc -l <"$op/revoked")" -eq 1
"$hydra" operator revoke --dir "$op" --key "$op/operator.key" >"$tmp/out" 2>&1
check "an operator key cannot be revoked (exit 2)" test $? -eq 2
finish
