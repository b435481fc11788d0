#!/usr/bin/env bash
# Installs every Debian package Hydra needs to build, test and benchmark.
# Idempotent and non-interactive; skips apt entirely when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libcaf-dev libdnnl-dev ocl-icd-opencl-dev libtbb-dev
  libopenmpi-dev openmpi-bin capnproto libcapnp-dev libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libzstd-dev zlib1g-dev libreadline-dev libcairo2-dev
  dataset-fashion-mnist
  python3 python3-torch python3-numpy libopenblas0-pthread
  libonnx-dev libprotobuf-dev python3-onnx
  iproute2 procps tshark
  libcpp-httplib-dev libsystemd-dev curl chromium prometheus
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
