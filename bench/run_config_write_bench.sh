#!/usr/bin/env bash
# Builds bench/config_write_bench and the mandator optimized, runs it (two
# DCs on this host: a ZooKeeper server and 3 mandator processes each; HTTP
# writes to the main leader; lag until the slave DC's ZooKeeper has them)
# and writes its table into bench/RESULTS.md under
# "## Config writes and replication", leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --seconds=10.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:config_write_bench //mandator
bin_dir="$(bazel info -c opt bazel-bin)"

command="bench/run_config_write_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 900 "$bin_dir/bench/config_write_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" "$@" >"$table" || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "config_write_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py "Config writes and replication" "$table" \
  "$command" "$status" \
  "Acked writes/s counts HTTP answers 200; commits/s is how far the main \
revision moved (one commit per write, or one per coalesced group of \
same-key puts); coalesced is the share of answers whose commit carried \
other callers' puts too. Lag ack -> slave is the lag a writer sees (HTTP \
answer -> revision visible in the slave ZooKeeper); 0 means the slave had \
it before the client thread got its answer, since every process shares the \
host's cores. Lag commit -> slave commit compares the creation times of the \
change record in both ZooKeepers (same clock, 1 ms steps), free of client \
scheduling. Host CPU busy counts everything running on the host. The \
replicator alone (in-process, no HTTP or daemons) is measured under \
Replication."
echo "wrote bench/RESULTS.md (## Config writes and replication)"
exit "$status"
