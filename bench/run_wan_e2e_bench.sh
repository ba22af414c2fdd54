#!/usr/bin/env bash
# End to end across emulated WAN links, over the real daemons: builds what
# `scripts/demo.sh --wan` runs (and bench/heartbeat_bench) optimized, starts
# the demo in the background (3 DCs in network namespaces behind
# tests/wan's wan_emulator, 1 ZooKeeper server per DC), runs
# bench/wan_e2e_bench.py against it, stops the demo (SIGTERM to its pid;
# it stops its own processes and removes its namespaces) and writes the
# tables into bench/RESULTS.md under "## End to end across WAN links",
# leaving other sections alone.
#
# NEEDS ROOT: the demo's --wan makes network namespaces, veths, an nft
# table and a host route to 10.77.0.0/16 for the duration of the run; the
# storm's client runs in a DC's namespace (ip netns exec).
#
# Extra arguments go to bench/wan_e2e_bench.py, e.g.
#   bench/run_wan_e2e_bench.sh --writes=10 --rtts_ms=0,50,150
# KEEP=1 keeps the scratch dir (demo logs) under /tmp/wan_e2e.*.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

if [[ "$(id -u)" -ne 0 ]]; then
  echo "run_wan_e2e_bench: needs root (scripts/demo.sh --wan: network namespaces)" >&2
  exit 2
fi
if [[ -n "$(ip route show 10.77.0.0/16 2>/dev/null)" ]]; then
  echo "run_wan_e2e_bench: a route to 10.77.0.0/16 exists: is another WAN demo running? (ip netns list)" >&2
  exit 2
fi

# The cluster launcher's runfiles hold the daemons, the WAN emulator and the
# sample programs.
targets=(//tests/cluster:kess_cluster //kessctl //bench:heartbeat_bench)
bench_build "${targets[@]}"

work="$(mktemp -d /tmp/wan_e2e.XXXXXX)"
base="$work/demo"
table="$work/table.md"
demo_pid=""
demo_status=""

# Stops the demo by its pid and waits for it (it needs up to ~15 s per
# group of its processes; SIGKILL only if it is still there after 120 s).
stop_demo() {
  [[ -n "$demo_pid" ]] || return 0
  if kill -0 "$demo_pid" 2>/dev/null; then
    echo "stopping the demo (pid $demo_pid)" >&2
    kill -TERM "$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 1200); do
      kill -0 "$demo_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$demo_pid" 2>/dev/null; then
      echo "the demo (pid $demo_pid) did not stop within 120 s: SIGKILL; see $work/demo.log" >&2
      kill -KILL "$demo_pid" 2>/dev/null || true
    fi
  fi
  demo_status=0
  wait "$demo_pid" 2>/dev/null || demo_status=$?
  demo_pid=""
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  stop_demo
  if [[ "${KEEP:-0}" == 1 || "$rc" -ne 0 ]]; then
    echo "kept $work (demo.log, storm_client.log)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "starting scripts/demo.sh --wan (log: $work/demo.log)" >&2
scripts/demo.sh --wan --no-build --bin-dir "$bin_dir" --zk-servers 1 \
  --base-dir "$base" >"$work/demo.log" 2>&1 &
demo_pid=$!
# The demo names its namespaces kd<its pid % 100000> (demo.sh: WAN_PREFIX).
netns_prefix="kd$(( demo_pid % 100000 ))"

# kess.env is written once every daemon, provider and consumer is up.
for _ in $(seq 1 3000); do
  [[ -s "$base/kess.env" ]] && break
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "the demo exited before it was up:" >&2
    tail -20 "$work/demo.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$base/kess.env" ]]; then
  echo "the demo was not up within 300 s:" >&2
  tail -20 "$work/demo.log" >&2
  exit 1
fi
grep -q "WAN: namespaces $netns_prefix-" "$work/demo.log" ||
  echo "warning: the demo's log does not name namespaces $netns_prefix-*" >&2

status=0
timeout 3600 python3 bench/wan_e2e_bench.py --base_dir="$base" \
  --netns_prefix="$netns_prefix" \
  --heartbeat_bench="$bin_dir/bench/heartbeat_bench" --log_dir="$work" \
  "$@" >"$table" || status=$?
stop_demo
if [[ "$demo_status" != 0 && "$demo_status" != 143 ]]; then
  echo "the demo exited with status $demo_status (see $work/demo.log)" >&2
fi
if grep -q "not a clean exit" "$work/demo.log"; then
  grep "not a clean exit" "$work/demo.log" >&2
fi
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "wan_e2e_bench produced no table (exit $status)" >&2
  exit 1
fi

bench_write "End to end across WAN links" \
  "Measured: the whole path through every real daemon of the demo \
(the dc1 leader's HTTP API and commit, ZooKeeper, the slave leaders' \
replication across the emulated links, distributors, agents writing their \
file caches), on one 2-core machine where all of them, the emulator and the \
driver compete for CPU (a few ms of every figure). Latency starts at the \
HTTP answer, after the commit. Bytes are TCP payload the emulator delivered \
on the dc1<->dc2 virtual links; the idle background (ZooKeeper pings, the \
replicators' 1 s poll, the main leader's route collection every second; \
no admin UI open) is the rate over an idle window just before the writes, \
scaled to the phase. The storm registers each instance with ONE mandator \
over raw kess.Register (the SDK registers with two); where the last \
registration falls in the main leader's 1 s cycle decides how long it \
waits, so a run lands anywhere between the floor (the collection, which \
waits for the slowest DC, + replication) and the bound (+ cycle + \
window); dc3's 1 % loss (a 200 ms stall per lost segment, head of line) \
can push it past the bound, since each version of a table crosses the link \
whole. Versions of a table about 2 s apart mean the cycle after a write \
did not write it again: the coalescing window had not quite elapsed at \
that cycle's flush. Not measured: packet-level WAN behaviour (the \
emulator works on byte streams: no reordering or congestion control), \
TCP headers, concurrent writers, large values, ZooKeeper ensembles of 3, \
the SDK's own registration, consumers reacting to the changes."
