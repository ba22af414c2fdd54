#!/usr/bin/env bash
# The Python client's pytest suite, with Debian's python3 (standard library
# plus python3-pytest), from the test's runfiles. Offline.
set -euo pipefail
cd "$TEST_SRCDIR/kess"
export PYTHONDONTWRITEBYTECODE=1
export KESS_REQUIRE_VECTORS=1   # the conformance vectors are data here
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  --basetemp="$TEST_TMPDIR/pytest" clients/python/tests
