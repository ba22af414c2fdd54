#!/usr/bin/env bash
# Builds bench/propagation_bench, the mandator and the distributor optimized,
# runs the propagation benchmark twice in one run: a cluster on the plain
# wire, then a cluster with TLS on every transport link (the simulated
# agents TLS clients of the cluster's CA), 10,000 simulated agents on tmpfs
# by default, and writes its tables into bench/RESULTS.md under
# "## Propagation with and without TLS", leaving other sections alone.
# Extra arguments go to the benchmark, e.g. --agents=1000 --changes=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:propagation_bench \
  //distributor:distributor //mandator

bench_run propagation_bench 3600 "$bin_dir/bench/propagation_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" \
  --transports=plain,tls --agents=10000 --disk_agents= --sdk_processes=0 \
  --changes=10 "$@"

bench_write "Propagation with and without TLS"
