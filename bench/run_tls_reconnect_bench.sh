#!/usr/bin/env bash
# Builds bench/tls_reconnect_bench, the mandator and the distributor
# optimized, runs the benchmark (10,000 simulated TLS agents connecting at
# once to one distributor: first connect, reconnect with session tickets,
# after a distributor restart) and writes its table into bench/RESULTS.md
# under "## TLS reconnect storm", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --agents=1000.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:tls_reconnect_bench \
  //distributor:distributor //mandator

bench_run tls_reconnect_bench 1800 "$bin_dir/bench/tls_reconnect_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@"

bench_write "TLS reconnect storm"
