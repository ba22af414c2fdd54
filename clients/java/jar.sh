#!/usr/bin/env bash
# Prints the path of the kess Java client's jar, building it first if needed
# (build.sh) into a directory named after the sources' hash under
# ${TMPDIR:-/tmp}: a changed source tree gets a fresh build, and concurrent
# first runs do not collide. KESS_JAVA_JAR names a prebuilt jar instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -n "${KESS_JAVA_JAR:-}" ]; then
  echo "$KESS_JAVA_JAR"
  exit 0
fi
hash="$(find "$here/src/main/java" -name '*.java' | sort | xargs cat "$here/build.sh" | sha1sum | cut -c1-16)"
dir="${TMPDIR:-/tmp}/kess-java-$(id -u)-$hash"
jar="$dir/kess.jar"
if [ ! -f "$jar" ]; then
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/kess-java-build.XXXXXX")"
  "$here/build.sh" "$tmp" >&2
  mkdir -p "$dir"
  mv -f "$tmp/kess.jar" "$jar.$$" && mv -f "$jar.$$" "$jar"
  rm -rf "$tmp"
fi
echo "$jar"
