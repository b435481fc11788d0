#!/usr/bin/env bash
# A packet capture of two admitted nodes training together contains no
# plaintext. Two real `hydra node --train --world 2` processes (their own
# state folders, admitted by the test's operator) train on Fashion-MNIST
# while tshark captures every TCP packet on lo, from before the first node
# starts until training is done and the operator has asked both for their
# peers (so the capture also holds a `ctl peers --json` reply). Each TCP
# direction's payload is reassembled into a file, then:
#   1. `capnp decode wire/hydra.capnp Envelope` decodes no envelope from any
#      stream; control: it does decode a plaintext Envelope frame (stock
#      `capnp encode`, Hydra's framing) that carries a node's key and id.
#   2. No node id or public key (hex text and the 32 raw bytes), no node
#      address ("127.0.0.1:PORT", control and data), no "127.0.0.1", no
#      role list and no JSON object key ('{"name":') appears in any stream;
#      control: the same search finds them in the plaintext frame.
#   3. Training went over the captured connections: > 1 MB of payload in
#      all, > 1 MB on the data-plane connection.
# Also checked: tshark dropped nothing, every stream touches a node port and
# is complete, and every stream opens with the channel's handshake ("HYS1").
# Runs in a network namespace of its own when it can (`unshare -n`, root):
# then lo carries nothing but this test's traffic. Otherwise it captures
# host lo (tcp on ephemeral ports) and keeps only streams on the nodes'
# ports.
# Usage: capture.sh BUILD_DIR
set -uo pipefail
if [ -z "${HYDRA_CAPTURE_NETNS:-}" ] && [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  exec env HYDRA_CAPTURE_NETNS=1 unshare -n bash "$0" "$@"
fi
hydra="$1/hydra"
root=$(cd "$(dirname "$0")/.." && pwd)
source "$(dirname "$0")/lib.sh"

if [ -n "${HYDRA_CAPTURE_NETNS:-}" ]; then
  ip link set lo up || { echo "FAIL cannot bring up lo in the namespace"; exit 1; }
  filter="tcp"
  echo "capturing in a network namespace of its own (filter '$filter')"
else
  filter="tcp portrange 32768-60999"
  echo "no network namespace (not root or no unshare): capturing host lo (filter '$filter'), keeping node ports only"
fi
command -v tshark >/dev/null || { echo "FAIL tshark is not installed (deploy/install-deps.sh)"; exit 1; }
command -v capnp >/dev/null || { echo "FAIL capnp is not installed (deploy/install-deps.sh)"; exit 1; }

tshark_pid=""
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "$tshark_pid" ] && kill -9 "$tshark_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail_logs() {
  echo "FAIL $*"
  for i in 0 1; do echo "--- node-$i log (tail)"; tail -n 20 "$tmp/n$i/node.log" 2>/dev/null; done
  echo "--- tshark"; cat "$tmp/tshark.err" 2>/dev/null
  exit 1
}

for i in 0 1; do mkdir -p "$tmp/n$i"; admit "$tmp/n$i"; done

# The capture starts before any node exists. -B: a 128 MiB kernel buffer,
# so the 64 KiB loopback segments of training are not dropped.
"tshark" -i lo -B 128 -f "$filter" -w "$tmp/cap.pcap" 2>"$tmp/tshark.err" &
tshark_pid=$!
for _ in $(seq 1 200); do grep -q "Capturing on" "$tmp/tshark.err" 2>/dev/null && break; sleep 0.05; done
grep -q "Capturing on" "$tmp/tshark.err" || fail_logs "tshark did not start"
# "Capturing on" is printed before packets reach the file: knock on port 9
# (nothing listens; SYN + RST) until the capture file grows past its header,
# so the nodes' first SYN cannot fall before the capture. The knocks are
# dropped from the analysis below.
cap_live=""
for _ in $(seq 1 100); do
  $py -c 'import socket
