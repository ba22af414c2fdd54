#!/usr/bin/env bash
# Builds bench/replication_bench optimized, runs it (two local ZooKeeper
# servers as main and slave DC, config puts through ConfigStore, a
# Replicator in-process) and writes its table into bench/RESULTS.md under
# "## Replication", leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --seconds=5.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:replication_bench
bin="$(bazel info -c opt bazel-bin)/bench/replication_bench"

command="bench/run_replication_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 900 "$bin" "$@" >"$table" 2>/dev/null || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "replication_bench produced no table (exit $status)" >&2
  exit 1
fi

bench/results_section.py Replication "$table" "$command" "$status" \
  "Main -> slave DC only: commits go straight into the main ZooKeeper \
through ConfigStore (the leader's write path), not through the mandator \
HTTP API; the end-to-end figure (HTTP API -> slave DC -> agents) comes with \
the daemons."
echo "wrote bench/RESULTS.md (## Replication)"
exit "$status"
