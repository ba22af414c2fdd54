#!/usr/bin/env bash
# Builds bench/transport_bench optimized, runs it (10,000 connections to one
# server; clients in 2 child processes) and writes its table into
# bench/RESULTS.md under "## Transport", leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --rpc_seconds=5.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:transport_bench
bin="$(bazel info -c opt bazel-bin)/bench/transport_bench"

command="bench/run_transport_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 900 "$bin" "$@" >"$table" || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "transport_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py Transport "$table" "$command" "$status"
echo "wrote bench/RESULTS.md (## Transport)"
exit "$status"
