#!/usr/bin/env bash
# Builds the Java client and runs its JUnit 5 suite with the console launcher
# (Debian's junit5), the conformance vectors of clients/conformance included.
# Run by Bazel (//clients/java:java_client_test) or by hand:
#   clients/java/run_tests.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$here/../conformance/vectors"
out="${TEST_TMPDIR:-$(mktemp -d /tmp/kess-java-test.XXXXXX)}/java-build"
"$here/build.sh" "$out" --tests
launcher=/usr/share/java/junit-platform-console-standalone.jar
[ -f "$launcher" ] || { echo "JUnit 5 console launcher missing (apt-get install junit5)" >&2; exit 1; }
exec java -Xss1m -Dkess.conformance.dir="$vectors" -Dkess.example="$here/kess-example" \
  -Dkess.jar="$out/kess.jar" \
  -jar "$launcher" --disable-banner --details=tree --fail-if-no-tests \
  --class-path "$out/kess.jar:$out/test-classes" --select-package kess "$@"
