# Shared helpers of the shell tests. Source it after setting `hydra`:
#   tmp      a scratch folder, removed (with any node using it) on exit
#   check NAME CMD...   run CMD, print ok/FAIL, count failures
#   get JSON KEY        a top-level field of a JSON object
#   finish              print the count and exit non-zero on any failure
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'pkill -9 -f "state $tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
check() {
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
get() { $py -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
# wait_progress FILE FRACTION: until a node's progress file ("step total ...")
# reaches FRACTION of the job (at most 60 s); sets `p` to the fraction seen.
wait_progress() {
  for _ in $(seq 1 1200); do
    p=$(awk '{ if ($2 > 0) print $1 / $2 }' "$1" 2>/dev/null)
    [ -n "$p" ] && $py -c "import sys; sys.exit(0 if $p >= $2 else 1)" && return 0
    sleep 0.05
  done
  return 1
}
finish() {
  echo "$failures failure(s)"
  test "$failures" -eq 0
}
# flip_in_entry LOG N AT: flips one bit of byte AT of record N's entry bytes
# in a ledger.log (records: u32 len, u32 check, len bytes; see ledger/log.hpp).
flip_in_entry() {
  $py - "$1" "$2" "$3" <<'PYEOF'
import struct, sys
path, n, at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = bytearray(open(path, 'rb').read())
pos = 0
for _ in range(n):
    (size,) = struct.unpack_from('<I', b, pos)
    pos += 8 + size
b[pos + 8 + at] ^= 0x01
open(path, 'wb').write(b)
PYEOF
}
# check_flip_names LOG N AT: a copy of LOG with one byte of entry N flipped
# (at byte AT of the entry) must fail `hydra ledger verify`, naming entry N.
check_flip_names() {
  local dir="$tmp/flip-$2" out rc
  mkdir -p "$dir"
  cp "$1" "$dir/ledger.log"
  flip_in_entry "$dir/ledger.log" "$2" "$3"
  out=$("$hydra" ledger verify --state "$dir" 2>&1)
  rc=$?
  echo "$out"
  check "verify fails on a byte flipped in entry $2" test "$rc" -ne 0
  check "verify names entry $2" grep -q "bad entry $2 " <<<"$out"
}
# The test's own cluster: an operator folder in $tmp/op (created on first
# use). `admit DIR [ROLES]` admits a node's state folder, `admit_key KEYFILE`
# a contributor key; `hydra ctl` acts as the operator ($HYDRA_AS).
op="$tmp/op"
export HYDRA_AS="$op"
ensure_operator() {
  [ -f "$op/cluster.pub" ] || "$hydra" operator init --dir "$op" --name test >/dev/null
}
admit() {
  ensure_operator
  "$hydra" operator admit --dir "$op" --node "$1" --roles "${2:-trainer,collector,scorer,ledger}" >/dev/null
}
admit_key() {
  ensure_operator
  "$hydra" operator admit --dir "$op" --key "$1" --roles contributor >/dev/null
  cp "$op/cluster.pub" "$(dirname "$1")/cluster.pub"
}
