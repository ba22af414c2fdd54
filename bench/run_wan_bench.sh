#!/usr/bin/env bash
# Builds bench/wan_bench optimized, runs it (three local ZooKeeper servers as
# the main DC and two slave DCs, every byte between a slave's replicator and
# the main ZooKeeper through an emulated WAN link, tests/wan) and writes its
# tables into bench/RESULTS.md under "## Replication across WAN links",
# leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --rtts_ms=50.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:wan_bench
bin="$(bazel info -c opt bazel-bin)/bench/wan_bench"

command="bench/run_wan_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 1800 "$bin" "$@" >"$table" 2>/dev/null || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "wan_bench produced no table (exit $status)" >&2
  exit 1
fi

bench/results_section.py "Replication across WAN links" "$table" "$command" \
  "$status" "Main -> slave DCs through emulated WAN links (userspace: the \
kernel here has no netem). Replication only: the writer commits straight \
into the main ZooKeeper through ConfigStore, and 'the slave holds it' is \
read from the slave DC's ZooKeeper, not from agents' files. The baseline is \
the previous replication algorithm, run in the same process on the same \
links."
echo "wrote bench/RESULTS.md (## Replication across WAN links)"
exit "$status"
