#!/usr/bin/env bash
# check_layering.py against small synthetic query results: an allowed graph
# passes; a forbidden dependency (lib and test kinds), a package without a
# rule and a cycle between packages each fail and are named; a back edge
# from a test rule is no cycle.
set -euo pipefail
checker=scripts/check_layering.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/rules" <<'RULES'
lib  common/...     : common/...
lib  mandator/core  : common/...
test mandator/core  : mandator
lib  mandator       : common/... mandator/...
lib  sdk/...        : common/... sdk/...
test sdk/...        : common/... tests/harness
lib  tests/...      : common/... mandator/... sdk/... tests/...
RULES

# rule <label> <class> <testonly> <dep>...
rule() {
  local name=$1 class=$2 testonly=$3
  shift 3
  echo "  <rule class=\"$class\" name=\"$name\">"
  [ "$testonly" = 1 ] && echo '    <boolean name="testonly" value="true"/>'
  for dep in "$@"; do echo "    <rule-input name=\"$dep\"/>"; done
  echo "    <rule-input name=\"@bazel_tools//tools/cpp:toolchain\"/>"
  echo '  </rule>'
}
graph() {  # extra rules on stdin are appended
  echo '<?xml version="1.1" encoding="UTF-8" standalone="no"?><query version="2">'
  rule //common:status cc_library 0
  rule //common:status.h cc_library 0
  rule //mandator/core:store cc_library 0 //common:status //mandator/core:store.cc
  rule //mandator:daemon cc_binary 0 //mandator/core:store //common:status
  rule //sdk:client cc_library 0 //common:status
  rule //tests/harness:zk cc_library 1 //common:status
  rule //sdk:client_test cc_test 0 //sdk:client //tests/harness:zk
  rule //third_party:absl cc_library 0
  cat
  echo '</query>'
}
expect() {  # expected-exit pattern-or-empty name  (graph on stdin)
  local want=$1 pattern=$2 name=$3
  graph >"$tmp/$name.xml"
  set +e
  python3 "$checker" --rules "$tmp/rules" --query-xml "$tmp/$name.xml" \
    >"$tmp/$name.out" 2>&1
  local got=$?
  set -e
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, want $want"; cat "$tmp/$name.out"; exit 1
  fi
  if [ -n "$pattern" ] && ! grep -q -- "$pattern" "$tmp/$name.out"; then
    echo "FAIL $name: output lacks '$pattern'"; cat "$tmp/$name.out"; exit 1
  fi
  echo "ok $name"
}

expect 0 "every dependency allowed" allowed </dev/null
rule //sdk:bad cc_library 0 //mandator/core:store |
  expect 1 "FORBIDDEN //sdk:bad -> //mandator/core:store" lib_forbidden
# A test rule of sdk may use tests/harness, a lib rule may not.
rule //sdk:helper cc_library 0 //tests/harness:zk |
  expect 1 "FORBIDDEN //sdk:helper -> //tests/harness:zk" lib_uses_test_rule
rule //sdk:bad_test cc_test 0 //mandator:daemon |
  expect 1 "FORBIDDEN //sdk:bad_test -> //mandator:daemon" test_forbidden
rule //kessctl:tool cc_binary 0 //common:status |
  expect 1 "NO RULE for package kessctl" unruled
# mandator -> mandator/core is allowed; core -> mandator makes a cycle
# (and is forbidden by the rules).
rule //mandator/core:back cc_library 0 //mandator:daemon |
  expect 1 "CYCLE between packages: mandator <-> mandator/core" cycle
# The same back edge from a test rule of mandator/core (which the rules allow
# its tests) is not a cycle of what ships: only the cycle logic is at stake.
rule //mandator/core:store_test cc_test 0 //mandator:daemon |
  expect 0 "no package cycle" test_edges_ignored
echo "check_layering_test: all cases passed"
