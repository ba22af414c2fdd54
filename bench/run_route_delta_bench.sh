#!/usr/bin/env bash
# Builds bench/route_delta_bench and the distributor daemon optimized, runs
# the benchmark (a real ZooKeeper, services of 100 / 2,000 / 20,000
# instances, two distributor processes side by side, one with route deltas
# and one with --route_deltas=false, 100 simulated agents on each) and
# writes its tables into bench/RESULTS.md under "## Route deltas", leaving
# other sections alone. Extra arguments go to the benchmark, e.g.
# --agents=500 --rounds=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:route_delta_bench \
  //distributor:distributor

bench_run route_delta_bench 1800 "$bin_dir/bench/route_delta_bench" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@"

bench_write "Route deltas"
