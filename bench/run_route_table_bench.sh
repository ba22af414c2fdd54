#!/usr/bin/env bash
# Builds bench/route_table_bench optimized, runs it (the merge of 100,000
# instances from 6 partial tables; a storm of 10,000 registrations through
# in-process schedulers and the leader's route loop into a local ZooKeeper)
# and writes its table into bench/RESULTS.md under "## Route table",
# leaving other sections alone. Extra arguments go to the benchmark.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:route_table_bench

bench_run --no-stderr route_table_bench 900 "$bin_dir/bench/route_table_bench" \
  "$@"

bench_write "Route table" \
  "Merge: the leader's Merge() alone on synthesized partial tables (each \
instance reported by 2 of 6 mandators, 20,000 hosts). Storm: end to end \
through 3 in-process schedulers (kess.Register over the transport, each \
instance to 2 of them, as the SDK does), the leader's RoutesRole (collect \
every cycle, merge, coalescing writer) and a real local ZooKeeper; the \
mandator processes and their HTTP layer are not involved. Machine: $(nproc) \
cores, shared with other builds (noisy). The target size is 100,000 \
instances (docs/design.md section 1; the default; \`scripts/bench.sh quick\` runs 10,000)."
