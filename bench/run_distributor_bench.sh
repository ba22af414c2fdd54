#!/usr/bin/env bash
# Builds bench/distributor_bench and the distributor daemon optimized, runs
# the benchmark (a real ZooKeeper with 100,000 keys of 1 KB, one distributor
# process, 10,000 agent connections in 2 child processes) and writes its
# table into bench/RESULTS.md under "## Distributor", leaving other sections
# alone. Extra arguments go to the benchmark, e.g. --sustain_seconds=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:distributor_bench \
  //distributor:distributor

bench_run distributor_bench 1800 "$bin_dir/bench/distributor_bench" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@"

bench_write Distributor
