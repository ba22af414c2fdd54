# shellcheck shell=bash
# Sourced (not run) by the bench/run_*_bench.sh scripts: the steps they all
# share. Sourcing it, with no arguments, from such a script:
#   - moves to the repository root;
#   - sets bench_command to the script and its arguments as RESULTS.md
#     records them ("bench/run_x_bench.sh --flag=1").
# Then:
#   bench_build TARGET...
#     bazel build -c opt of TARGET... (with --symlink_prefix=/, which keeps
#     bazel-bin pointing at everyone else's fastbuild); sets bin_dir to the
#     -c opt bazel-bin.
#   bench_run [--no-stderr] NAME SECONDS COMMAND...
#     runs COMMAND under `timeout SECONDS`, its stdout into the file $table
#     (removed at exit; --no-stderr drops its stderr), its exit code in
#     $status; prints the table; exits 1 ("NAME produced no table") if the
#     table is empty.
#   bench_write TITLE [FOOTER]
#     rewrites the "## TITLE" section of bench/RESULTS.md with $table (and
#     FOOTER) through bench/results_section.py, says so, and exits $status.

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck disable=SC2034  # used by bench_write and the sourcing script
bench_command="bench/$(basename "$0")${*:+ $*}"

bench_build() {
  bazel build -c opt --symlink_prefix=/ "$@"
  # shellcheck disable=SC2034  # used by the sourcing script
  bin_dir="$(bazel info -c opt bazel-bin)"
}

bench_run() {
  local no_stderr=0
  if [[ "$1" == --no-stderr ]]; then
    no_stderr=1
    shift
  fi
  local name="$1" seconds="$2"
  shift 2
  table="$(mktemp)"
  trap 'rm -f "$table"' EXIT
  status=0
  if [[ "$no_stderr" == 1 ]]; then
    timeout "$seconds" "$@" >"$table" 2>/dev/null || status=$?
  else
    timeout "$seconds" "$@" >"$table" || status=$?
  fi
  cat "$table"
  if [[ ! -s "$table" ]]; then
    echo "$name produced no table (exit $status)" >&2
    exit 1
  fi
}

bench_write() {
  python3 bench/results_section.py "$1" "$table" "$bench_command" "$status" \
    "${2:-}"
  echo "wrote bench/RESULTS.md (## $1)"
  exit "$status"
}
