#!/usr/bin/env bash
# Runs overview_versions_test.js with Node: the admin UI's own scripts
# (mandator/ui/assets) render the Overview in headless Chromium from an
# /api/v1/cluster answer of daemons of two versions; no cluster.
# Needs node, /usr/bin/chromium and tests/ui/node_modules (scripts/setup.sh
# installs all three).
set -euo pipefail
here="$TEST_SRCDIR/kess/tests/ui"
# node_modules is not in the runfiles: find it next to the real sources.
src="$(dirname "$(readlink -f "$here/overview_versions_test.js")")"
if [ ! -d "$src/node_modules/playwright-core" ]; then
  echo "missing $src/node_modules/playwright-core: run scripts/setup.sh" >&2
  exit 1
fi
command -v node >/dev/null || { echo "node not found: run scripts/setup.sh" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "chromium not found: run scripts/setup.sh" >&2; exit 1; }
export NODE_PATH="$src/node_modules"
export KESS_UI_ASSETS="$TEST_SRCDIR/kess/mandator/ui/assets"
export SCREENSHOT_DIR="${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}/ui-screenshots}"
mkdir -p "$SCREENSHOT_DIR"
exec node "$here/overview_versions_test.js"
