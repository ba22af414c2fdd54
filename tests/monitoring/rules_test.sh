#!/usr/bin/env bash
# The alert rules and the example configuration with Debian's promtool:
# `promtool check rules` and `promtool check config` (syntax, PromQL, label
# templates), then `promtool test rules kess-rules_test.yml` (every alert
# fires on the input series that should fire it, with its labels and
# annotations, and stays quiet on the others). Also: every alert has a
# runbook section in docs/operations.md, and the Grafana dashboard is valid
# JSON whose every query parses (promtool has no offline PromQL check of a
# bare expression; the dashboard's expressions are evaluated by
# metrics_scrape_test against a real Prometheus).
set -uo pipefail
dir="$TEST_SRCDIR/kess/deploy/prometheus"
ops="$TEST_SRCDIR/kess/docs/operations.md"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

command -v promtool >/dev/null || { echo "FAIL: no promtool (scripts/setup.sh installs Debian's prometheus)"; exit 1; }

# promtool resolves rule_files relative to the file naming them; work on a
# copy (runfiles are symbolic links into the source tree).
work="$TEST_TMPDIR/rules"
mkdir -p "$work"
cp -L "$dir/kess-rules.yml" "$dir/kess-rules_test.yml" "$dir/prometheus.yml" "$work/"
cd "$work" || exit 1

promtool check rules kess-rules.yml || fail "promtool check rules"
promtool check config prometheus.yml || fail "promtool check config"
promtool test rules kess-rules_test.yml || fail "promtool test rules"

# Every alert is tested and has its runbook entry.
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9]*\).*/\1/p' kess-rules.yml)
[ -n "$alerts" ] || fail "no alert found in kess-rules.yml"
for a in $alerts; do
  grep -q "alertname: $a\$" kess-rules_test.yml || fail "$a has no case in kess-rules_test.yml"
  grep -q "^### $a\$" "$ops" || fail "$a has no '### $a' runbook section in docs/operations.md"
  anchor=$(echo "$a" | tr 'A-Z' 'a-z')
  grep -q "runbook: \"docs/operations.md#$anchor\"" kess-rules.yml || fail "$a: runbook annotation does not point at #$anchor"
done

python3 - "$TEST_SRCDIR/kess/deploy/grafana/kess.json" <<'PY' || fail "dashboard"
import json, sys
d = json.load(open(sys.argv[1]))
targets = [t for p in d["panels"] for t in p.get("targets", [])]
assert targets, "no queries"
for t in targets:
    assert t["expr"].strip(), t
    assert "kess_" in t["expr"], t["expr"]
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
print(f"dashboard: {len(d['panels'])} panels, {len(targets)} queries")
PY

echo "$failures failures"
[ "$failures" -eq 0 ]
