#!/usr/bin/env bash
# `hydra config check` and `--config FILE` as an operator meets them: the
# shipped deploy/hydra.toml checks (as is, and with every line uncommented)
# and names every node key; bad files are rejected with FILE:LINE: key; a
# node with a bad file exits 1 and starts nothing; flags override the file.
# Usage: config_cli.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
hydra="$1/hydra"
src="$2"
source "$(dirname "$0")/lib.sh"
shipped="$src/deploy/hydra.toml"

# 1. The shipped file: checks as is and with every `# key = value` uncommented.
out=$("$hydra" config check "$shipped")
check "deploy/hydra.toml checks" test $? -eq 0
check "its state is /var/lib/hydra" grep -qx 'node.state = "/var/lib/hydra"' <<<"$out"
check "unset keys show their default" grep -q '^train.epochs = 1 (default)$' <<<"$out"
sed -E 's/^# ([a-z][a-z0-9-]* = )/\1/' "$shipped" >"$tmp/all.toml"
check "uncommented lines exist" test "$(grep -cE '^[a-z][a-z0-9-]* = ' "$tmp/all.toml")" -gt 30
"$hydra" config check "$tmp/all.toml" >"$tmp/out" 2>&1
check "deploy/hydra.toml with every line uncommented checks" test $? -eq 0 || cat "$tmp/out"
json=$("$hydra" config check "$tmp/all.toml" --json)
check "every key of hydra node is in deploy/hydra.toml" $py - "$json" "$shipped" <<'PYEOF'
import json, re, sys
keys = {s["key"] for s in json.loads(sys.argv[1])["settings"] if s["source"] != "hydra train only"}
found, section = set(), None
for line in open(sys.argv[2]):
    m = re.match(r"^#? ?\[([a-z]+)\]", line)
    if m: section = m.group(1)
    m = re.match(r"^(?:# )?([a-z][a-z0-9-]*) = ", line)
    if m and section: found.add(section + "." + m.group(1))
missing, extra = keys - found, found - keys
if missing: print("missing from deploy/hydra.toml:", sorted(missing))
if extra: print("not keys of hydra node:", sorted(extra))
sys.exit(1 if missing or extra else 0)
PYEOF
check "all of them set from the file" $py -c "
import json, sys
s = json.loads(sys.argv[1])['settings']
bad = [x['key'] for x in s if x['source'] not in ('file', 'hydra train only') and not x['source'].startswith('environment')]
print(bad) if bad else None
sys.exit(1 if bad else 0)" "$json"

# 2. Bad files: exit 1, and the message names file, line and key.
expect_bad() {  # expect_bad NAME MESSAGE TOML
  printf '%s\n' "$3" >"$tmp/bad.toml"
  "$hydra" config check "$tmp/bad.toml" >"$tmp/out" 2>&1
  local rc=$?
  check "$1: exits 1" test $rc -eq 1
  check "$1: says \"$2\"" grep -qF -- "$tmp/bad.toml:$2" "$tmp/out" || cat "$tmp/out"
}
expect_bad "unknown key" '3: node.lisen: unknown key (did you mean node.listen?)' $'[node]\nlisten = "127.0.0.1:0"\nlisen = "x"'
expect_bad "unknown section" '2: [nodes]: unknown section' $'\n[nodes]\nlisten = "x"'
expect_bad "key outside a section" '1: cpu-limit: a key outside any section' 'cpu-limit = 5'
expect_bad "wrong type" '2: node.cpu-limit: expected a number, got a string' $'[node]\ncpu-limit = "lots"'
expect_bad "out of range" '4: node.cpu-limit: Value 500 not in range' $'[node]\n\n# too much\ncpu-limit = 500'
expect_bad "not a member" '2: train.model: resnet not in {mlp,cnn}' $'[train]\nmodel = "resnet"'
expect_bad "bad duration" '2: node.gossip-interval: "5 parsecs"' $'[node]\ngossip-interval = "5 parsecs"'
expect_bad "join is strings" '2: cluster.join: expected an array of strings' $'[cluster]\njoin = [7400]'
expect_bad "a key sites does not have yet" '2: sites.name: unknown key' $'[sites]\nname = "a"'
expect_bad "TOML syntax" '2:' $'[node]\nlisten = '
"$hydra" config check "$tmp/none.toml" >"$tmp/out" 2>&1
check "a missing file: exit 1" test $? -eq 1
check "a missing file is named" grep -qF "$tmp/none.toml" "$tmp/out"
"$hydra" config check "$tmp/bad.toml" --json >"$tmp/out" 2>/dev/null
check "--json on a bad file: ok false" test "$(get "$(cat "$tmp/out")" ok)" = False

# 3. A node with a bad file exits 1 with that message and starts nothing.
mkdir -p "$tmp/n1" "$tmp/n2"
admit "$tmp/n1"
admit "$tmp/n2"
printf '[node]\nlisten = "127.0.0.1:0"\nwrold = 3\n' >"$tmp/bad.toml"
for form in "node --config $tmp/bad.toml" "--config $tmp/bad.toml node"; do
  # shellcheck disable=SC2086
  timeout 20 "$hydra" $form --state "$tmp/n1" >"$tmp/out" 2>&1
  rc=$?
  check "hydra $form: exits 1" test $rc -eq 1
  check "hydra $form: names file, line and key" grep -qF "$tmp/bad.toml:3: node.wrold: unknown key" "$tmp/out" || cat "$tmp/out"
  check "hydra $form: started nothing" test ! -e "$tmp/n1/address" -a ! -e "$tmp/n1/incarnation"
done

# 4. Flags override the file: the file says n1, the flag n2; the file's
# other keys (metrics) still apply.
cat >"$tmp/good.toml" <<TOML
[node]
state = "$tmp/n1"
listen = "127.0.0.1:0"
metrics = "127.0.0.1:0"
gossip-interval = "250ms"
cpu-limit = 40
TOML
json=$("$hydra" config check "$tmp/good.toml" --json)
check "check --json: the file sets state" $py -c "
import json, sys
s = {x['key']: x for x in json.loads(sys.argv[1])['settings']}
assert s['node.state']['source'] == 'file' and s['node.state']['line'] == 2, s['node.state']
assert s['node.gossip-interval']['value'] == 0.25, s['node.gossip-interval']
assert s['node.log-level']['source'] == 'default', s['node.log-level']" "$json"
"$hydra" node --config "$tmp/good.toml" --state "$tmp/n2" >"$tmp/n2.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [ -s "$tmp/n2/address" ] && [ -s "$tmp/n2/metrics_address" ] && break
  sleep 0.05
done
check "the flag's state dir is used" test -s "$tmp/n2/address"
check "the file's metrics applies" test -s "$tmp/n2/metrics_address"
check "the file's state dir is not" test ! -e "$tmp/n1/address"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

finish
