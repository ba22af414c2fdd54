#!/usr/bin/env bash
# What each kess client costs, side by side with the C++ SDK: runs every
# language's bench entry point once with the same arguments and prints one
# table with ratios against C++, written into bench/RESULTS.md under
# "## Clients: pick cost, table load, idle memory".
#
#   bench/clients_bench.sh [--instances 1000] [--table_instances 5000]
#
# Entry points (each prints one JSON line {"language", "pick_wr_ns",
# "pick_hrw_ns", "pick_hrw_weighted_ns", "load_parse_5000_ms",
# "idle_rss_kib", ...}: pick_hrw_ns on --instances instances of weight
# 100, pick_hrw_weighted_ns and pick_wr_ns on weights 50..200; a figure
# missing from a line shows as "—" and makes the script exit 1):
#   C++     //bench:clients_bench_cpp (built here with -c opt)
#   Python  clients/python/kess_bench.py (python3)
#   Go      clients/go/cmd/kess-bench (built with Debian's Go, offline)
#   Java    kess.bench.KessBench (clients/java/build.sh, then java)
# A language whose entry point is missing gets a "not yet" row; one that
# fails gets its error. The runs happen one after the other (one heavy
# process at a time).
set -euo pipefail
# shellcheck source=bench/run_bench_lib.sh
source "$(dirname "$0")/run_bench_lib.sh"

instances=1000
table_instances=5000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --instances) instances="$2"; shift 2 ;;
    --instances=*) instances="${1#*=}"; shift ;;
    --table_instances) table_instances="$2"; shift 2 ;;
    --table_instances=*) table_instances="${1#*=}"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
args=(--instances "$instances" --table_instances "$table_instances")

bench_build //bench:clients_bench_cpp

work="$(mktemp -d "${TMPDIR:-/tmp}/clients_bench.XXXXXX")"
table="$(mktemp)"
trap 'rm -rf "$work" "$table"' EXIT
results="$work/results.txt"  # language <TAB> status <TAB> JSON or message
: >"$results"

# run LANGUAGE COMMAND...: one entry point, its last JSON line recorded.
run() {
  local language="$1"
  shift
  local out="$work/$language.out" rc=0
  echo "== $language: $*" >&2
  timeout 900 "$@" >"$out" 2>"$work/$language.err" || rc=$?
  local line
  line="$(grep '^{' "$out" | tail -n 1 || true)"
  if [[ "$rc" == 0 && -n "$line" ]]; then
    printf '%s\tok\t%s\n' "$language" "$line" >>"$results"
  else
    printf '%s\tfailed\texit %s: %s\n' "$language" "$rc" \
      "$(tail -n 3 "$work/$language.err" | tr '\n\t' '  ' | cut -c1-200)" \
      >>"$results"
  fi
}

not_yet() {
  printf '%s\tnot_yet\t%s\n' "$1" "$2" >>"$results"
}

run cpp "$bin_dir/bench/clients_bench_cpp" "${args[@]}"

if [[ -f clients/python/kess_bench.py ]]; then
  run python python3 clients/python/kess_bench.py "${args[@]}"
else
  not_yet python "clients/python/kess_bench.py does not exist"
fi

go_bin=/usr/lib/go-1.19/bin/go
if [[ ! -d clients/go/cmd/kess-bench ]]; then
  not_yet go "clients/go/cmd/kess-bench does not exist"
elif [[ ! -x "$go_bin" ]]; then
  not_yet go "no Go toolchain at $go_bin (scripts/setup.sh installs it)"
else
  # Offline, as clients/go/run_tests.sh: nothing downloaded.
  cp -r clients/go "$work/go"
  if (cd "$work/go" && HOME="$work/home" GOPATH="$work/gopath" \
      GOCACHE="$work/gocache" GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off \
      "$go_bin" build -o "$work/kess-bench" ./cmd/kess-bench) \
      2>"$work/go-build.err"; then
    run go "$work/kess-bench" "${args[@]}"
  else
    printf 'go\tfailed\tgo build: %s\n' \
      "$(tail -n 3 "$work/go-build.err" | tr '\n\t' '  ' | cut -c1-200)" \
      >>"$results"
  fi
