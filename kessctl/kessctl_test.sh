#!/usr/bin/env bash
# kessctl from a shell's point of view: exit codes, stdout/stderr, stdin and
# files, against the real mandator HTTP API of two DCs (api_server_main: the
# API over an in-memory ZooKeeper, one process per DC) and against nothing.
set -uo pipefail
kessctl="$TEST_SRCDIR/kess/kessctl/kessctl"
api_server="$TEST_SRCDIR/kess/mandator/testing/api_server_main"
tmp="$TEST_TMPDIR"
unset KESS_MANDATORS KESS_TOKEN
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect CODE CMD...: runs CMD with stdout/stderr in $tmp/out and $tmp/err.
expect() {
  local want=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    fail "exit $got, want $want: $*"
    sed 's/^/  stderr: /' "$tmp/err"
  fi
}
# contains FILE TEXT: $tmp/FILE (out or err) contains TEXT.
contains() {
  if ! grep -qF -- "$2" "$tmp/$1"; then
    fail "$1 does not contain '$2':"
    sed 's/^/  /' "$tmp/$1"
  fi
}

# Nothing listens on port 1 of loopback.
expect 5 "$kessctl" --mandators=127.0.0.1:1 config get ns k
contains err "kessctl: get ns/k: no mandator reachable at 127.0.0.1:1 (connection refused) (set --mandators or KESS_MANDATORS)"
KESS_MANDATORS=127.0.0.1:1 expect 5 "$kessctl" status
contains err "kessctl: status: no mandator reachable at 127.0.0.1:1"
expect 1 "$kessctl" config list
contains err "no mandator given"
expect 1 "$kessctl" --no_such_flag status
expect 1 "$kessctl" frob
expect 0 "$kessctl" --help
contains out "Exit codes:"

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
"$api_server" --address_file="$tmp/dc1" --datacenter=dc1 --member_id=m1 \
  2>"$tmp/dc1.log" &
pids+=($!)
"$api_server" --address_file="$tmp/dc2" --datacenter=dc2 --is_main=false \
  --main_datacenter=dc1 --member_id=m3 2>"$tmp/dc2.log" &
pids+=($!)
for _ in $(seq 1 100); do
  [ -f "$tmp/dc1" ] && [ -f "$tmp/dc2" ] && break
  sleep 0.1
done
dc1=$(cat "$tmp/dc1") && dc2=$(cat "$tmp/dc2") || {
  echo "the API servers did not start"
  exit 1
}

export KESS_MANDATORS="127.0.0.1:1,$dc1" # the first one is down
expect 0 "$kessctl" config put payments db.timeout_ms 250 --author=ci
contains out "payments/db.timeout_ms: revision 1, version 1"
expect 0 "$kessctl" config get payments db.timeout_ms
[ "$(cat "$tmp/out")" = 250 ] || fail "get printed '$(cat "$tmp/out")'"
expect 3 "$kessctl" config put payments db.timeout_ms 300 --expected_revision=0
contains err "kessctl: put payments/db.timeout_ms: compare-and-set failed"
expect 0 "$kessctl" config put payments db.timeout_ms 300 --expected_revision=1
expect 2 "$kessctl" config get payments nope
expect 4 "$kessctl" config get payments 'a b'
contains err 'key "a b" is invalid: character 0x20 at offset 1'
expect 1 "$kessctl" config put payments k
# A value that looks like a flag goes after "--".
expect 0 "$kessctl" config put payments negative -- -5
expect 0 "$kessctl" config get payments negative
[ "$(cat "$tmp/out")" = -5 ] || fail "value after '--': '$(cat "$tmp/out")'"

# Binary values: stdin and --file in, raw bytes out.
head -c 4096 /dev/urandom >"$tmp/blob"
expect 0 "$kessctl" config put payments blob - <"$tmp/blob"
expect 0 "$kessctl" config get payments blob
cmp -s "$tmp/blob" "$tmp/out" || fail "blob from stdin came back different"
expect 0 "$kessctl" config put payments blob2 --file="$tmp/blob"
expect 0 "$kessctl" config get payments blob2
cmp -s "$tmp/blob" "$tmp/out" || fail "blob from --file came back different"

# Gray release: flags from the command line, exit codes.
expect 1 "$kessctl" config gray payments db.timeout_ms 400
contains err "config gray needs --hosts=h1,h2 or --percentage=N"
expect 0 "$kessctl" config gray payments negative 7 --hosts=h1,h2
contains out "payments/negative: gray release at revision"
contains out "to hosts h1,h2"
expect 3 "$kessctl" config put payments negative 8
contains err "promote or abort it before writing the config"
expect 0 "$kessctl" config gray-status payments negative
contains out "gray release active at revision"
expect 0 "$kessctl" config abort payments negative
expect 0 "$kessctl" config get payments negative
[ "$(cat "$tmp/out")" = -5 ] || fail "after abort: '$(cat "$tmp/out")'"
expect 0 "$kessctl" config gray payments negative - --percentage=25 <<<"9"
contains out "to 25 % of hosts"
expect 0 "$kessctl" config promote payments negative
expect 2 "$kessctl" config gray-status payments negative
expect 3 "$kessctl" config abort payments negative

expect 0 "$kessctl" config get payments db.timeout_ms --show_meta
contains err "payments/db.timeout_ms: revision 2, version 2, 3 bytes"
expect 0 "$kessctl" config get payments db.timeout_ms --output=json
contains out '"value":"300"'
expect 0 "$kessctl" config history payments db.timeout_ms
contains out "REVISION  VERSION  AUTHOR"
expect 0 "$kessctl" config rollback payments db.timeout_ms --to_revision=1
expect 0 "$kessctl" config list payments
contains out "db.timeout_ms"
expect 0 "$kessctl" config delete payments blob2
expect 2 "$kessctl" config get payments blob2

expect 0 "$kessctl" --mandators="$dc1,127.0.0.1:1,$dc2" status
contains out "DC dc1 (main): leader m1 at $dc1"
contains out "DC dc2: leader m3 at $dc2"
contains out "127.0.0.1:1  connection refused"
expect 0 "$kessctl" --mandators="$dc1,$dc2" status --output=json
contains out '"datacenter":"dc2"'
# dc2 is a slave DC: it refuses writes.
expect 3 "$kessctl" --mandators="$dc2" config put payments k v
contains err "datacenter dc2 is not the main datacenter"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all kessctl shell checks passed"
