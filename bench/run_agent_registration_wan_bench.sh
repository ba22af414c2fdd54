#!/usr/bin/env bash
# bench/run_agent_registration_bench.sh with a WAN profile between the DCs:
# dc2's mandators reach dc1's ZooKeeper through tests/wan links with
# --wan_profile (default delay=25ms,jitter=2ms: about 50 ms round trips)
# both ways. Writes its table into bench/RESULTS.md under "## Registration
# through the agent, WAN profile", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --registrations=20
# --wan_profile=delay=40ms.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:agent_registration_bench \
  //mandator //distributor:distributor //agent

bench_run --no-stderr agent_registration_bench 1200 \
  "$bin_dir/bench/agent_registration_bench" --bin_dir="$bin_dir" \
  --wan_profile=delay=25ms,jitter=2ms "$@"

bench_write "Registration through the agent, WAN profile" \
  "The same benchmark as \"Registration through the agent\" with the WAN \
emulator (tests/wan) on the link that carries the route tables to dc2: \
dc2's mandators read and watch dc1's ZooKeeper through it. dc1's mandators \
still read dc2's ensemble directly (the cluster has no emulated link there), \
so an instance registered in dc2 reaches dc1's table without the WAN delay \
and comes back to dc2's agents through it. Machine: $(nproc) cores, shared \
with other engineers' builds (noisy)."
