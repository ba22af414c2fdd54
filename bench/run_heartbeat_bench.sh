#!/usr/bin/env bash
# Builds bench/heartbeat_bench optimized, runs it (one scheduler pinned to
# one CPU, 100,000 instances, kess.Heartbeat batches of 1..1000) and writes
# its table into bench/RESULTS.md under "## Heartbeat ingest", leaving
# other sections alone. Extra arguments go to the benchmark, e.g.
# --seconds=10.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:heartbeat_bench
bin="$(bazel info -c opt bazel-bin)/bench/heartbeat_bench"

command="bench/run_heartbeat_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 900 "$bin" "$@" >"$table" || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "heartbeat_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py "Heartbeat ingest" "$table" "$command" \
  "$status" "Heartbeats/s counts instances refreshed (the scheduler's kess_scheduler_heartbeats_total); requests/s counts kess.Heartbeat calls. The SDK sends one instance per call; a process hosting many instances, or a future batching SDK, sends more. CPU is the whole benchmark process (scheduler + an idle driver thread), measured from /proc."
echo "wrote bench/RESULTS.md (## Heartbeat ingest)"
exit "$status"
