#!/usr/bin/env bash
# The README's test command: install what is needed, build, run every test.
#
#   scripts/test.sh [extra bazel test args, e.g. //common/...]
#
# Last line of output: "N passed, N failed", counted from Bazel's per-target
# results. Exits non-zero if anything failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(//...)

log=$(mktemp /tmp/kess-test.XXXXXX)
tsa_log=$(mktemp /tmp/kess-tsa.XXXXXX)
tsa_pid=""
cleanup() {
  # The thread-safety check runs in its own process group (setsid below):
  # stop exactly that group if we leave before it is done.
  if [ -n "$tsa_pid" ] && kill -0 "$tsa_pid" 2>/dev/null; then
    kill -TERM -- "-$tsa_pid" 2>/dev/null
  fi
  rm -f "$log" "$tsa_log"
}
trap cleanup EXIT

# When the whole tree is tested, Clang's thread-safety analysis (it compiles
# every .cc with clang outside Bazel) runs alongside the tests, at the
# lowest priority: the tests mostly wait on real processes, so it costs the
# run little wall time.
if [ $# -eq 0 ]; then
  setsid nice -n 19 scripts/check_thread_safety.sh >"$tsa_log" 2>&1 &
  tsa_pid=$!
fi
bazel test --keep_going "${targets[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Bazel prints one line per test target, e.g.
#   //model:names_test                 (cached) PASSED in 0.1s
#   //zk_schema:zk_client_test          FAILED in 3 out of 3 in 12.0s
#   //x:y_test                          NO STATUS / FAILED TO BUILD / TIMEOUT
results=$(grep -E '^//[^ ]+ +(\(cached\) +)?(PASSED|FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE|FAILED TO BUILD|SKIPPED)' "$log" || true)
passed=$(printf '%s\n' "$results" | grep -cE ' (PASSED|FLAKY)( |$)' || true)
failed=$(printf '%s\n' "$results" | grep -vE ' (PASSED|FLAKY)( |$)' | grep -c '^//' || true)

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # Bazel failed before running tests (e.g. a build or analysis error).
  echo "bazel exited with status $rc before reporting test results"
  failed=1
  other_failed_bazel=1
fi

# Checks that are not Bazel tests (they query or compile the whole tree),
# run when the whole tree is tested; each counts as one suite.
other_failed=()
run_check() {  # name command...
  local name=$1
  shift
  echo "== $name: $*"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    other_failed+=("$name")
  fi
}
if [ $# -eq 0 ]; then
  # Package dependencies against scripts/layering.txt, no package cycle.
  run_check layering python3 scripts/check_layering.py
  # Clang's thread-safety analysis of the Abseil lock annotations (gcc
  # ignores them), started above: its output and result.
  tsa_result() {
    wait "$tsa_pid"
    local status=$?
    cat "$tsa_log"
    return "$status"
  }
  run_check thread-safety tsa_result
fi
if [ "$failed" -gt 0 ]; then
  echo "Failing targets:"
  printf '%s\n' "$results" | grep -vE ' (PASSED|FLAKY)( |$)' | grep '^//' || true
  [ -z "${other_failed_bazel:-}" ] || echo "bazel build or analysis (exit $rc)"
  for name in "${other_failed[@]}"; do echo "check: $name"; done
  echo "Logs: bazel-testlogs/<package>/<target>/test.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
