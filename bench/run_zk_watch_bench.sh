#!/usr/bin/env bash
# Builds bench/zk_watch_bench optimized, runs it (N = 100, 1,000, 10,000 ZK C
# client sessions watching one node directly in one real ZooKeeper server)
# and writes its table into bench/RESULTS.md under
# "## ZooKeeper watch propagation", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --watchers=100,1000 --changes=5.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:zk_watch_bench
bin="$(bazel info -c opt bazel-bin)/bench/zk_watch_bench"

command="bench/run_zk_watch_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 1800 "$bin" "$@" >"$table" || status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "zk_watch_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py "ZooKeeper watch propagation" "$table" \
  "$command" "$status"
echo "wrote bench/RESULTS.md (## ZooKeeper watch propagation)"
exit "$status"
