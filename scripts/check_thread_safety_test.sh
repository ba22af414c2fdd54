#!/usr/bin/env bash
# check_thread_safety.sh on small synthetic files: correctly locked code
# passes; an unguarded read, a helper called without its lock and a lock
# taken on one path only each fail and are named, once each even when two
# files include the header they are in; a file clang cannot compile fails
# as not compiled (the analysis would not have run in it).
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
printf 'int broken( {\n' >"$tmp/broken.cc"

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

echo "PASS"