try: socket.create_connection(("127.0.0.1", 9), timeout=1)
except OSError: pass'
  [ "$(stat -c %s "$tmp/cap.pcap" 2>/dev/null || echo 0)" -gt 400 ] && { cap_live=1; break; }
  sleep 0.1
done
[ -n "$cap_live" ] || fail_logs "tshark captured nothing of 100 knocks on port 9 in 10 s"

train=(--train --world 2 --epochs 2 --limit 1000 --threads 1 --stay)
start() {  # start I [JOIN]
  local dir="$tmp/n$1"
  "$hydra" node --listen 127.0.0.1:0 --state "$dir" ${2:+--join "$2"} "${train[@]}" >>"$dir/node.log" 2>&1 &
  pids[$1]=$!
  for _ in $(seq 1 200); do [ -s "$dir/address" ] && break; sleep 0.05; done
  [ -s "$dir/address" ] || fail_logs "node $1 did not start"
  addr[$1]=$(cat "$dir/address")
}
declare -a addr
t0=$(date +%s)
start 0
start 1 "${addr[0]}"
# --stay: each node keeps serving after the job, so the operator can ask.
for _ in $(seq 1 1800); do
  grep -q "done: test accuracy" "$tmp/n0/node.log" && grep -q "done: test accuracy" "$tmp/n1/node.log" && break
  sleep 0.05
done
grep -q "done: test accuracy" "$tmp/n0/node.log" && grep -q "done: test accuracy" "$tmp/n1/node.log" \
  || fail_logs "training did not finish within 90 s"
echo "trained in $(($(date +%s) - t0)) s: $(grep -h 'done: test accuracy' "$tmp"/n*/node.log | sed 's/.*done: //' | cut -c1-40 | tr '\n' ';')"
"$hydra" ctl --connect "${addr[0]}" peers --json >"$tmp/peers0.json" 2>"$tmp/ctl.err" || fail_logs "ctl peers (node 0): $(cat "$tmp/ctl.err")"
"$hydra" ctl --connect "${addr[1]}" peers --json >"$tmp/peers1.json" 2>"$tmp/ctl.err" || fail_logs "ctl peers (node 1): $(cat "$tmp/ctl.err")"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
pids=()
sleep 0.3
kill -INT "$tshark_pid"
wait "$tshark_pid" 2>/dev/null
tshark_pid=""
grep -E "captured|dropped" "$tmp/tshark.err" | sed 's/^/tshark: /'
check "the capture dropped no packets" bash -c "! grep -q 'dropped' '$tmp/tshark.err'"

# Every TCP segment with its payload, one line each (no reassembly by
# tshark: the streams are rebuilt below from the raw sequence numbers).
tshark -r "$tmp/cap.pcap" -o tcp.desegment_tcp_streams:FALSE -T fields -E separator=/t \
  -e tcp.stream -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e tcp.flags.syn -e tcp.flags.ack \
  -e tcp.seq_raw -e tcp.payload >"$tmp/segments.tsv" 2>"$tmp/tshark-read.err" \
  || fail_logs "tshark -r: $(cat "$tmp/tshark-read.err")"

# A plaintext Envelope as it would cross the wire without the channel, for
# the controls: node 0's public key, node 1's id as the recipient and a JSON
# payload naming node 0.
$py - "$tmp" <<'PYEOF' >"$tmp/control.txt"
import json, sys
tmp = sys.argv[1]
v0, v1 = (json.load(open(f"{tmp}/peers{i}.json")) for i in (0, 1))
me = [p for p in v0["peers"] if p["self"]][0]
other = [p for p in v1["peers"] if p["self"]][0]
payload = json.dumps({"id": me["id"], "address": me["address"], "data_address": me["data_address"]})
esc = payload.replace("\\", "\\\\").replace('"', '\\"')
print(f'(version = 2, publicKey = 0x"{me["public_key"]}", signature = 0x"{"00" * 64}", '
      f'payload = "{esc}", recipient = 0x"{other["id"]}", nonce = 7, expires = 0)')
