#!/usr/bin/env bash
# Builds bench/replication_bench optimized, runs it (two local ZooKeeper
# servers as main and slave DC, config puts through ConfigStore, a
# Replicator in-process) and writes its table into bench/RESULTS.md under
# "## Replication", leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --seconds=5.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:replication_bench

bench_run --no-stderr replication_bench 900 "$bin_dir/bench/replication_bench" \
  "$@"

bench_write Replication \
  "Main -> slave DC only: commits go straight into the main ZooKeeper \
through ConfigStore (the leader's write path), not through the mandator \
HTTP API; the end-to-end figure (HTTP API -> slave DC -> agents) comes with \
the daemons."
