#!/usr/bin/env bash
# `hydra plot` as a user meets it: two nodes' state folders (train.log with
# junk and a torn last line, rounds.log) -> one SVG that parses, with the
# expected series per panel; a job folder of node folders; PNG when built
# with cairo; bad input (missing folder, .jpg, no logs) fails with a clear
# message and writes nothing. Usage: plot_cli.sh BUILD_DIR
set -uo pipefail
hydra="$1/hydra"
source "$(dirname "$0")/lib.sh"

# make_state DIR STEPS EVALS ROUND_S(yes|no): a node's logs, like a trainer's.
make_state() {
  $py - "$@" <<'PY'
import json, os, sys
d, steps, evals, with_round = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "yes"
os.makedirs(d, exist_ok=True)
t0 = 1764655000.0
with open(os.path.join(d, "train.log"), "w") as f, open(os.path.join(d, "rounds.log"), "w") as r:
    for s in range(1, steps + 1):
        line = {"t": t0 + 0.5 * s, "step": s, "total": steps, "epoch": 0, "loss": 2.0 / s,
                "samples": 64 * s, "samples_per_s": 5000.0, "world": 2}
        if with_round:
            line["round_s"] = 0.01 + 0.001 * (s % 7)
        f.write(json.dumps(line) + "\n")
        r.write("%d %.6f %.6f\n" % (s, 0.02 + 0.001 * (s % 5), 0.015))
        if s % (steps // evals) == 0:
            f.write(json.dumps({"t": t0 + 0.5 * s + 0.1, "step": s, "samples": 64 * s,
                                "test_accuracy": 0.5 + 0.4 * s / steps}) + "\n")
PY
}

make_state "$tmp/A" 50 5 yes
printf 'not json at all\n' >>"$tmp/A/train.log"
printf '{"t": 1764655100.0, "step": 51, "loss": 0.0' >>"$tmp/A/train.log"  # torn by a crash
make_state "$tmp/B" 40 4 no

# check_svg FILE 'name:panel:points ...': the SVG parses and holds exactly
# these series (class="series"), with these point counts.
check_svg() {
  $py - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
got = {}
for el in root.iter():
    if el.get("class") == "series":
        key = (el.get("data-series"), el.get("data-panel"))
        assert key not in got, "duplicate series %s" % (key,)
        got[key] = len(el.get("points").split())
want = {}
for item in sys.argv[2].split():
    name, panel, n = item.rsplit(":", 2)
    want[(name, panel)] = int(n)
if got != want:
    print("series differ:\n got  %s\n want %s" % (sorted(got.items()), sorted(want.items())))
    sys.exit(1)
PY
}

# 1. Two state folders -> one SVG: six panels, one line per node in each.
"$hydra" plot "$tmp/A" "$tmp/B" --out "$tmp/out/x.svg" >"$tmp/stdout" 2>"$tmp/stderr"
check "an output folder that does not exist is an error (rc $?)" grep -qF "$tmp/out/x.svg: cannot write" "$tmp/stderr"
mkdir -p "$tmp/out"
"$hydra" plot "$tmp/A" "$tmp/B" --out "$tmp/out/x.svg" --title 'Run <A> & B' >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
cat "$tmp/stdout" "$tmp/stderr"
check "plot exits 0 (rc $rc)" test $rc -eq 0
check "the SVG is written" test -s "$tmp/out/x.svg"
check "the SVG parses and has the expected series and points" check_svg "$tmp/out/x.svg" "
  A:loss-samples:50 A:loss-time:50 A:accuracy-samples:5 A:accuracy-time:5 A:round-samples:50 A:round-time:50
  B:loss-samples:40 B:loss-time:40 B:accuracy-samples:4 B:accuracy-time:4 B:round-samples:40 B:round-time:40"
check "the title is escaped" grep -q 'Run &lt;A&gt; &amp; B' "$tmp/out/x.svg"
check "it says where it wrote, series and points" grep -q "wrote $tmp/out/x.svg: 2 runs, 12 series, 378 points" "$tmp/stdout"
check "it counts the skipped lines" grep -q "2 lines skipped" "$tmp/stdout"
check "it names the log with skipped lines" grep -q "A/train.log: skipped 2 lines (first: line 56)" "$tmp/stderr"
check "no temporary file is left" test "$(ls -A "$tmp/out")" = "x.svg"

# 2. A job folder: one line per node folder, named after it.
mkdir -p "$tmp/job"
make_state "$tmp/job/node-0" 20 2 yes
make_state "$tmp/job/node-1" 20 2 yes
"$hydra" plot "$tmp/job" --out "$tmp/job.svg" >"$tmp/stdout" 2>&1
check "a job folder plots (rc $?)" test -s "$tmp/job.svg"
check "a job folder gives one series per node folder" check_svg "$tmp/job.svg" "
  node-0:loss-samples:20 node-0:loss-time:20 node-0:accuracy-samples:2 node-0:accuracy-time:2
  node-0:round-samples:20 node-0:round-time:20
  node-1:loss-samples:20 node-1:loss-time:20 node-1:accuracy-samples:2 node-1:accuracy-time:2
  node-1:round-samples:20 node-1:round-time:20"

# 3. PNG: an image when built with cairo, otherwise a clear refusal.
if "$hydra" plot "$tmp/A" --out "$tmp/x.png" >"$tmp/stdout" 2>"$tmp/stderr"; then
  check "the PNG starts with the PNG signature" $py -c "import sys; assert open(sys.argv[1],'rb').read(8) == b'\x89PNG\r\n\x1a\n'" "$tmp/x.png"
else
  check "no PNG support names .svg" grep -q "\.svg" "$tmp/stderr"
  check "no PNG support writes nothing" test ! -e "$tmp/x.png"
fi

# 4. Bad input: a non-zero exit, a message naming the problem, no file.
expect_error() {  # expect_error NAME PATTERN OUT ARGS...
  local name=$1 pattern=$2 out=$3
  shift 3
  "$hydra" plot "$@" --out "$out" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  cat "$tmp/stderr"
  check "$name exits non-zero (rc $rc)" test $rc -ne 0 -a $rc -lt 128
  check "$name says '$pattern'" grep -qF -- "$pattern" "$tmp/stderr"
  check "$name writes nothing" test ! -e "$out"
}
mkdir -p "$tmp/bad" "$tmp/bare"
expect_error "missing folder" "$tmp/nowhere: no such folder" "$tmp/bad/a.svg" "$tmp/A" "$tmp/nowhere"
expect_error ".jpg output" "unknown extension '.jpg' (supported: .svg" "$tmp/bad/a.jpg" "$tmp/A"
expect_error "folder without logs" "no logs found in $tmp/bare" "$tmp/bad/b.svg" "$tmp/bare"
check "bad input leaves the output folder empty" test -z "$(ls -A "$tmp/bad")"
"$hydra" plot "$tmp/A" >"$tmp/stdout" 2>&1
check "--out is required" grep -q -- "--out" "$tmp/stdout"
check "--help works" bash -c "\"$hydra\" plot --help | grep -q -- --title"

finish
