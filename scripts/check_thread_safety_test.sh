#!/usr/bin/env bash
# check_thread_safety.sh on small synthetic files: correctly locked code
# passes; an unguarded read, a helper called without its lock and a lock
# taken on one path only each fail and are named, once each even when two
# files include the header they are in; a file clang cannot compile fails
# as not compiled (the analysis would not have run in it). The selection:
# a file that reaches an annotated header only through another header, or
# that only names absl::Mutex, is checked; a file with no annotation in it
# or its includes is skipped, and checking it anyway (KESS_TSA_ALL=1) finds
# nothing; every thread-safety macro and annotated lock type of the system
# headers is one the selection knows.
set -euo pipefail
checker=scripts/check_thread_safety.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KESS_TSA_JOBS=2

cat >"$tmp/good.cc" <<'EOF'
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
class Counter {
 public:
  void Add() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    AddLocked();
  }
 private:
  void AddLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++n_; }
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};
void Use() { Counter c; c.Add(); }
EOF

cat >"$tmp/bad.h" <<'EOF'
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
class Bad {
 public:
  int Read() { return n_; }  // unguarded read
  void Add() { AddLocked(); }  // lock not held
  void Maybe(bool b) {
    if (b) mu_.Lock();
    ++other_;
    if (b) mu_.Unlock();
  }
 private:
  void AddLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++n_; }
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
  int other_ = 0;
};
EOF
printf '#include "%s/bad.h"\nint A() { Bad b; return b.Read(); }\n' "$tmp" >"$tmp/bad1.cc"
printf '#include "%s/bad.h"\nint B() { Bad b; return b.Read(); }\n' "$tmp" >"$tmp/bad2.cc"
printf '#include "absl/synchronization/mutex.h"\nabsl::Mutex mu;\nint broken( {\n' >"$tmp/broken.cc"
# Reaches bad.h only through middle.h.
printf '#include "%s/bad.h"\n' "$tmp" >"$tmp/middle.h"
printf '#include "%s/middle.h"\nint C() { Bad b; return b.Read(); }\n' "$tmp" >"$tmp/via_middle.cc"
# Only names the lock type: absl::Mutex::Lock is annotated in its header.
printf '#include "absl/synchronization/mutex.h"\nvoid Leak(absl::Mutex& m) { m.Lock(); }\n' >"$tmp/lock_only.cc"
# No annotation in it or its includes (std::mutex is not annotated): the
# lock it leaves held is nothing the analysis sees.
printf '#include <vector>\nstruct Plain { std::vector<int> v; };\n' >"$tmp/plain.h"
printf '#include <mutex>\n#include "%s/plain.h"\nstd::mutex plain_mu;\nint P(Plain& p) { plain_mu.lock(); return static_cast<int>(p.v.size()); }\n' "$tmp" >"$tmp/plain.cc"

fail() { echo "FAIL: $*"; echo "--- output:"; cat "$tmp/out"; exit 1; }

if ! "$checker" "$tmp/good.cc" >"$tmp/out" 2>&1; then fail "good.cc rejected"; fi
tail -1 "$tmp/out" | grep -q '^thread-safety: 0 findings, 0 files not compiled, 1 files checked' ||
  fail "summary of good.cc"

if "$checker" "$tmp/good.cc" "$tmp/bad1.cc" "$tmp/bad2.cc" >"$tmp/out" 2>&1; then
  fail "bad files accepted"
fi
grep -q "bad.h:5:.*reading variable 'n_' requires holding mutex 'mu_'" "$tmp/out" ||
  fail "unguarded read not named"
grep -q "bad.h:6:.*calling function 'AddLocked' requires holding mutex 'mu_'" "$tmp/out" ||
  fail "unlocked helper call not named"
grep -q "bad.h:.*mutex 'mu_' is not held on every path" "$tmp/out" ||
  fail "conditional lock not named"
[ "$(grep -c "reading variable 'n_'" "$tmp/out")" -eq 1 ] ||
  fail "a header's finding is not reported once"
tail -1 "$tmp/out" | grep -qE '^thread-safety: [0-9]+ findings, 0 files not compiled, 3 files checked' ||
  fail "summary of the bad files"

if "$checker" "$tmp/good.cc" "$tmp/broken.cc" >"$tmp/out" 2>&1; then
  fail "broken.cc accepted"
fi
grep -q "NOT COMPILED .*broken.cc" "$tmp/out" || fail "broken.cc not named"
tail -1 "$tmp/out" | grep -q '^thread-safety: 0 findings, 1 files not compiled, 2 files checked' ||
  fail "summary of broken.cc"

