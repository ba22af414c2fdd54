#!/usr/bin/env bash
# wan_emulator end to end: starts it on a small config in front of an echo
# server, reads the address file, checks that a link forwards with its
# delay, drives the control API (profile, cut, open, bad input, /metrics)
# and stops it with SIGTERM, expecting exit status 0. Only the pids this
# script started are ever signalled.
set -euo pipefail
emulator="$TEST_SRCDIR/kess/tests/wan/wan_emulator"
tmp="$TEST_TMPDIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- emulator stderr:"; cat "$tmp/emulator.err" 2>/dev/null || true
  exit 1
}

# An echo server and a client that times one round trip, in Python (every
# socket operation has a timeout).
cat >"$tmp/peer.py" <<'PY'
import socket, sys, threading, time
if sys.argv[1] == "echo":
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    import os
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    def serve(c):
        c.settimeout(60)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(data)
        except OSError:
            pass
        c.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:  # client ADDRESS MESSAGE: prints "<rtt ms> <reply>" or "EOF"
    host, port = sys.argv[2].rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = sys.argv[3].encode()
    start = time.monotonic()
    try:
        c.sendall(msg)
        got = b""
        while len(got) < len(msg):
            data = c.recv(65536)
            if not data:
                print("EOF")
                sys.exit(0)
            got += data
    except (ConnectionResetError, BrokenPipeError):
        print("EOF")
        sys.exit(0)
    print("%d %s" % ((time.monotonic() - start) * 1000, got.decode()))
PY
python3 "$tmp/peer.py" echo "$tmp/echo.port" &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$tmp/echo.port" ] && break; sleep 0.1; done
[ -f "$tmp/echo.port" ] || fail "echo server did not start"
echo_port=$(cat "$tmp/echo.port")

cat >"$tmp/wan.conf" <<CONF
# two DCs, 30 ms apart
pair dc1 dc2 delay=30ms
link to_dc2 dc1 dc2 0 127.0.0.1:$echo_port
link local  dc1 dc1 0 127.0.0.1:$echo_port
CONF

"$emulator" --config="$tmp/wan.conf" --address_file="$tmp/wan.addr" \
  --control_port=0 >"$tmp/emulator.out" 2>"$tmp/emulator.err" &
emulator_pid=$!
pids+=($emulator_pid)
for _ in $(seq 1 300); do [ -f "$tmp/wan.addr" ] && break; sleep 0.1; done
[ -f "$tmp/wan.addr" ] || fail "no address file"
link=$(awk '$1 == "to_dc2" {print $2}' "$tmp/wan.addr")
control=$(awk '$1 == "control" {print $2}' "$tmp/wan.addr")
[ -n "$link" ] && [ -n "$control" ] || fail "address file: $(cat "$tmp/wan.addr")"
grep -q "^local 127.0.0.1:" "$tmp/wan.addr" || fail "no local link"

