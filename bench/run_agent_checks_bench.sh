#!/usr/bin/env bash
# Builds bench/agent_checks_bench, the mandator, the distributor and the
# agent optimized, runs the benchmark (one DC of real processes; 1,000
# instances registered through the agent's API, each with an HTTP check
# every 10 s on local HTTP servers; the agent's CPU over 60 s once all are
# passing, beside its idle CPU) and writes its table into bench/RESULTS.md
# under "## Agent CPU with 1,000 checked instances", leaving other sections
# alone. Extra arguments go to the benchmark, e.g. --instances=200.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:agent_checks_bench \
  //mandator //distributor:distributor //agent

bench_run --no-stderr agent_checks_bench 900 \
  "$bin_dir/bench/agent_checks_bench" --bin_dir="$bin_dir" "$@"

bench_write "Agent CPU with 1,000 checked instances" \
  "CPU is user + system time of the agent process from /proc/<pid>/stat \
over the phase, as a percentage of one core. In the checked phase the \
agent runs every HTTP check (connect, request, read the answer, flap \
damping), reports check results that change to the mandators (none here: \
every check stays passing), and heartbeats every instance to the mandators \
every 5 s: one sdk::Registration per instance, all on one \
sdk::RegistrationPool (one connection per mandator, one batched \
kess.Heartbeat per mandator per interval). Machine: $(nproc) cores, shared \
with other engineers' builds (noisy)."
