#!/usr/bin/env bash
# Builds bench/config_write_bench and the mandator optimized, runs it (two
# DCs on this host: a ZooKeeper server and 3 mandator processes each; HTTP
# writes to the main leader; lag until the slave DC's ZooKeeper has them)
# and writes its table into bench/RESULTS.md under
# "## Config writes and replication", leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --seconds=10.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:config_write_bench //mandator

bench_run config_write_bench 900 "$bin_dir/bench/config_write_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" "$@"

bench_write "Config writes and replication" \
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
