#!/usr/bin/env bash
# Runs one of this folder's Node tests (its .js file name, the argument) in
# headless Chromium: ui_browser_test.js against a cluster that the cluster
# launcher (tests/cluster:kess_cluster) starts, overview_versions_test.js on
# the UI's own scripts with no cluster.
# Needs node, /usr/bin/chromium and tests/ui/node_modules (scripts/setup.sh
# installs all three). Screenshots go to $TEST_UNDECLARED_OUTPUTS_DIR.
set -euo pipefail
test_js="${1:?usage: run_node_test.sh <test>.js}"
here="$TEST_SRCDIR/kess/tests/ui"
# node_modules is not in the runfiles: find it next to the real sources.
src="$(dirname "$(readlink -f "$here/$test_js")")"
if [ ! -d "$src/node_modules/playwright-core" ]; then
  echo "missing $src/node_modules/playwright-core: run scripts/setup.sh" >&2
  exit 1
fi
command -v node >/dev/null || { echo "node not found: run scripts/setup.sh" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "chromium not found: run scripts/setup.sh" >&2; exit 1; }
export NODE_PATH="$src/node_modules"
export KESS_CLUSTER="$TEST_SRCDIR/kess/tests/cluster/kess_cluster"
export KESS_UI_ASSETS="$TEST_SRCDIR/kess/mandator/ui/assets"
export SCREENSHOT_DIR="${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}/ui-screenshots}"
mkdir -p "$SCREENSHOT_DIR"
exec node "$here/$test_js"
