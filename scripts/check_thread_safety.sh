#!/usr/bin/env bash
# Clang's thread-safety analysis over every .cc of the tree: the Abseil
# annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED,
# ABSL_LOCKS_EXCLUDED, ...) that gcc, the build's compiler, ignores.
#
#   scripts/check_thread_safety.sh [file.cc ...]
#
# Without arguments it checks every .cc found in the tree at run time
# (bazel-*, third_party/, node_modules/ left out), or rather those that can
# hold a finding: a file that neither it nor any repo or generated header
# it includes (directly or transitively) spells a thread-safety attribute,
# an annotation macro or an annotated lock type (absl::Mutex, MutexLock,
# SpinLock, ...) is skipped, as the analysis has nothing to check in it
# (scripts/thread_safety_select.py says why; KESS_TSA_ALL=1 checks every
# file all the same). Each file checked gets
#   clang++ -fsyntax-only -Wthread-safety -Werror=thread-safety
# with the flags of the Bazel build (-std=c++17 -DTHREADED, system headers
# from /usr/include); the protobuf headers are generated with the system
# protoc into a temporary directory, as //third_party:proto.bzl does, so
# it neither calls Bazel nor needs bazel-bin. A precompiled header of the
# common system headers, their templates instantiated in it, saves about
# two thirds of the time; a file that fails to compile with it is compiled
# again without it, so the result is the same as without.
#
# Prints each finding once (a header's finding shows up in every file that
# includes it) with clang's notes, each file clang could not compile (the
# analysis does not run after an error), and a last line
#   thread-safety: N findings, N files not compiled, N files checked,
#   N skipped (nothing to analyse) in Ns
# Exits 1 if there is a finding or a file that did not compile, 2 if the
# check could not run.
#
# Environment: KESS_TSA_JOBS (parallel compiles, default 2), CXX_TSA
# (default clang++), KESS_TSA_ALL=1 (no file skipped), KESS_TSA_PCH=0 (no
# precompiled header).
set -uo pipefail

FLAGS=(-std=c++17 -DTHREADED -Wthread-safety -Werror=thread-safety
  -fno-caret-diagnostics -fno-color-diagnostics)

# A diagnostic of the analysis, e.g.
#   a/b.cc:12:3: error: reading variable 'x_' requires holding mutex 'mu_' [-Werror,-Wthread-safety-analysis]
TSA_RE='\[-W(error,-W)?thread-safety[a-z-]*\]$'
# Any other error: the analysis is skipped in a file with one.
OTHER_ERROR_RE='(^|: )(fatal )?error: '

# Worker: one file, its clang output in $TSA_OUT/logs/<file>.log and exit
# status in <file>.rc.
if [ "${1:-}" = "--one" ]; then
  f=$2
  base="$TSA_OUT/logs/${f//\//__}"
  if [ ! -e "$f" ]; then  # moved or deleted since the file list was made
    : >"$base.gone"
    exit 0
  fi
  read -r -a flags <<<"$TSA_FLAGS"
  compile() { "$TSA_CXX" -fsyntax-only "${flags[@]}" "$@" "$f" >"$base.log" 2>&1; }
  rc=0
  if [ -n "$TSA_PCH" ]; then
    compile -include-pch "$TSA_PCH" || rc=$?
    if [ "$rc" -ne 0 ] && grep -E "$OTHER_ERROR_RE" "$base.log" |
      grep -qvE "$TSA_RE"; then
      rc=0
      compile || rc=$?
    fi
  else
    compile || rc=$?
  fi
  [ "$rc" -ne 0 ] && [ ! -e "$f" ] && : >"$base.gone"
  echo "$rc" >"$base.rc"
  exit 0
fi

self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
args=()
for f in "$@"; do args+=("$(realpath -m "$f")"); done
cd "$(dirname "$self")/.." || exit 2
start=$(date +%s)
CXX="${CXX_TSA:-clang++}"
JOBS="${KESS_TSA_JOBS:-2}"
if ! "$CXX" --version 2>/dev/null | grep -q clang; then
  echo "thread-safety: $CXX is not clang (scripts/setup.sh installs clang)" >&2
  exit 2
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/kess-tsa.XXXXXX")
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/logs" "$out/gen"

prune=(\( -path ./.git -o -path './bazel-*' -o -path ./third_party
  -o -name node_modules \) -prune -o)

# Generated protobuf headers (#include "model/protocol/x.pb.h").
mapfile -t protos < <(find . "${prune[@]}" -name '*.proto' -print |
  sed 's|^\./||' | sort)