PYEOF
(cd "$root" && capnp encode wire/hydra.capnp Envelope <"$tmp/control.txt" >"$tmp/control.bin") \
  || fail_logs "capnp encode of the control frame failed"

$py - "$tmp" "$root" "${HYDRA_CAPTURE_NETNS:-}" <<'PYEOF'
import json, os, re, subprocess, sys
tmp, root, netns = sys.argv[1], sys.argv[2], bool(sys.argv[3])
failures = 0
def check(name, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + name)
    failures += 0 if ok else 1

# What must not appear: every id, key and address both nodes report.
views = [json.load(open(f"{tmp}/peers{i}.json")) for i in (0, 1)]
ids, keys, addrs = set(), set(), set()
for v in views:
    for p in v["peers"]:
        ids.add(p["id"]); keys.add(p["public_key"]); addrs.add(p["address"])
        if p.get("data_address"): addrs.add(p["data_address"])
    roles = [p["roles"] for p in v["peers"] if p["self"]][0]
data_ports = {int(a.rsplit(":", 1)[1]) for v in views for p in v["peers"] if p.get("data_address")
              for a in [p["data_address"]]}
node_ports = {int(a.rsplit(":", 1)[1]) for a in addrs}
print(f"node ids: {', '.join(sorted(i[:16] + '..' for i in ids))}; addresses: {', '.join(sorted(addrs))}")
needles = {}
for h in ids | keys:
    needles[f"{h[:12]}.. (hex)"] = h.encode()
    needles[f"{h[:12]}.. (HEX)"] = h.upper().encode()
    needles[f"{h[:12]}.. (32 raw bytes)"] = bytes.fromhex(h)
for a in addrs:
    needles[a] = a.encode()
needles["127.0.0.1"] = b"127.0.0.1"
needles[roles] = roles.encode()
# JSON: an object key, '{"' + a name + '":'. A bare '{"' is two bytes and
# turns up in any few hundred KiB of ciphertext by chance (1 in 65536).
json_key = re.compile(rb'\{"[A-Za-z_][A-Za-z0-9_]{1,40}":')

def leaks(b):
    found = [n for n, s in needles.items() if s in b]
    if json_key.search(b): found.append("JSON object key " + json_key.search(b).group().decode())
    return found

