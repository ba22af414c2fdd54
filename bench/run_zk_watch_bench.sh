#!/usr/bin/env bash
# Builds bench/zk_watch_bench optimized, runs it (N = 100, 1,000, 10,000 ZK C
# client sessions watching one node directly in one real ZooKeeper server)
# and writes its table into bench/RESULTS.md under
# "## ZooKeeper watch propagation", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --watchers=100,1000 --changes=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:zk_watch_bench

bench_run zk_watch_bench 1800 "$bin_dir/bench/zk_watch_bench" "$@"

bench_write "ZooKeeper watch propagation"
