#!/usr/bin/env bash
# Prints the path of one command of the Go client (cmd/NAME: kess-example or
# kess-bench), building it first if needed into a directory named after the
# sources' hash under ${TMPDIR:-/tmp}: a changed source tree gets a fresh
# build, and concurrent first runs do not collide. KESS_GO_BIN_DIR names a
# directory of prebuilt binaries instead. Offline: Debian's Go, GOPROXY=off,
# and a GOCACHE of its own unless one is set.
#   clients/go/bin.sh kess-example
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="${1:?usage: bin.sh kess-example|kess-bench}"
if [ -n "${KESS_GO_BIN_DIR:-}" ]; then
  echo "$KESS_GO_BIN_DIR/$name"
  exit 0
fi
[ -d "$here/cmd/$name" ] || { echo "bin.sh: no command $name" >&2; exit 2; }
hash="$(cd "$here" && find -L . \( -name '*.go' -o -name go.mod \) -type f | sort | xargs cat | sha1sum | cut -c1-16)"
base="${TMPDIR:-/tmp}/kess-go-$(id -u)"
dir="$base-$hash"
bin="$dir/$name"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  export GOCACHE="${GOCACHE:-$base-gocache}"
  export GOPATH="${GOPATH:-$base-gopath}"
  export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GO111MODULE=on
  [ -n "${HOME:-}" ] || export GOENV=off
  (cd "$here" && /usr/bin/go build -o "$bin.$$" "./cmd/$name") >&2
  mv -f "$bin.$$" "$bin"
fi
echo "$bin"
