#!/usr/bin/env bash
# Builds bench/agent_footprint_bench, its SDK process, the mandator, the
# distributor and the agent optimized, runs the benchmark (1 ZooKeeper, 1
# mandator, 1 distributor and one real agent subscribed to 100 keys; the
# agent's and an SDK process's RSS and CPU idle for 10 s and at 100
# changes/s for 20 s) and writes its table into bench/RESULTS.md under
# "## Agent and SDK footprint", leaving other sections alone. Extra
# arguments go to the benchmark, e.g. --load_seconds=10.
set -euo pipefail
cd "$(dirname "$0")/.."

# --symlink_prefix=/ keeps bazel-bin pointing at everyone else's fastbuild.
bazel build -c opt --symlink_prefix=/ //bench:agent_footprint_bench \
  //bench:agent_footprint_sdk //distributor:distributor //mandator //agent
bin_dir="$(bazel info -c opt bazel-bin)"

command="bench/run_agent_footprint_bench.sh${*:+ $*}"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
timeout 600 "$bin_dir/bench/agent_footprint_bench" \
  --mandator_binary="$bin_dir/mandator/mandator" \
  --distributor_binary="$bin_dir/distributor/distributor" \
  --agent_binary="$bin_dir/agent/agent" \
  --sdk_binary="$bin_dir/bench/agent_footprint_sdk" "$@" >"$table" ||
  status=$?
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "agent_footprint_bench produced no table (exit $status)" >&2
  exit 1
fi

python3 bench/results_section.py "Agent and SDK footprint" "$table" \
  "$command" "$status"
echo "wrote bench/RESULTS.md (## Agent and SDK footprint)"
exit "$status"
