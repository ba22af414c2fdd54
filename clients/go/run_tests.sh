#!/usr/bin/env bash
# The Go client's checks, with Debian's Go (/usr/bin/go, 1.19) and nothing
# downloaded: gofmt, go vet, go test ./... (unit tests, kess-example, the
# conformance vectors of clients/conformance). The sources are copied out of
# the runfiles (symlinks) into $TEST_TMPDIR; GOPATH, GOCACHE and HOME live
# there too.
set -euo pipefail
runfiles="$TEST_SRCDIR/kess"
work="$TEST_TMPDIR/go"
mkdir -p "$work"
cp -rL "$runfiles/clients/go/." "$work/"
export HOME="$TEST_TMPDIR/home"
export GOPATH="$TEST_TMPDIR/gopath"
export GOCACHE="$TEST_TMPDIR/gocache"
export GOFLAGS=-mod=mod
export GOPROXY=off
export GONOSUMDB='*' GONOSUMCHECK=1 GOSUMDB=off
export GO111MODULE=on
export PATH="/usr/lib/go-1.19/bin:/usr/bin:/bin"
export KESS_CONFORMANCE_VECTORS="$runfiles/clients/conformance/vectors"
mkdir -p "$HOME" "$GOPATH" "$GOCACHE"
cd "$work"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -count=1 ./...
