#!/usr/bin/env bash
# Builds bench/fanout_bench, the mandator, the distributor and the agent
# optimized, runs the benchmark (one DC: 2 distributors, 50 real agents and
# 1,000 and 10,000 simulated agents that only receive, then write and fsync
# their caches; TLS; the kernel's floor of the same fan-out in the same run)
# and writes its tables into bench/RESULTS.md under "## Fan-out against the
# floor", leaving other sections alone. Extra arguments go to the
# benchmark, e.g. --agents=50000 --modes=receive --transports=tls,plain.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:fanout_bench //distributor:distributor //mandator //agent

bench_run fanout_bench 7200 "$bin_dir/bench/fanout_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" \
  --agent_binary="$bin_dir/agent/agent" "$@"

bench_write "Fan-out against the floor"
