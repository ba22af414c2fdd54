#!/usr/bin/env bash
# Builds bench/propagation_bench, the mandator and the distributor optimized,
# runs the benchmark (two DCs of real processes, 2 distributors per DC,
# 100, 1,000 and 10,000 simulated agents writing their file caches on tmpfs, and
# 1,000 on the real disk, each row with a sample of 20 real C++ SDK
# processes taking the changes on to a callback) and writes its tables into
# bench/RESULTS.md under "## Propagation (write to file)", leaving other
# sections alone. Extra arguments go to the benchmark, e.g. --changes=5
# --sdk_processes=20.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:propagation_bench \
  //distributor:distributor //mandator

bench_run propagation_bench 3600 "$bin_dir/bench/propagation_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@"

bench_write "Propagation (write to file)"
