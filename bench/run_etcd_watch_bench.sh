#!/usr/bin/env bash
# Runs bench/etcd_watch_bench.py (N = 100, 1,000, 10,000 watchers on one
# etcd server it starts on loopback; needs Debian's etcd-server, see
# scripts/setup.sh) and writes its table into bench/RESULTS.md under
# "## etcd watch propagation", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --watchers=100,1000 --changes=5.
set -euo pipefail
cd "$(dirname "$0")/.."

command="bench/run_etcd_watch_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 1800 python3 bench/etcd_watch_bench.py "$@" >"$table" || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "etcd_watch_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py "etcd watch propagation" "$table" \
  "$command" "$status"
echo "wrote bench/RESULTS.md (## etcd watch propagation)"
exit "$status"
