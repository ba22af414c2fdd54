#!/usr/bin/env bash
# Builds bench/discovery_storm_bench, the mandator, the distributor and the
# agent optimized, runs the benchmark (two DCs of real processes: 3
# mandators, 2 distributors and 3 agents per DC; 10,000 instances of 100
# services register within 1 s; time until every instance is in every
# agent's route files, and the ZooKeeper writes it took) and writes its
# table into bench/RESULTS.md under "## Discovery storm (end to end)",
# leaving other sections alone. Extra arguments go to the benchmark, e.g.
# --instances=2000.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:discovery_storm_bench \
  //mandator //distributor:distributor //agent

bench_run --no-stderr discovery_storm_bench 900 \
  "$bin_dir/bench/discovery_storm_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" \
  --agent_binary="$bin_dir/agent/agent" "$@"

bench_write "Discovery storm (end to end)" \
  "Time is measured from the last registration's acknowledgement to the \
newest write time (taken from the cache files themselves, so the \
benchmark's polling does not count) among the files that completed each \
agent's set. The in-process counterpart without processes, distributors \
or agents is \"## Route table\" (storm rows). The route loop's coalescing \
bounds the writes at services x windows; the slave DC's ZooKeeper receives \
the same records through replication."