def decodes(path):
    r = subprocess.run(["capnp", "decode", "wire/hydra.capnp", "Envelope"], cwd=root, stdin=open(path, "rb"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode(errors="replace")
    err = (r.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
    # Decoded = an Envelope a reader could use: the protocol version and a
    # 32-byte public key. capnp prints an all-default struct
    # "(version = 0, nonce = 0, expires = 0)" before failing on many random
    # inputs; that reveals nothing and is not a decode.
    # Hydra's protocol version is 2.
    real = re.search(r"version = 2\b", out) and "publicKey = " in out
    return bool(real), r.returncode, err

# Controls: the decoder and the search work on a plaintext frame.
ok, rc, _ = decodes(f"{tmp}/control.bin")
check(f"control: capnp decode reads the plaintext Envelope frame (rc {rc})", ok and rc == 0)
ctl = open(f"{tmp}/control.bin", "rb").read()
found = leaks(ctl)
check(f"control: the search finds {len(found)} needles in the plaintext frame (key, id, addresses, JSON)",
      any("raw" in n for n in found) and any("JSON" in n for n in found) and any(":" in n and "127" in n for n in found))

# Rebuild each direction of each stream from the raw sequence numbers.
segs, syn_from, ports = {}, {}, {}
for line in open(f"{tmp}/segments.tsv"):
    f = line.rstrip("\n").split("\t")
    if len(f) < 9 or not f[0]:
        continue
    st, src, sp, dst, dp, syn, ack, seq, pay = f[:9]
    st, sp, dp, seq = int(st), int(sp), int(dp), int(seq)
    ports[st] = (sp, dp)
    d = (st, sp, dp)
    if syn in ("1", "True") and ack in ("0", "False"):
        syn_from[st] = sp
    if syn in ("1", "True"):
        segs.setdefault(d, {"isn": seq, "parts": []})["isn"] = seq
        continue
    if pay:
        segs.setdefault(d, {"isn": None, "parts": []})["parts"].append((seq, bytes.fromhex(pay.replace(":", ""))))
streams = sorted({d[0] for d in segs if "9" not in (str(d[1]), str(d[2]))})  # not the knocks
if not netns:  # host lo: keep only this test's connections
    streams = [s for s in streams if ports[s][0] in node_ports or ports[s][1] in node_ports]
total, holes, per_stream = 0, 0, {}
os.makedirs(f"{tmp}/streams", exist_ok=True)
for d, s in segs.items():
    if d[0] not in streams or not s["parts"]:
        continue
    base = (s["isn"] + 1) if s["isn"] is not None else min(q for q, _ in s["parts"])
    buf = bytearray()
    for q, b in sorted(s["parts"], key=lambda x: (x[0] - base) & 0xFFFFFFFF):
        off = (q - base) & 0xFFFFFFFF
        if off > len(buf):
            holes += 1
            buf.extend(b"\0" * (off - len(buf)))
        buf[off:off + len(b)] = b  # a retransmission overwrites the same bytes
    path = f"{tmp}/streams/s{d[0]}-{d[1]}-{d[2]}.bin"
    open(path, "wb").write(buf)
    per_stream[d] = path
    total += len(buf)

print(f"{len(streams)} TCP connections, {len(per_stream)} directions with payload, {total} payload bytes")
check("every connection touches a node port (control or data)",
      all(ports[s][0] in node_ports or ports[s][1] in node_ports for s in streams))
check(f"streams are complete ({holes} holes)", holes == 0)

bad_decode, bad_leak, no_hello = [], [], []
for d, path in sorted(per_stream.items()):
    b = open(path, "rb").read()
    ok, rc, err = decodes(path)
    kind = "data" if d[1] in data_ports or d[2] in data_ports else "control"
    initiator = syn_from.get(d[0]) == d[1]
    hello = b[4:8] == b"HYS1"
    lk = leaks(b)
    print(f"  stream {d[0]:>3} {d[1]:>5} -> {d[2]:<5} {kind:<7} {'initiator' if initiator else 'responder'} "
          f"{len(b):>10} bytes  capnp decode: {'DECODED' if ok else f'fails (rc {rc}: {err[:60]})'}"
          f"  leaks: {', '.join(lk) if lk else 'none'}")
    if ok: bad_decode.append(d)
    if lk: bad_leak.append((d, lk))
    if initiator and not hello: no_hello.append(d)
check(f"capnp decode reads no Envelope from any of {len(per_stream)} streams", not bad_decode)
no_syn = [s for s in streams if s not in syn_from]
check(f"every connection's SYN is in the capture ({len(no_syn)} are not)", not no_syn)
check(f"every initiator stream opens with the channel handshake 'HYS1' ({len(no_hello)} do not)", not no_hello)
check(f"no node id, key, address, role list or JSON in any stream ({len(needles)} needles + JSON keys)", not bad_leak)
data_bytes = sum(os.path.getsize(p) for d, p in per_stream.items() if d[1] in data_ports or d[2] in data_ports)
check(f"captured payload is substantial: {total} bytes > 1 MB", total > 1_000_000)
check(f"training went over the data-plane connection: {data_bytes} bytes > 1 MB", data_bytes > 1_000_000)
open(f"{tmp}/py-failures", "w").write(str(failures))
PYEOF
failures=$((failures + $(cat "$tmp/py-failures" 2>/dev/null || echo 1)))
finish
