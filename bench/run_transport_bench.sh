#!/usr/bin/env bash
# Builds bench/transport_bench optimized, runs it (10,000 connections to one
# server; clients in 2 child processes) and writes its table into
# bench/RESULTS.md under "## Transport", leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --rpc_seconds=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:transport_bench

bench_run transport_bench 900 "$bin_dir/bench/transport_bench" "$@"

bench_write Transport
