#!/usr/bin/env bash
# Builds bench/wan_bench optimized, runs it (three local ZooKeeper servers as
# the main DC and two slave DCs, every byte between a slave's replicator and
# the main ZooKeeper through an emulated WAN link, tests/wan) and writes its
# tables into bench/RESULTS.md under "## Replication across WAN links",
# leaving other sections alone.
# Extra arguments are passed to the benchmark, e.g. --rtts_ms=50.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:wan_bench

bench_run --no-stderr wan_bench 1800 "$bin_dir/bench/wan_bench" "$@"

bench_write "Replication across WAN links" "Main -> slave DCs through emulated WAN links (userspace: the \
kernel here has no netem). Replication only: the writer commits straight \
into the main ZooKeeper through ConfigStore, and 'the slave holds it' is \
read from the slave DC's ZooKeeper, not from agents' files. The baseline is \
the previous replication algorithm, run in the same process on the same \
links."
