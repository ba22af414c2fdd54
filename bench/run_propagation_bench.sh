#!/usr/bin/env bash
# Builds bench/propagation_bench, the mandator and the distributor optimized,
# runs the benchmark (two DCs of real processes, 2 distributors per DC,
# 100, 1,000 and 10,000 simulated agents writing their file caches on tmpfs, and
# 1,000 on the real disk, each row with a sample of 20 real C++ SDK
# processes taking the changes on to a callback) and writes its tables into
# bench/RESULTS.md under "## Propagation (write to file)", leaving other
# sections alone. Extra arguments go to the benchmark, e.g. --changes=5
# --sdk_processes=20.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:propagation_bench \
  //distributor:distributor //mandator
bin_dir="$(bazel info -c opt bazel-bin)"

command="bench/run_propagation_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 3600 "$bin_dir/bench/propagation_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" "$@" >"$table" ||
  status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "propagation_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py "Propagation (write to file)" "$table" \
  "$command" "$status"
echo "wrote bench/RESULTS.md (## Propagation (write to file))"
exit "$status"