# rtt_ms ADDRESS: one echo round trip through the link, in ms.
rtt_ms() {
  local out
  out=$(python3 "$tmp/peer.py" client "$1" hello) || fail "client: $out"
  [ "${out#* }" = hello ] || fail "echo through $1: '$out'"
  echo "${out%% *}"
}
# http METHOD PATH: prints the body, then the status on the last line. A
# POST sends an empty body (-d ''): without a Content-Length the server
# would wait for a body until the client gives up.
http() {
  local body=()
  [ "$1" = POST ] && body=(-d '')
  curl -sS --max-time 10 -X "$1" "${body[@]}" -w '\n%{http_code}' \
    "http://$control$2"
}
expect_status() {  # STATUS METHOD PATH [TEXT the body must contain]
  local out code body
  out=$(http "$2" "$3") || fail "curl $2 $3"
  code=${out##*$'\n'}
  body=${out%$'\n'*}
  [ "$code" = "$1" ] || fail "$2 $3: status $code, expected $1: $body"
  if [ $# -ge 4 ]; then
    grep -qF -- "$4" <<<"$body" || fail "$2 $3: no '$4' in: $body"
  fi
}

# The link forwards, 30 ms each way.
rtt=$(rtt_ms "$link")
[ "$rtt" -ge 60 ] || fail "round trip $rtt ms through a 30 ms link"
expect_status 200 GET /links '"name":"to_dc2","client_dc":"dc1","server_dc":"dc2"'
expect_status 200 GET /links '"forward":"delay=30ms"'

# A new profile from dc1 to dc2: 100 ms there, 30 ms back.
expect_status 200 POST '/pair?from=dc1&to=dc2&profile=delay=100ms,jitter=1ms' \
  '"links":["to_dc2"]'
expect_status 200 GET /links '"forward":"delay=100ms,jitter=1ms","reverse":"delay=30ms"'
rtt=$(rtt_ms "$link")
[ "$rtt" -ge 129 ] || fail "round trip $rtt ms after the profile change"

# Bad input is a 400 that says why.
expect_status 400 POST '/pair?from=dc1&to=dc2&profile=loss=2' 'loss=2'
expect_status 400 POST '/pair?from=dc1&to=dc2&profile=speed=1' 'unknown key'
expect_status 400 POST '/pair?from=dc1&to=dc9&profile=none' 'unknown DC'
expect_status 400 POST '/state?a=dc1&b=dc2&state=closed' 'not one of open'
expect_status 400 POST '/state?a=dc1&b=dc2&state=cut&direction=up' 'direction'
expect_status 400 POST '/state?a=dc1&state=cut' 'missing parameter \"b\"'
expect_status 400 POST '/state?a=dc1&b=dc2&state=cut&color=red' 'unknown parameter'
expect_status 400 POST '/flap?a=dc1&b=dc2&period_ms=x&count=2' 'not an integer'
expect_status 400 POST '/flap?a=dc1&b=dc2&period_ms=100&count=1' 'flap count'
expect_status 404 POST '/state?a=dc2&b=dc2&state=cut' 'no link'
expect_status 405 GET /state
# A POST without a Content-Length is refused at once, not waited on.
out=$(curl -sS --max-time 10 -X POST -w '\n%{http_code}' \
  "http://$control/state?a=dc1&b=dc2&state=cut") || fail "curl -X POST"
[ "${out##*$'\n'}" = 411 ] || fail "POST without Content-Length: $out"

# Cut: the link closes new connections at once; the other link still works.
expect_status 200 POST '/state?a=dc1&b=dc2&state=cut&direction=a_to_b' \
  '"links":["to_dc2"]'
out=$(python3 "$tmp/peer.py" client "$link" hello)
[ "$out" = EOF ] || fail "cut link answered: $out"
rtt_ms "$(awk '$1 == "local" {print $2}' "$tmp/wan.addr")" >/dev/null
expect_status 200 GET /links '"state":"cut"'
expect_status 200 GET /metrics 'kess_wan_link_state{link="to_dc2",state="cut"} 1'
expect_status 200 GET /metrics 'kess_wan_bytes_total{link="to_dc2",direction="forward"} 10'
expect_status 200 GET /metrics 'kess_wan_connections_refused_total{link="to_dc2"} 1'
expect_status 200 GET /metrics 'kess_wan_segments_lost_total{link="to_dc2",direction="forward"} 0'
expect_status 200 GET /metrics 'kess_wan_connections{link="to_dc2"}'

# Open again; a flap ends open.
expect_status 200 POST '/state?a=dc2&b=dc1&state=open' '"links":["to_dc2"]'
rtt_ms "$link" >/dev/null
expect_status 200 POST '/flap?a=dc1&b=dc2&period_ms=50&count=2' '"links":["to_dc2"]'
for _ in $(seq 1 100); do
  grep -qF '"flapping":false' <<<"$(http GET /links)" && break
  sleep 0.1
done
expect_status 200 GET /links '"state":"open","flapping":false'

# SIGTERM: exit status 0.
kill -TERM "$emulator_pid"
status=0
wait "$emulator_pid" || status=$?
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
grep -q "^to_dc2 127.0.0.1:" "$tmp/emulator.out" || fail "stdout: $(cat "$tmp/emulator.out")"

# Bad configs: exit 2 with the line in the message.
printf 'pair dc1 dc2 delay=10ms\nlink x dc1 dc3 0 127.0.0.1:1\n' >"$tmp/bad.conf"
status=0
"$emulator" --config="$tmp/bad.conf" 2>"$tmp/bad.err" || status=$?
[ "$status" -eq 2 ] || fail "bad config: exit status $status"
grep -q "line 2: link x: no pair line gives the profile from dc1 to dc3" \
  "$tmp/bad.err" || fail "bad config message: $(cat "$tmp/bad.err")"
echo "ok"
