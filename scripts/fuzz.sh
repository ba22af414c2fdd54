#!/usr/bin/env bash
# Coverage-guided fuzzing of kess's input parsers with libFuzzer (clang),
# outside Bazel: each target is compiled with clang++
# -fsanitize=fuzzer,address,undefined against the system libraries, then
# run for a bounded time from its checked-in seed corpus.
#
#   scripts/fuzz.sh [seconds_per_target] [target ...]
#
# Targets (LLVMFuzzerTestOneInput next to the code they fuzz; the gcc replay
# tests *_fuzz_test run the same functions in CI):
#   frame_codec  common/transport/frame_codec_fuzzer.cc
#   names        model/names_fuzzer.cc
#   format       model/file_cache/format_fuzzer.cc
#   config_json  mandator/config_json_fuzzer.cc
#   route_table  model/route_table_fuzzer.cc
#   route_delta  model/route_delta_fuzzer.cc (route deltas, both appliers)
#   dns          agent/dns/responder_fuzzer.cc (the agent's DNS query handler)
#   config_format model/formats/config_format_fuzzer.cc (config value syntax)
#   envelope     model/secrets/envelope_fuzzer.cc (encrypted value envelope)
#
# Output in $KESS_FUZZ_DIR (default /tmp/kess-fuzz): bin/<target>,
# <target>/corpus (seeds + what libFuzzer found), <target>/crashes
# (crash-*, leak-*, timeout-* inputs), <target>/log. Prints a table
# target -> execs -> corpus -> crashes; exits 1 if any target crashed
# (or failed to build), 0 otherwise. Never calls Bazel: the protobuf
# sources are generated with protoc, as //third_party:proto.bzl does.
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
shift || true
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${KESS_FUZZ_DIR:-${TMPDIR:-/tmp}/kess-fuzz}"
CXX="${CXX_FUZZ:-clang++}"

case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: $0 [seconds_per_target] [target ...]" >&2; exit 2 ;;
esac
command -v "$CXX" >/dev/null || {
  echo "fuzz: $CXX not found (scripts/setup.sh installs clang)" >&2
  exit 2
}

ABSL_LIBS="-labsl_statusor -labsl_status -labsl_cord -labsl_cord_internal
  -labsl_cordz_info -labsl_cordz_handle -labsl_cordz_functions
  -labsl_exponential_biased -labsl_str_format_internal -labsl_synchronization
  -labsl_graphcycles_internal -labsl_stacktrace -labsl_symbolize
  -labsl_debugging_internal -labsl_demangle_internal -labsl_malloc_internal
  -labsl_time -labsl_civil_time -labsl_time_zone -labsl_raw_hash_set
  -labsl_hashtablez_sampler -labsl_hash -labsl_city -labsl_low_level_hash
  -labsl_strings -labsl_strings_internal -labsl_int128 -labsl_strerror
  -labsl_throw_delegate -labsl_bad_optional_access -labsl_bad_variant_access
  -labsl_base -labsl_spinlock_wait -labsl_raw_logging_internal
  -labsl_log_severity"
POCO_LIBS="-lPocoJSON -lPocoFoundation -lz"

# target -> fuzzer source, the library sources it needs, extra libraries.
declare -A SRCS LIBS CORPUS
SRCS[frame_codec]="common/transport/frame_codec_fuzzer.cc common/transport/frame_codec.cc GEN/common/transport/frame.pb.cc"
LIBS[frame_codec]="-lprotobuf"
CORPUS[frame_codec]=common/transport/frame_codec_fuzzer_corpus
SRCS[names]="model/names_fuzzer.cc model/names.cc"
LIBS[names]=""
CORPUS[names]=model/names_fuzzer_corpus
SRCS[format]="model/file_cache/format_fuzzer.cc model/file_cache/format.cc model/names.cc common/json_util.cc common/value_encoding.cc"
LIBS[format]="$POCO_LIBS"
CORPUS[format]=model/file_cache/format_fuzzer_corpus
SRCS[config_json]="mandator/config_json_fuzzer.cc mandator/config_json.cc common/json_util.cc common/value_encoding.cc GEN/zk_schema/schema.pb.cc"
LIBS[config_json]="$POCO_LIBS -lprotobuf"
CORPUS[config_json]=mandator/config_json_fuzzer_corpus
SRCS[route_table]="model/route_table_fuzzer.cc model/route_table.cc model/names.cc common/json_util.cc"
LIBS[route_table]="$POCO_LIBS"
CORPUS[route_table]=model/route_table_fuzzer_corpus
SRCS[route_delta]="model/route_delta_fuzzer.cc model/route_delta.cc model/route_table.cc model/names.cc common/json_util.cc common/value_encoding.cc"
LIBS[route_delta]="$POCO_LIBS"
CORPUS[route_delta]=model/route_delta_fuzzer_corpus
SRCS[dns]="agent/dns/responder_fuzzer.cc agent/dns/responder.cc agent/dns/service_record.cc model/names.cc"
LIBS[dns]="-lldns"
CORPUS[dns]=agent/dns/responder_fuzzer_corpus
SRCS[config_format]="model/formats/config_format_fuzzer.cc model/formats/format.cc model/formats/prescan.cc"
LIBS[config_format]="-lyaml-cpp"
CORPUS[config_format]=model/formats/config_format_fuzzer_corpus
SRCS[envelope]="model/secrets/envelope_fuzzer.cc model/secrets/envelope.cc model/secrets/key_ring.cc"
LIBS[envelope]="-lcrypto"
CORPUS[envelope]=model/secrets/envelope_fuzzer_corpus
ALL_TARGETS=(frame_codec names format config_json route_table route_delta dns config_format envelope)

TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
  [ -n "${SRCS[$t]+x}" ] || { echo "fuzz: unknown target $t (${ALL_TARGETS[*]})" >&2; exit 2; }
done

mkdir -p "$OUT/bin" "$OUT/gen"
echo "fuzz: output in $OUT, ${SECONDS_PER_TARGET}s per target"
(cd "$REPO" && protoc --proto_path=. --cpp_out="$OUT/gen" \
  common/transport/frame.proto zk_schema/schema.proto)

build() {
  local t="$1" srcs=()
  for s in ${SRCS[$t]}; do
    case "$s" in
      GEN/*) srcs+=("$OUT/gen/${s#GEN/}") ;;
      *) srcs+=("$REPO/$s") ;;
    esac
  done
  # vptr is off: the system libraries (Poco, protobuf) are built by gcc
  # without the sanitizer's type info, which gives false reports.
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -O1 -g -DTHREADED \
    -fsanitize=fuzzer,address,undefined -fno-sanitize=vptr \
    -fno-sanitize-recover=undefined \
    -I"$REPO" -I"$OUT/gen" "${srcs[@]}" -o "$OUT/bin/$t" \
    ${LIBS[$t]} $ABSL_LIBS -lpthread
}

declare -A EXECS CRASHES FOUND STATUS
failed=0
for t in "${TARGETS[@]}"; do
  dir="$OUT/$t"
  mkdir -p "$dir/corpus" "$dir/crashes"
  echo "fuzz: building $t"
  if ! build "$t" >"$dir/build.log" 2>&1; then
    cat "$dir/build.log" >&2
    STATUS[$t]="BUILD FAILED"; EXECS[$t]=0; FOUND[$t]=0; CRASHES[$t]=0
    failed=1
    continue
  fi
  echo "fuzz: running $t for ${SECONDS_PER_TARGET}s"
  rc=0
  # The first corpus dir receives new inputs; the checked-in seeds stay as
  # they are. -timeout: one input taking 10 s is a hang, reported as such.
  (cd "$dir" && "$OUT/bin/$t" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$dir/crashes/" "$dir/corpus" "$REPO/${CORPUS[$t]}" \
    >"$dir/log" 2>&1) || rc=$?
  EXECS[$t]="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
  [ -n "${EXECS[$t]}" ] || EXECS[$t]="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$dir/log" | tail -1)"
  [ -n "${EXECS[$t]}" ] || EXECS[$t]="?"
  CRASHES[$t]="$(find "$dir/crashes" -type f | wc -l)"
  FOUND[$t]="$(find "$dir/corpus" -type f | wc -l)"
  if [ "$rc" -ne 0 ] || [ "${CRASHES[$t]}" -ne 0 ]; then
    STATUS[$t]="CRASH (exit $rc)"
    failed=1
    grep -m1 -E "ERROR: |fuzz property violated|runtime error" "$dir/log" >&2 || true
  else
    STATUS[$t]="ok"
  fi
done

echo
printf '%-12s %12s %8s %8s  %s\n' target execs corpus crashes result
for t in "${TARGETS[@]}"; do
  printf '%-12s %12s %8s %8s  %s\n' "$t" "${EXECS[$t]}" "${FOUND[$t]}" \
    "${CRASHES[$t]}" "${STATUS[$t]}"
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; crash inputs in $OUT/<target>/crashes, logs in $OUT/<target>/log"
  exit 1
fi
echo "fuzz: ok"