fi

if [[ ! -f clients/java/src/main/java/kess/bench/KessBench.java ]]; then
  not_yet java "kess.bench.KessBench does not exist"
elif ! command -v javac >/dev/null || [[ ! -x clients/java/build.sh ]]; then
  not_yet java "no JDK or no clients/java/build.sh"
elif clients/java/build.sh "$work/java" >"$work/java-build.out" 2>&1; then
  run java java -cp "$work/java/kess.jar" kess.bench.KessBench "${args[@]}"
else
  printf 'java\tfailed\tbuild.sh: %s\n' \
    "$(tail -n 3 "$work/java-build.out" | tr '\n\t' '  ' | cut -c1-200)" \
    >>"$results"
fi

table_rc=0
python3 - "$results" "$instances" "$table_instances" >"$table" <<'PY' || table_rc=$?
import json, os, sys

results, instances, table_instances = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in open(results):
    language, status, rest = line.rstrip("\n").split("\t", 2)
    rows.append((language, status, rest))
data = {l: json.loads(r) for l, s, r in rows if s == "ok"}
cpp = data.get("cpp", {})
cols = [("pick_wr_ns", "weighted random pick, ns", 0),
        ("pick_hrw_ns", "HRW pick (equal weights), ns", 0),
        ("pick_hrw_weighted_ns", "HRW pick (weights 50..200), ns", 0),
        ("load_parse_5000_ms", f"load + parse {int(table_instances):,}-instance table, ms", 1),
        ("idle_rss_kib", "idle RSS, KiB", 0)]
load = os.getloadavg()
print("| setup | |")
print("|---|---|")
print(f"| machine | {os.cpu_count()} cores, load average at start "
      f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} |")
print(f"| tables | picks on {int(instances):,} instances (3 DCs, every "
      f"50th suspect; weights 50..200, or all 100 where named); load of one "
      f"{int(table_instances):,}-instance file |")
print("| figure | one run per language, each entry point's own timing; "
      "× = ratio to C++ |")
print()
print("| language | " + " | ".join(c[1] for c in cols) + " | also reported |")
print("|---|" + "---:|" * len(cols) + "---|")
known = {c[0] for c in cols} | {"language", "instances", "table_instances"}
for language, status, rest in rows:
    if status != "ok":
        cells = ["not yet" if status == "not_yet" else "failed"] * len(cols)
        print(f"| {language} | " + " | ".join(cells) + f" | {rest} |")
        continue
    d = data[language]
    cells = []
    for key, _, digits in cols:
        v = d.get(key)
        if v is None:
            cells.append("—")
            continue
        text = f"{v:,.{digits}f}"
        base = cpp.get(key)
        if language != "cpp" and base:
            text += f" ({v / base:.1f}×)"
        cells.append(text)
    extra = ", ".join(f"{k}={v}" for k, v in d.items() if k not in known)
    print(f"| {language} | " + " | ".join(cells) + f" | {extra} |")
missing = [f"{l}: {c[0]}" for l, d in data.items() for c in cols
           if c[0] not in d]
if missing:
    print("entry points without a figure: " + ", ".join(missing),
          file=sys.stderr)
    sys.exit(3)
PY
cat "$table"
status=0
if grep -q $'\tfailed\t' "$results" || [[ "$table_rc" != 0 ]]; then status=1; fi

footer="Each language measures with its own entry point (listed in the header
of \`bench/clients_bench.sh\`). A pick is the client's whole
\`Discovery.select\` on a loaded table. HRW uses a new key per call:
\`pick_hrw_ns\` on the table where every weight is 100,
\`pick_hrw_weighted_ns\` on the 50..200 one, the same two tables in every
language. Idle RSS includes the runtime (interpreter, Go runtime, JVM
heap). One run each on a shared 2-core machine: the load average in the
first table says how busy it was."
bench_write "Clients: pick cost, table load, idle memory" "$footer"
