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
  # the agent's DNS interface (agent/dns/): packet codec
  libldns-dev
  # config value formats and JSON Schema checks (model/formats/)
  libyaml-cpp-dev nlohmann-json3-dev libvalijson-dev
  # io_uring, for the fan-out floor of bench/fanout_bench
  liburing-dev
  # real ZooKeeper servers for tests and the demo (needs a JRE)
  zookeeper default-jre-headless
  # test and fault tools
  python3 netcat-openbsd iproute2 procps curl fiu-utils faketime
  # dig, and dnsperf to cross-check the DNS benchmark (bench/dns_bench.cc)
  dnsutils dnsperf
  # the WAN emulator's router mode (tests/wan/wan_net.sh): nft redirect rules
  nftables
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # the admin UI's browser test: headless Chromium (driven by Node; node and
  # npm come with the machine, else Debian's nodejs and npm are installed)
  chromium
  # etcd for the side-by-side propagation benchmark (bench/etcd_watch_bench.py)
  etcd-server etcd-client
  # the language clients (clients/): their test runners
  python3-pytest golang-go default-jdk junit5
  # TLS in front of ZooKeeper (deploy/stunnel/) and package checks (deploy/)
  stunnel4 lintian
  # the Debian packages (deploy/): dpkg-shlibdeps and dpkg-parsechangelog,
  # systemd-analyze verify of the units, adduser for their install test
  dpkg-dev systemd adduser
  # promtool and prometheus: the alert rules' tests and the metrics scrape
  # test (deploy/prometheus/)
  prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# The browser test's Node packages (tests/ui/package-lock.json), once.
install_ui_test_modules() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/ui"
  if [ -d "$dir/node_modules/playwright-core" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  echo "setup: npm ci in tests/ui (playwright-core; it uses Debian's chromium)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  install_ui_test_modules
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_ui_test_modules
echo "setup: done"
