#!/usr/bin/env bash
# Installs every Debian package that building, testing and running kess needs.
# Idempotent: packages already installed are not touched, and apt's index is
# refreshed only when something is missing. Must run as root (or via sudo).
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ protobuf-compiler
  # libraries
  libzookeeper-mt-dev libpoco-dev libprotobuf-dev libgoogle-glog-dev
  libgflags-dev libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev
  # real ZooKeeper servers for tests and the demo (needs a JRE)
  zookeeper default-jre-headless
  # test and fault tools
  python3 netcat-openbsd iproute2 procps curl fiu-utils
  # etcd for the side-by-side propagation benchmark (bench/etcd_watch_bench.py)
  etcd-server etcd-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
