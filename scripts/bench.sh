#!/usr/bin/env bash
# One command for every benchmark: setup, one optimized build of
# every benchmark target, then each bench/run_*.sh in turn (each rewrites its
# own section of bench/RESULTS.md), then the "Propagation, side by side"
# section from the propagation, ZooKeeper-watch and etcd-watch sections.
# Prints every table (and the side-by-side one last); exit 0 if every
# benchmark exited 0, else 1 (the failing ones are listed at the end).
#
#   scripts/bench.sh [quick|full]
#
# quick: smaller sizes and shorter phases, a few minutes; full: the target
# sizes (10,000 connections/agents/watchers), under an hour.
set -uo pipefail
cd "$(dirname "$0")/.."

size="${1:-quick}"
case "$size" in
  quick|full) ;;
  *) echo "usage: scripts/bench.sh [quick|full]" >&2; exit 64 ;;
esac

# Per benchmark: the runner and its flags for each size (full = defaults
# unless a flag is needed to bound the time).
declare -A QUICK FULL
RUNNERS=(transport replication wan wan_e2e distributor config_write heartbeat
  route_table route_delta discovery_storm sdk sdk_notify watch agent_footprint
  agent_registration propagation fanout attack zk_watch etcd_watch)
QUICK[transport]="--connections=2000 --rpc_seconds=2 --serial_calls=500 --push_rounds=5"
FULL[transport]=""
QUICK[replication]="--seconds=2"
FULL[replication]="--seconds=5"
QUICK[wan]="--rtts_ms=0,50,150 --singles=10 --bursts=1000 --drain=1000 --baseline_drain=10 --baseline_singles=3"
FULL[wan]=""
# The real daemons of scripts/demo.sh --wan (needs root; skipped otherwise).
QUICK[wan_e2e]="--writes=10 --rtts_ms=0,50,150 --storm_instances=1000 --storm_services=10"
FULL[wan_e2e]=""
QUICK[distributor]="--connections=1000 --keys_per_namespace=100 --rounds=5 --sustain_seconds=2"
FULL[distributor]="--sustain_seconds=5"
QUICK[config_write]="--seconds=2"
FULL[config_write]=""
QUICK[heartbeat]="--seconds=1"
FULL[heartbeat]=""
QUICK[route_table]="--instances=10000 --runs=2 --storm_instances=1000"
FULL[route_table]=""
# Services of 100 / 2,000 / 20,000 instances, two distributors side by side.
QUICK[route_delta]="--agents=50 --rounds=2"
FULL[route_delta]=""
QUICK[discovery_storm]="--instances=2000 --services=20"
FULL[discovery_storm]=""
QUICK[sdk]="--benchmark_min_time=0.1"
FULL[sdk]=""
QUICK[sdk_notify]="--changes=100 --poll_changes=10"
FULL[sdk_notify]=""
QUICK[watch]="--clients=1000 --rounds=5"
FULL[watch]=""
# The target phases (10 s idle, 20 s at 100 changes/s) take under a minute.
QUICK[agent_footprint]=""
FULL[agent_footprint]=""
# About 2 minutes at the defaults (50 + 50 registrations, 20 check trials).
QUICK[agent_registration]="--registrations=20 --check_trials=10"
FULL[agent_registration]=""
QUICK[propagation]="--agents=100,1000 --disk_agents= --changes=5"
FULL[propagation]="--agents=100,1000,10000"
# The distributors' fan-out against the kernel's floor, one DC, TLS; full
# has the scale row: 50,000 agents on 2 distributors (receive only, then
# writing and fsyncing their caches), beside 50 real agents (fewer agents
# where a process may not hold 25,000 fds; the table says how many).
QUICK[fanout]="--agents=1000,5000 --changes=5 --real_agents=10"
FULL[fanout]="--agents=10000,50000 --real_agents=50 --connect_batch=100"
# A distributor's agents under a connection flood and frame bombs; quick:
# 100 agents, about 25 s.
QUICK[attack]="--agents=100 --writes=60 --rounds=2 --settle_ms=2000"
FULL[attack]=""
QUICK[zk_watch]="--watchers=100,1000 --changes=5"
FULL[zk_watch]=""
QUICK[etcd_watch]="--watchers=100,1000 --changes=5"
FULL[etcd_watch]=""

start=$(date +%s)
echo "== setup"
if [[ "$(id -u)" -eq 0 ]] || sudo -n true 2>/dev/null; then
  scripts/setup.sh || exit 1
else
  echo "bench: not root and no sudo; assuming scripts/setup.sh was run"
fi

echo "== build (-c opt)"
# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild;
# each runner's own bazel build is then a no-op.
bazel build -c opt --symlink_prefix=/ //bench:all //mandator \
  //distributor:distributor //agent //kessctl \
  //tests/cluster:kess_cluster //tests/wan:wan_emulator \
  //sdk/examples:demo_provider //sdk/examples:demo_consumer || exit 1

failed=() skipped=()
for r in "${RUNNERS[@]}"; do
  if [[ "$size" == quick ]]; then flags="${QUICK[$r]}"; else flags="${FULL[$r]}"; fi
  script="bench/run_${r}_bench.sh"
  if [[ "$r" == wan_e2e && "$(id -u)" -ne 0 ]]; then
    echo
    echo "== $script: skipped (needs root: scripts/demo.sh --wan makes network namespaces)"
    skipped+=("$r")
    continue
  fi
  echo
  echo "== $script $flags ($(( $(date +%s) - start )) s elapsed)"
  # shellcheck disable=SC2086  # flags are words
  if ! "$script" $flags; then
    failed+=("$r")
  fi
done

echo
echo "== Propagation, side by side"
python3 bench/propagation_side_by_side.py "scripts/bench.sh $size" ||
  failed+=(side_by_side)

echo
echo "bench: $size run took $(( $(date +%s) - start )) s on $(nproc) cores;" \
  "bench/RESULTS.md updated"
if (( ${#skipped[@]} )); then
  echo "bench: skipped (not root): ${skipped[*]}"
fi
if (( ${#failed[@]} )); then
  echo "bench: reported errors: ${failed[*]}"
  exit 1
fi
