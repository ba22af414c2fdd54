#!/usr/bin/env bash
# Builds bench/agent_footprint_bench, its SDK process, the mandator, the
# distributor and the agent optimized, runs the benchmark (1 ZooKeeper, 1
# mandator, 1 distributor and one real agent subscribed to 100 keys; the
# agent's and an SDK process's RSS and CPU idle for 10 s and at 100
# changes/s for 20 s) and writes its table into bench/RESULTS.md under
# "## Agent and SDK footprint", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --load_seconds=10.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:agent_footprint_bench \
  //bench:agent_footprint_sdk //distributor:distributor //mandator //agent

bench_run agent_footprint_bench 600 "$bin_dir/bench/agent_footprint_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" \
  --agent_binary="$bin_dir/agent/agent" \
  --sdk_binary="$bin_dir/bench/agent_footprint_sdk" "$@"

bench_write "Agent and SDK footprint"