if [ ${#protos[@]} -gt 0 ]; then
  if ! protoc --proto_path=. --cpp_out="$out/gen" "${protos[@]}"; then
    echo "thread-safety: protoc failed" >&2
    exit 2
  fi
fi
FLAGS+=(-I. -I"$out/gen")

if [ ${#args[@]} -gt 0 ]; then
  files=("${args[@]}")
else
  mapfile -t files < <(find . "${prune[@]}" -name '*.cc' -print |
    sed 's|^\./||' | sort)
fi

# Only the files the analysis can find anything in.
skipped=0
if [ "${KESS_TSA_ALL:-0}" != 1 ] && [ ${#files[@]} -gt 0 ]; then
  printf '%s\n' "${files[@]}" >"$out/all.txt"
  if ! python3 "$(dirname "$self")/thread_safety_select.py" "$out/gen" \
    "$out/all.txt" "$out/selected.txt"; then
    echo "thread-safety: thread_safety_select.py failed" >&2
    exit 2
  fi
  mapfile -t files <"$out/selected.txt"
  skipped=$(($(wc -l <"$out/all.txt") - ${#files[@]}))
fi

# The precompiled header: the system headers most files include, never a
# repo header (the analysis of a header's functions runs where it is
# compiled, and the PCH's diagnostics are not reported). Its templates are
# instantiated once, in the PCH (-fpch-instantiate-templates), instead of
# in every file: about two thirds of each file's time. Without it if it
# does not build or KESS_TSA_PCH=0.
pch="$out/common.h.pch"
cat >"$out/common.h" <<'EOF'
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/extension_set.h"
#include "google/protobuf/generated_message_reflection.h"
#include "google/protobuf/generated_message_util.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_field.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/JSON/Parser.h"
EOF
if [ ${#files[@]} -eq 0 ] || [ "${KESS_TSA_PCH:-1}" = 0 ]; then
  pch=""
elif ! "$CXX" "${FLAGS[@]}" -fpch-instantiate-templates -x c++-header \
  "$out/common.h" -o "$pch" >"$out/pch.log" 2>&1; then
  echo "thread-safety: no precompiled header (slower):" >&2
  head -5 "$out/pch.log" >&2
  pch=""
fi

export TSA_OUT="$out" TSA_CXX="$CXX" TSA_PCH="$pch" TSA_FLAGS="${FLAGS[*]}"
if [ ${#files[@]} -gt 0 ]; then
  printf '%s\0' "${files[@]}" | xargs -0 -r -n 1 -P "$JOBS" "$self" --one
fi

checked=0
gone=0
broken=()
for f in "${files[@]}"; do
  base="$out/logs/${f//\//__}"
  if [ -e "$base.gone" ]; then
    gone=$((gone + 1))
    continue
  fi
  checked=$((checked + 1))
  rc=$(cat "$base.rc" 2>/dev/null || echo 1)
  if [ "$rc" -ne 0 ] && grep -E "$OTHER_ERROR_RE" "$base.log" 2>/dev/null |
    grep -qvE "$TSA_RE"; then
    broken+=("$f")
  elif [ "$rc" -ne 0 ] && [ ! -s "$base.log" ]; then
    broken+=("$f")
  fi
done

# Each finding once, with the notes that follow it.
findings=$(for f in "${files[@]}"; do
  log="$out/logs/${f//\//__}.log"
  [ -e "$log" ] && cat "$log"
done | awk -v re="$TSA_RE" '
  function flush() { if (cur != "" && !(cur in seen)) { seen[cur] = 1; print block } cur = "" }
  { sub(/^\.\//, "") }
  $0 ~ re && / (error|warning): / { flush(); cur = $0; block = $0; next }
  cur != "" && / note: / { block = block "\n  " $0; next }
  { flush() }
  END { flush() }')
n=0
[ -n "$findings" ] && n=$(printf '%s\n' "$findings" | grep -cvE '^  ')

if [ -n "$findings" ]; then
  printf '%s\n' "$findings"
fi
for f in "${broken[@]}"; do
  echo "NOT COMPILED $f (the analysis needs a file clang compiles):"
  grep -E "$OTHER_ERROR_RE" "$out/logs/${f//\//__}.log" | grep -vE "$TSA_RE" |
    head -5 | sed 's/^/  /'
done
extra=""
[ "$gone" -gt 0 ] && extra=" ($gone moved away while checking)"
echo "thread-safety: $n findings, ${#broken[@]} files not compiled," \
  "$checked files checked, $skipped skipped (nothing to analyse) in" \
  "$(($(date +%s) - start))s$extra"
[ "$n" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
