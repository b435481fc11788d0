#!/usr/bin/env bash
# End-to-end checks of `hydra train` as a user meets it: results, bad flags,
# bad data, determinism, the TOML config. Usage: train_cli.sh BUILD_DIR SRC_DIR
set -uo pipefail
hydra="$1/hydra"
src="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

check() {  # check NAME COND...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
json_get() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

# 1. A short run prints one JSON object with every promised key.
out=$("$hydra" train --model mlp --limit 3000 --epochs 1 --threads 1 --json -q 2>"$tmp/err")
check "json run exits 0" test $? -eq 0
for key in model epochs batch threads train_samples_per_second test_accuracy final_loss weights_hash; do
  check "json has $key" /usr/bin/python3 -c "import json,sys; assert '$key' in json.loads(sys.argv[1])" "$out"
done
acc=$(echo "$out" | json_get test_accuracy)
check "3000 samples learn something (acc $acc > 0.4, chance is 0.1)" /usr/bin/python3 -c "assert $acc > 0.4"

# 2. Same seed twice -> same weights; another seed -> other weights.
h1=$(echo "$out" | json_get weights_hash)
h2=$("$hydra" train --model mlp --limit 3000 --threads 1 --json -q | json_get weights_hash)
h3=$("$hydra" train --model mlp --limit 3000 --threads 1 --seed 2 --json -q | json_get weights_hash)
check "same seed, same weights_hash" test "$h1" = "$h2"
check "other seed, other weights_hash" test "$h1" != "$h3"

# 2b. Inputs are standardised by default with the training set's statistics
# (the first 3000 Fashion-MNIST images: mean ~0.29, std ~0.35); --no-standardize
# trains on [0, 1] pixels and gives other weights.
std=$(echo "$out" | json_get standardize)
mean=$(echo "$out" | json_get input_mean)
sd=$(echo "$out" | json_get input_std)
check "standardised by default (standardize=$std)" test "$std" = "True"
check "input mean $mean and std $sd are the data's" /usr/bin/python3 -c "assert 0.2 < $mean < 0.4 and 0.25 < $sd < 0.45"
raw=$("$hydra" train --model mlp --limit 3000 --threads 1 --no-standardize --json -q)
check "--no-standardize: mean 0, std 1" test "$(echo "$raw" | json_get input_mean)/$(echo "$raw" | json_get input_std)" = "0.0/1.0"
check "--no-standardize trains other weights" test "$(echo "$raw" | json_get weights_hash)" != "$h1"

# 3. Bad flags: a clear message and a non-zero exit, never a crash.
expect_error() {  # expect_error NAME PATTERN ARGS...
  local name=$1 pattern=$2; shift 2
  "$hydra" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  check "$name exits non-zero (rc $rc)" test $rc -ne 0 -a $rc -lt 128
  check "$name says '$pattern'" grep -qi -- "$pattern" "$tmp/err" "$tmp/out"
}
expect_error "unknown flag" "--bogus" train --bogus
expect_error "bad model" "resnet" train --model resnet
expect_error "negative lr" "lr" train --lr -1
expect_error "zero batch" "batch" train --batch 0
expect_error "non-number epochs" "epochs" train --epochs many
expect_error "no subcommand" "subcommand" 
expect_error "missing data dir" "$tmp/nowhere" train --data "$tmp/nowhere" -q
check "--help works" bash -c "\"$hydra\" train --help | grep -q -- --epochs"

# 4. A corrupt dataset gets a message naming the file; nothing is trained.
mkdir "$tmp/bad"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  cp /usr/share/datasets/fashion-mnist/$f.gz "$tmp/bad/"
done
head -c 100000 /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz > "$tmp/bad/train-images-idx3-ubyte.gz"
expect_error "truncated gzip" "train-images-idx3-ubyte.gz" train --data "$tmp/bad" -q
printf 'garbage' > "$tmp/bad/train-images-idx3-ubyte.gz"
expect_error "garbage file" "train-images-idx3-ubyte.gz" train --data "$tmp/bad" -q

# 5. The TOML config sets options; flags override it.
cat > "$tmp/h.toml" <<TOML
[train]
model = "mlp"
batch = 32
limit = 640
threads = 1
TOML
out=$("$hydra" --config "$tmp/h.toml" train --json -q)
check "config sets batch" test "$(echo "$out" | json_get batch)" = 32
out=$("$hydra" --config "$tmp/h.toml" train --batch 16 --json -q)
check "flag overrides config" test "$(echo "$out" | json_get batch)" = 16
check "example config parses" "$hydra" --config "$src/deploy/hydra.example.toml" train --limit 640 --threads 1 -q

echo "$failures failure(s)"
test $failures -eq 0
