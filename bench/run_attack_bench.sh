#!/usr/bin/env bash
# Builds bench/attack_bench, the mandator and the distributor optimized,
# runs the benchmark (a TLS distributor's simulated agents under a
# 1,000-connection flood and 50 frame-bomb threads, beside an unattacked
# baseline of the same run) and writes its tables into bench/RESULTS.md
# under "## Attack on a distributor", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --agents=100 --writes=20.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:attack_bench //distributor:distributor //mandator

bench_run attack_bench 1200 "$bin_dir/bench/attack_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@"

bench_write "Attack on a distributor"
