#!/usr/bin/env bash
# Builds bench/heartbeat_bench optimized, runs it (one scheduler pinned to
# one CPU, 100,000 instances, kess.Heartbeat batches of 1..1000) and writes
# its table into bench/RESULTS.md under "## Heartbeat ingest", leaving
# other sections alone. Extra arguments go to the benchmark, e.g.
# --seconds=10.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:heartbeat_bench

bench_run heartbeat_bench 900 "$bin_dir/bench/heartbeat_bench" "$@"

bench_write "Heartbeat ingest" "Heartbeats/s counts instances refreshed (the scheduler's kess_scheduler_heartbeats_total); requests/s counts kess.Heartbeat calls. The SDK sends one instance per call; a process hosting many instances, or a future batching SDK, sends more. CPU is the whole benchmark process (scheduler + an idle driver thread), measured from /proc."
