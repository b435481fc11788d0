#!/usr/bin/env bash
# Each node of a running 4-node demo serves /metrics and a status page
# (hydra node --metrics; the demo gives every node a free loopback port).
# During training:
#   - every metric of issue 13's list is on every node, and `promtool check
#     metrics` finds nothing wrong with the page;
#   - headless Chromium loads node 0's status page, and the DOM it rendered
#     (after its script ran) lists the 4 members alive and draws a loss curve
#     with points; a screenshot is kept in BUILD_DIR/tests/status_page.png.
# Once the job is done (the nodes stay while contributions are scored), each
# node's metrics agree with its result.json (samples, rounds, bytes sent,
# test accuracy), and the demo's JSON agrees with them.
# Usage: status_page.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
shot="$1/tests/status_page.png"
source "$(dirname "$0")/lib.sh"
for tool in curl promtool chromium; do
  command -v $tool >/dev/null || { echo "FAIL $tool is not installed (deploy/install-deps.sh)"; exit 1; }
done

job="$tmp/job"
"$hydra" demo --nodes 4 --epochs 3 --limit 6000 --state "$job" --contributors honest:1,garbage:1 --json \
  >"$tmp/demo.json" 2>"$tmp/demo.err" &
demo=$!
for _ in $(seq 1 1200); do
  n=$(ls "$job"/node-*/metrics_address 2>/dev/null | wc -l)
  [ "$n" -ge 4 ] && break
  sleep 0.05
done
check "all 4 nodes serve metrics (STATE/metrics_address)" test "$(ls "$job"/node-*/metrics_address 2>/dev/null | wc -l)" -ge 4
declare -a maddr
for i in 0 1 2 3; do maddr[$i]=$(cat "$job/node-$i/metrics_address" 2>/dev/null); done
echo "metrics: ${maddr[*]}"

# Wait until node 0 has trained a while: loss curve with >= 5 points.
for _ in $(seq 1 1200); do
  pts=$(curl -sf "http://${maddr[0]}/api/status" | $py -c "import json,sys; d=json.load(sys.stdin); print(len((d.get('train') or {}).get('loss_curve', [])))" 2>/dev/null)
  [ "${pts:-0}" -ge 5 ] && break
  sleep 0.1
done
check "node 0's status JSON has a loss curve while training (${pts:-0} points)" test "${pts:-0}" -ge 5

for i in 0 1 2 3; do curl -sf "http://${maddr[$i]}/metrics" >"$tmp/during-$i.prom"; done
$py - "$tmp" <<'PYEOF'
import re, sys
tmp = sys.argv[1]
required = ["hydra_build_info", "hydra_node_up", "hydra_peers", "hydra_cpu_limit_ratio",
            "hydra_certificate_expiry_seconds", "hydra_network_transmit_bytes_total",
            "hydra_network_receive_bytes_total", "hydra_contributions_total", "hydra_contributions_pending",
            "hydra_ledger_entries", "hydra_ledger_replicas", "hydra_ledger_pending_acks",
            "hydra_train_step", "hydra_train_samples_total", "hydra_train_samples_per_second", "hydra_train_loss",
            "hydra_train_round_seconds", "hydra_train_rounds_total", "hydra_allreduce_seconds_total",
            "hydra_train_failed_rounds_total", "hydra_train_group_reforms_total", "hydra_train_world"]
bad = 0
for i in range(4):
    text = open(f"{tmp}/during-{i}.prom").read()
    names = set(re.findall(r"^([a-z_]+)(?:\{|\s)", text, re.M))
    missing = [r for r in required if r not in names]
    alive = re.search(r'^hydra_peers\{state="alive"\} (\S+)$', text, re.M)
    p2p = re.search(r'^hydra_network_transmit_bytes_total\{backend="p2p",link_class="loopback"\} (\S+)$', text, re.M)
    step = re.search(r"^hydra_train_step (\S+)$", text, re.M)
    print(f"node {i}: {len(names)} metric names, missing {missing or 'none'}, peers alive "
          f"{alive.group(1) if alive else '?'}, p2p bytes {p2p.group(1) if p2p else '?'}, step {step.group(1) if step else '?'}")
    if missing or not alive or float(alive.group(1)) != 3 or not p2p or float(p2p.group(1)) <= 0:
        bad += 1
print("ok   every node serves every metric, sees 3 peers alive and has sent p2p bytes" if not bad else
      f"FAIL {bad} node(s) lack a metric, a peer or p2p bytes")
sys.exit(1 if bad else 0)
PYEOF
[ $? -eq 0 ] || failures=$((failures + 1))
check "promtool check metrics: node 0's page is clean" bash -c "promtool check metrics <'$tmp/during-0.prom' 2>&1 | tee '$tmp/promtool.out'; ! test -s '$tmp/promtool.out'"

# The status page in a real browser: the DOM after the script ran.
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
        --user-data-dir="$tmp/chrome" --virtual-time-budget=4000 --window-size=1400,1100)
