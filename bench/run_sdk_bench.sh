#!/usr/bin/env bash
# Builds bench/sdk_pick_bench optimized (Google Benchmark), runs it (pick
# latency per load balancer at 10, 100 and 1,000 instances, and the whole
# Discovery::Select) and writes its table into bench/RESULTS.md under
# "## SDK pick latency", leaving other sections alone. Extra arguments go
# to the benchmark, e.g. --benchmark_min_time=2.
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

bench_build //bench:sdk_pick_bench

json="$(mktemp)"
table="$(mktemp)"
trap 'rm -f "$json" "$table"' EXIT
status=0
timeout 900 "$bin_dir/bench/sdk_pick_bench" \
  --benchmark_min_time=1 --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$json" --benchmark_out_format=json "$@" || status=$?

python3 - "$json" >"$table" <<'PY'
import json, re, sys

doc = json.load(open(sys.argv[1]))
ctx = doc["context"]
targets = {("weighted_random", 1000): 50, ("hrw", 1000): 5000}
what = {
    "PickWeightedRandom": ("weighted_random", "pick"),
    "PickHrw": ("hrw", "pick, equal weights"),
    "PickHrwMixedWeights": ("hrw", "pick, weights 10..1000"),
    "PickLocalFirst": ("local_first", "pick (inner weighted_random)"),
    "PickEjectedWeightedRandom": ("weighted_random", "pick, 1 % ejected + 1 % recovering"),
    "PickEjectedHrw": ("hrw", "pick, 1 % ejected + 1 % recovering"),
    "PickEjectedLocalFirst": ("local_first", "pick, 1 % ejected + 1 % recovering"),
    "DiscoverySelectWeightedRandom": ("weighted_random", "Discovery::Select"),
    "DiscoverySelectHrw": ("hrw", "Discovery::Select, weights 10..1000"),
    "DiscoverySelectLocalFirst": ("local_first", "Discovery::Select"),
}
print("| setup | |")
print("|---|---|")
print(f"| machine | {ctx['num_cpus']} cores at {ctx['mhz_per_cpu']} MHz, "
      f"load average at start {', '.join('%.2f' % l for l in ctx.get('load_avg', []))} |")
print("| tables | n instances over 2 datacenters (local_first: dc1 local, "
      "min_local_healthy 2); weights 100 or 10..1000; 4,096 request keys "
      "cycled (HRW) |")
print("| figure | median of 3 repetitions of >= 1 s; CPU time per pick "
      "(with 2 threads both pick at once; the same figure means it scales) |")
print()
print("| balancer | what | instances | threads | ns per pick (CPU) | target |")
print("|---|---|---:|---:|---:|---|")
for b in doc["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    m = re.match(r"BM_(\w+)/(\d+)(?:/threads:(\d+))?", b["run_name"])
    name, n, threads = m.group(1), int(m.group(2)), int(m.group(3) or 1)
    policy, desc = what[name]
    ns = b["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]
    target = targets.get((policy, n)) if desc.startswith("pick") and "ejected" not in desc else None
    verdict = ""
    if target:
        verdict = f"<= {target:,} ns: {'met' if ns <= target else 'MISSED'}"
    print(f"| {policy} | {desc} | {n:,} | {threads} | {ns:,.1f} | {verdict} |")
PY
cat "$table"
if [[ ! -s "$table" ]]; then
  echo "sdk_pick_bench produced no table (exit $status)" >&2
  exit 1
fi

footer="Pick = \`SelectInstance\` on a \`RouteSnapshot\` (state tiers included).
Discovery::Select adds the service lookup, two wait-free snapshot reads and
the returned \`shared_ptr\` (its reference count is sharded per thread, so
threads picking at once do not share a cache line). Targets
are measured, not asserted."
bench_write "SDK pick latency" "$footer"
