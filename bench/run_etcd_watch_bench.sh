#!/usr/bin/env bash
# Runs bench/etcd_watch_bench.py (N = 100, 1,000, 10,000 watchers on one
# etcd server it starts on loopback; needs Debian's etcd-server, see
# scripts/setup.sh) and writes its table into bench/RESULTS.md under
# "## etcd watch propagation", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --watchers=100,1000 --changes=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_run etcd_watch_bench 1800 python3 bench/etcd_watch_bench.py "$@"

bench_write "etcd watch propagation"
