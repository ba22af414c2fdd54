#!/usr/bin/env bash
# Builds bench/dns_bench optimized, runs it (the agent's DNS server on one
# thread against a client thread over loopback UDP and TCP, next to a bare
# UDP echo server as the floor, and dnsperf as a cross-check) and writes its
# table into bench/RESULTS.md under "## DNS interface", leaving other
# sections alone. Extra arguments go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:dns_bench
bin="$(bazel info -c opt bazel-bin)/bench/dns_bench"

command="bench/run_dns_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 300 "$bin" "$@" >"$table" 2>/dev/null || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "dns_bench produced no table (exit $status)" >&2
  exit 1
fi

bench/results_section.py "DNS interface" "$table" "$command" "$status" \
  "Server CPU per query: the process's CPU time minus the client thread's \
(getrusage), over the answers. \"vs echo\": answered/s of the DNS phase over \
that of the echo floor under the same client and load. The paced phase \
offers a fixed rate, so its latency is the server's, not the client's \
window; under 2 busy cores the scheduler's delays show in the p99 of the \
echo floor as much as in the DNS server's, so compare the two. dnsperf is Debian's (package dnsperf, in scripts/setup.sh), one \
process against the same in-process server. Machine: $(nproc) cores, shared \
with other engineers' builds (noisy)."
echo "wrote bench/RESULTS.md (## DNS interface)"
exit "$status"
