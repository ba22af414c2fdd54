#!/usr/bin/env bash
# Builds bench/watch_bench optimized, runs it (N clients waiting in the
# agent's GET /v1/watch, one change at a time; the time from the file being
# durable to each whole answer at the client, beside the floor of one
# write(2) per socket to the same N clients in the same run) and writes its
# table into bench/RESULTS.md under "## Blocking watch (agent)", leaving
# other sections alone. Extra arguments go to the benchmark, e.g.
# --clients=1000 --rounds=10.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:watch_bench

bench_run watch_bench 900 "$bin_dir/bench/watch_bench" "$@"
footer="One server process: the agent's CacheUpdater writes the version (temp
file, fsync, rename, directory fsync), its on_written hook takes the time
and publishes to the WatchRegistry, and EventHttpServer (one epoll thread)
answers every waiting GET /v1/watch; the clients are one separate process
reading N non-blocking sockets on one epoll. The floor is the same two
processes with the server writing one canned response of the same size to
N plain TCP sockets: what any one-thread server and one-thread client pay
to move N answers through loopback. The target is a p99 within 50 ms of
the file being durable at N = 5,000; the ratio says how much the watch adds
to the floor."
bench_write "Blocking watch (agent)" "$footer"
