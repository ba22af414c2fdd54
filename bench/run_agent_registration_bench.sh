#!/usr/bin/env bash
# Builds bench/agent_registration_bench, the mandator, the distributor and
# the agent optimized, runs the benchmark (two DCs of real processes: 3
# mandators, 1 distributor and 2 agents per DC; (a) 50 registrations
# through the agent's API -> healthy in every agent's route file, against
# 50 C++ SDK Registrations in the same run as the floor; (b) 20 HTTP checks
# turning failing -> suspect/critical in every route file, against the
# bound interval + timeout + 2 s) and writes its table into
# bench/RESULTS.md under "## Registration through the agent", leaving other
# sections alone. Extra arguments go to the benchmark, e.g.
# --registrations=20.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:agent_registration_bench \
  //mandator //distributor:distributor //agent

bench_run --no-stderr agent_registration_bench 900 \
  "$bin_dir/bench/agent_registration_bench" --bin_dir="$bin_dir" "$@"

bench_write "Registration through the agent" \
  "Both kinds of registration end in the same place: the agent registers \
its instances with the SDK's own sdk::Registration, so the floor is that \
class called directly by the process, and \"vs floor\" is the agent's own \
share (its HTTP API, the state file written before the registration is \
applied, its loop). Both are dominated by the route-table leader's cycle \
(--route_cycle_ms) and the distributors' fan-out. (b) is measured from the \
moment /health starts answering 500 (a refused or hung server is the same \
path plus up to the check's timeout), so it is the check's phase (up to one \
interval), the result sent to the mandators, the route-table leader's cycle \
and the fan-out to every agent of both DCs. Percentiles are nearest-rank: \
with 50 (or 20) samples the p99 is the largest. Machine: $(nproc) cores, shared \
with other engineers' builds (noisy)."
