#!/usr/bin/env bash
# Builds the kess Java client with the JDK alone (javac, jar; no Maven, no
# network): clients/java/build.sh OUT_DIR [--tests]
#
#   OUT_DIR/kess.jar          the library, kess.example.KessExample and
#                             kess.bench.KessBench
#   OUT_DIR/test-classes/     the JUnit 5 tests (with --tests; needs
#                             /usr/share/java/junit-jupiter-api.jar)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUT_DIR [--tests]}"
tests="${2:-}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

rm -rf "$out/classes"
mkdir -p "$out/classes"
find "$here/src/main/java" -name '*.java' | sort >"$out/main-sources.txt"
# -XDignore.symbol.file: kess.example uses sun.misc.Signal (SIGTERM ->
# deregister, exit 0), in the jdk.unsupported module.
javac -encoding UTF-8 --release 17 -Xlint:all,-try -XDignore.symbol.file \
  -d "$out/classes" @"$out/main-sources.txt"
jar --create --file "$out/kess.jar.tmp" -C "$out/classes" .
mv -f "$out/kess.jar.tmp" "$out/kess.jar"

if [ "$tests" = "--tests" ]; then
  junit_api=/usr/share/java/junit-jupiter-api.jar
  junit_params=/usr/share/java/junit-jupiter-params.jar
  [ -f "$junit_api" ] || { echo "JUnit 5 is not installed (apt-get install junit5)" >&2; exit 1; }
  rm -rf "$out/test-classes"
  mkdir -p "$out/test-classes"
  find "$here/src/test/java" -name '*.java' | sort >"$out/test-sources.txt"
  javac -encoding UTF-8 --release 17 -Xlint:all,-try -d "$out/test-classes" \
    -cp "$out/kess.jar:$junit_api:$junit_params:/usr/share/java/apiguardian-api.jar:/usr/share/java/opentest4j.jar" \
    @"$out/test-sources.txt"
fi