timeout 60 "${chrome[@]}" --dump-dom "http://${maddr[0]}/" >"$tmp/dom.html" 2>"$tmp/chrome.err"
timeout 60 "${chrome[@]}" --screenshot="$shot" "http://${maddr[0]}/" >/dev/null 2>>"$tmp/chrome.err"
$py - "$tmp/dom.html" "$shot" <<'PYEOF'
import re, sys, os
dom = open(sys.argv[1]).read()
fails = 0
def check(name, ok):
    global fails
    print(("ok   " if ok else "FAIL ") + name)
    fails += 0 if ok else 1
rows = re.findall(r'<tr data-state="(\w+)" data-self="(\w+)">', dom)
check(f"the page lists the members: {len(rows)} rows, {sum(s == 'alive' for s, _ in rows)} alive, "
      f"{sum(me == 'true' for _, me in rows)} marked as this node", len(rows) >= 4 and
      sum(s == "alive" for s, _ in rows) >= 4 and sum(me == "true" for _, me in rows) == 1)
m = re.search(r'<svg id="loss-chart"[^>]*>(.*?)</svg>', dom, re.S)
series = re.search(r'<path class="series" data-series="loss" data-points="(\d+)"[^>]*d="M[\d. L]+"', m.group(1)) if m else None
check(f"the loss chart draws a curve ({series.group(1) if series else 0} points)", bool(series) and int(series.group(1)) >= 2)
step = re.search(r'<span id="job-step">(\d+) / (\d+)</span>', dom)
check(f"the job shows its step ({step.group(0) if step else 'none'})", bool(step) and int(step.group(2)) > 0)
check("the page says when it updated (its script ran)", bool(re.search(r'<span id="updated"[^>]*>updated ', dom)))
size = os.path.getsize(sys.argv[2]) if os.path.exists(sys.argv[2]) else 0
check(f"a screenshot was taken ({size} bytes, {sys.argv[2]})", size > 20000)
sys.exit(1 if fails else 0)
PYEOF
[ $? -eq 0 ] || { failures=$((failures + 1)); tail -5 "$tmp/chrome.err"; }

# The job is done: the nodes stay while the demo finishes scoring, so their
# final figures can be read and compared with what they wrote.
for _ in $(seq 1 3600); do
  [ "$(ls "$job"/node-*/result.json 2>/dev/null | wc -l)" -ge 4 ] && break
  kill -0 $demo 2>/dev/null || break
  sleep 0.05
done
for i in 0 1 2 3; do curl -sf "http://${maddr[$i]}/metrics" >"$tmp/after-$i.prom" || echo "(node $i: no answer after its job)"; done
wait $demo
demo_rc=$?
check "the demo succeeded (rc $demo_rc)" test $demo_rc -eq 0
[ $demo_rc -eq 0 ] || tail -20 "$tmp/demo.err"
$py - "$tmp" "$job" <<'PYEOF'
import json, re, sys
tmp, job = sys.argv[1], sys.argv[2]
demo = json.load(open(f"{tmp}/demo.json"))
bad = 0
for i in range(4):
    r = json.load(open(f"{job}/node-{i}/result.json"))
    text = open(f"{tmp}/after-{i}.prom").read()
    def val(pat):
        m = re.search("^" + pat + r" (\S+)$", text, re.M)
        return float(m.group(1)) if m else None
    got = {"samples": val("hydra_train_samples_total"), "rounds": val("hydra_train_rounds_total"),
           "bytes_sent": val(r'hydra_network_transmit_bytes_total\{backend="p2p",link_class="loopback"\}'),
           "test_accuracy": val("hydra_train_test_accuracy_ratio")}
    ok = all(got[k] is not None and abs(got[k] - float(r[k])) <= 1e-9 * max(1, abs(float(r[k]))) for k in got)
    ok = ok and val("hydra_train_active") == 0 and val("hydra_train_step") == val("hydra_train_steps")
    print(f"node {i}: metrics {got} vs result.json "
          f"{ {k: r[k] for k in got} }: {'agree' if ok else 'DIFFER'}")
    bad += 0 if ok else 1
    if i == 0 and abs(float(r["samples"]) - float(demo["samples"])) > 0:
        print(f"demo JSON samples {demo['samples']} != node 0's {r['samples']}")
        bad += 1
print("ok   every node's final metrics agree with its result.json and the demo's JSON" if not bad else
      f"FAIL {bad} disagreement(s)")
sys.exit(1 if bad else 0)
PYEOF
[ $? -eq 0 ] || failures=$((failures + 1))

# The demo drew the job's curves at the end (hydra plot's figure).
$py - "$job/training.svg" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print(f"FAIL the demo's plot {sys.argv[1]} does not parse: {e}"); sys.exit(1)
lines = [el for el in root.iter() if el.get("class") == "series"]
per = {}
for el in lines:
    per.setdefault(el.get("data-panel"), set()).add(el.get("data-series"))
want = ["loss-samples", "loss-time", "accuracy-samples", "round-samples"]
ok = all(len(per.get(p, ())) == 4 for p in want)
print(("ok   " if ok else "FAIL ") + f"the demo's plot has a line per node in each panel: " +
      ", ".join(f"{p} {len(per.get(p, ()))}" for p in want))
sys.exit(0 if ok else 1)
PYEOF
[ $? -eq 0 ] || failures=$((failures + 1))
finish
