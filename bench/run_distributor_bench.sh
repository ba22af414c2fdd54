#!/usr/bin/env bash
# Builds bench/distributor_bench and the distributor daemon optimized, runs
# the benchmark (a real ZooKeeper with 100,000 keys of 1 KB, one distributor
# process, 10,000 agent connections in 2 child processes) and writes its
# table into bench/RESULTS.md under "## Distributor", leaving other sections
# alone. Extra arguments go to the benchmark, e.g. --sustain_seconds=5.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:distributor_bench \
  //distributor:distributor
bin_dir="$(bazel info -c opt bazel-bin)"

command="bench/run_distributor_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 1800 "$bin_dir/bench/distributor_bench" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@" >"$table" ||
  status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "distributor_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py Distributor "$table" "$command" "$status"
echo "wrote bench/RESULTS.md (## Distributor)"
exit "$status"