# Selection: through a header of a header, and by the lock type alone.
if "$checker" "$tmp/via_middle.cc" "$tmp/lock_only.cc" >"$tmp/out" 2>&1; then
  fail "via_middle.cc and lock_only.cc accepted"
fi
grep -q "bad.h:5:.*reading variable 'n_' requires holding mutex 'mu_'" "$tmp/out" ||
  fail "finding of a header included through another header not named"
grep -q "lock_only.cc:2:.*mutex 'm' is still held at the end of function" "$tmp/out" ||
  fail "lock left held in lock_only.cc not named"
tail -1 "$tmp/out" | grep -qE '^thread-safety: [0-9]+ findings, 0 files not compiled, 2 files checked, 0 skipped' ||
  fail "summary of via_middle.cc and lock_only.cc"

# Nothing to analyse: skipped, and the full analysis agrees.
if ! "$checker" "$tmp/plain.cc" "$tmp/good.cc" >"$tmp/out" 2>&1; then
  fail "plain.cc rejected"
fi
tail -1 "$tmp/out" | grep -q '^thread-safety: 0 findings, 0 files not compiled, 1 files checked, 1 skipped' ||
  fail "plain.cc not skipped"
if ! KESS_TSA_ALL=1 "$checker" "$tmp/plain.cc" >"$tmp/out" 2>&1; then
  fail "plain.cc rejected by the full analysis"
fi
tail -1 "$tmp/out" | grep -q '^thread-safety: 0 findings, 0 files not compiled, 1 files checked, 0 skipped' ||
  fail "summary of plain.cc under KESS_TSA_ALL=1"

# Every macro of the system headers that expands to a thread-safety
# attribute, and every type they annotate as a capability, is a mark.
select="$(dirname "$checker")/thread_safety_select.py"
python3 - /usr/include/absl /usr/include/google /usr/include/gtest \
  /usr/include/gmock >"$tmp/names.txt" <<'PY'
import os, re, sys
attrs = (r'guarded_by|pt_guarded_by|acquired_(before|after)|capability'
         r'|lockable|scoped_lockable|\w*_capability|\w*lock_function'
         r'|\w*locks_(required|excluded)|lock_returned|assert_\w*_lock'
         r'|no_thread_safety_analysis')
define = re.compile(r'^[ \t]*#[ \t]*define[ \t]+([A-Z_][A-Z0-9_]*)\b(.*)$', re.M)
expands = re.compile(r'__attribute__\s*\(\(\s*(' + attrs + r')\b'
                     r'|ABSL_THREAD_ANNOTATION_ATTRIBUTE__\s*\(')
capability = re.compile(
    r'\bclass\s+(?:ABSL_LOCKABLE|ABSL_SCOPED_LOCKABLE'
    r'|GOOGLE_PROTOBUF_CAPABILITY\s*\([^)]*\)|GOOGLE_PROTOBUF_SCOPED_CAPABILITY)'
    r'(?:\s+[A-Z_][A-Z0-9_]*)*\s+([A-Za-z_]\w*)')
names, defines = set(), []
for top in sys.argv[1:]:
    for d, _, files in os.walk(top):
        for f in files:
            with open(os.path.join(d, f), errors='replace') as h:
                text = h.read().replace('\\\n', ' ')
            defines += [(m.group(1), m.group(2)) for m in define.finditer(text)]
            names.update(m.group(1) for m in capability.finditer(text))
# A macro that expands to an attribute, or to such a macro.
while True:
    known = re.compile(r'\b(' + '|'.join(sorted(names)) + r')\b')
    more = {n for n, body in defines if n not in names and
            (expands.search(body) or known.search(body))}
    if not more:
        break
    names |= more
print('\n'.join(sorted(names)))
PY
grep -qx ABSL_GUARDED_BY "$tmp/names.txt" ||
  fail "ABSL_GUARDED_BY not found in the system headers: $(cat "$tmp/names.txt")"
grep -qx MutexLock "$tmp/names.txt" ||
  fail "MutexLock not found in the system headers: $(cat "$tmp/names.txt")"
mkdir "$tmp/names"
while read -r name; do
  printf 'x %s y\n' "$name" >"$tmp/names/$name"
done <"$tmp/names.txt"
python3 "$select" --marks "$tmp"/names/* >"$tmp/marks.txt"
while read -r name; do
  grep -q "/names/$name: " "$tmp/marks.txt" ||
    fail "$name (a thread-safety macro or lock type of the system headers) is not a mark"
done <"$tmp/names.txt"

echo "PASS"
