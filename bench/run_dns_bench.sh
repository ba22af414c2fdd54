#!/usr/bin/env bash
# Builds bench/dns_bench optimized, runs it (the agent's DNS server on one
# thread against a client thread over loopback UDP and TCP, next to a bare
# UDP echo server as the floor, and dnsperf as a cross-check) and writes its
# table into bench/RESULTS.md under "## DNS interface", leaving other
# sections alone. Extra arguments go to the benchmark.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:dns_bench

bench_run --no-stderr dns_bench 300 "$bin_dir/bench/dns_bench" "$@"

bench_write "DNS interface" \
  "Server CPU per query: the process's CPU time minus the client thread's \
(getrusage), over the answers. \"vs echo\": answered/s of the DNS phase over \
that of the echo floor under the same client and load. The paced phase \
offers a fixed rate, so its latency is the server's, not the client's \
window; under 2 busy cores the scheduler's delays show in the p99 of the \
echo floor as much as in the DNS server's, so compare the two. dnsperf is Debian's (package dnsperf, in scripts/setup.sh), one \
process against the same in-process server. Machine: $(nproc) cores, shared \
with other engineers' builds (noisy)."
