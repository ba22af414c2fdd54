#!/usr/bin/env bash
# wan_emulator as a transparent router (README.md, "Router mode"): three DCs
# in network namespaces made by wan_net.sh, the emulator in the router
# namespace, echo servers in dc2 and dc3 on their own DC addresses. Checks
# that a connection from dc1 to another DC's address crosses the emulated
# WAN with that pair's delay, that the host's own connections are routed but
# not intercepted, that a DC pair without a pair line is refused loudly,
# that the control API (by DC names) cuts a DC pair's transparent
# connections, and that everything is removed at the end.
#
# Addresses: 10.79.<i>.2 for DC i, 10.79.<i>.1 and 10.79.0.1 for the router,
# 10.79.0.2 for the host end of its veth; all of them live on veths inside
# the namespaces this test makes (and the host route 10.79.0.0/16 through
# them, for the test's duration): no traffic leaves the machine.
#
# Needs root and nftables: it FAILS (does not skip) when it cannot set up
# the namespaces, as CI runs as root. Only the pids it started are signalled;
# the EXIT trap stops them and removes the namespaces.
set -euo pipefail
emulator="$TEST_SRCDIR/kess/tests/wan/wan_emulator"
# shellcheck source=tests/wan/wan_net.sh
source "$TEST_SRCDIR/kess/tests/wan/wan_net.sh"
tmp="$TEST_TMPDIR"
prefix="wr$(($$ % 100000))"   # short: interface names are <= 15 characters
base=10.79
WAN_PORT=15001
pids=()
net_up=0
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "$net_up" = 0 ] || wan_net_down "$prefix" "$base"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
fail() {
  echo "FAIL: $*"
  echo "--- emulator stderr:"; cat "$tmp/emulator.err" 2>/dev/null || true
  exit 1
}

# An echo server that logs each client's address, and a client that times
# connect + ROUNDS echo round trips. Every socket operation has a timeout.
cat >"$tmp/peer.py" <<'PY'
import os, socket, sys, threading, time
if sys.argv[1] == "echo":  # echo HOST PORT READY_FILE PEER_LOG
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((sys.argv[2], int(sys.argv[3])))
    srv.listen(16)
    log = open(sys.argv[5], "a", buffering=1)
    lock = threading.Lock()
    with open(sys.argv[4] + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(sys.argv[4] + ".tmp", sys.argv[4])
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
        c, peer = srv.accept()
        with lock:
            log.write(peer[0] + "\n")
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    # client HOST:PORT ROUNDS [FILE]: prints "<ms>" (from before connect
    # to the last reply) or "EOF" (closed or reset). FILE is created once
    # connected; with ROUNDS 0, it then waits for EOF (20 s at most) and
    # prints "EOF" or "OPEN".
    host, port = sys.argv[2].rsplit(":", 1)
    rounds = int(sys.argv[3])
    start = time.monotonic()
    try:
        c = socket.create_connection((host, int(port)), timeout=10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(sys.argv) > 4:
            open(sys.argv[4], "w").close()
        if rounds == 0:
            c.settimeout(20)
            print("EOF" if not c.recv(1) else "DATA")
            sys.exit(0)
        for i in range(rounds):
            msg = b"hello %d" % i
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                data = c.recv(65536)
                if not data:
                    print("EOF")
                    sys.exit(0)
                got += data
            if got != msg:
                print("BAD %r" % got)
                sys.exit(1)
    except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
        print("EOF")
        sys.exit(0)
    except socket.timeout:
        print("OPEN")
        sys.exit(0)
    print("%d" % ((time.monotonic() - start) * 1000))
PY

# ---- the network --------------------------------------------------------
# (A failing wan_net_up removes what it made; a refusal must not make the
# EXIT trap remove namespaces that were there before.)
wan_net_up "$prefix" "$base" dc1 dc2 dc3 || fail "wan_net_up failed (root, ip and nft needed)"
net_up=1
[ "$(wan_dc_addr dc2)" = "$base.2.2" ] || fail "wan_dc_addr dc2: $(wan_dc_addr dc2)"
dc2=$(wan_dc_addr dc2)
dc3=$(wan_dc_addr dc3)

cat >"$tmp/wan.conf" <<CONF
dc dc1 $base.1.0/24
dc dc2 $base.2.0/24
dc dc3 $base.3.0/24
pair dc1 dc2 delay=25ms
pair dc1 dc3 delay=50ms
# no pair dc2 dc3: connections between them are refused
CONF
wan_router_exec "$emulator" --config="$tmp/wan.conf" --address_file="$tmp/wan.addr" \
  --transparent_port="$WAN_PORT" --control_host="$base.0.1" --control_port=0 \
  >"$tmp/emulator.out" 2>"$tmp/emulator.err" &
emulator_pid=$!
pids+=("$emulator_pid")
for dc in dc2 dc3; do
  wan_exec "$dc" python3 "$tmp/peer.py" echo "$(wan_dc_addr "$dc")" 7000 \
    "$tmp/$dc.ready" "$tmp/$dc.peers" &
  pids+=($!)
done
for _ in $(seq 1 300); do
  [ -f "$tmp/wan.addr" ] && [ -f "$tmp/dc2.ready" ] && [ -f "$tmp/dc3.ready" ] && break
  sleep 0.1
done
[ -f "$tmp/wan.addr" ] || fail "no address file"
[ -f "$tmp/dc2.ready" ] && [ -f "$tmp/dc3.ready" ] || fail "echo servers did not start"
grep -qx "transparent 0.0.0.0:$WAN_PORT" "$tmp/wan.addr" || fail "address file: $(cat "$tmp/wan.addr")"
control=$(awk '$1 == "control" {print $2}' "$tmp/wan.addr")
[ "${control%:*}" = "$base.0.1" ] || fail "control address '$control'"

# from_dc1 / from_host ADDRESS ROUNDS [FILE]: the client's output.
from_dc1() { wan_exec dc1 python3 "$tmp/peer.py" client "$@"; }
from_host() { python3 "$tmp/peer.py" client "$1" "$2"; }
# http METHOD PATH: the body (curl fails on an HTTP error). From the host:
# the control API listens on the router's host-side address.
http() {
  local body=()
  [ "$1" = POST ] && body=(-d '')
  curl -sSf --max-time 10 -X "$1" "${body[@]}" "http://$control$2"
}
metric() {  # metric NAME_WITH_LABELS: its value
  http GET /metrics | awk -v m="$1" '$1 == m {print $2}'
}
# jq_py EXPRESSION: evaluates a Python expression on the JSON on stdin (as
# `j`); JsonQuote writes '>' as \u003e, so the names are compared decoded.
jq_py() { python3 -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# ---- dc1 -> dc2 and dc1 -> dc3: delayed --------------------------------
# The handshake is with the router's kernel and adds no delay; each of the
# 2 echo round trips takes 2 x delay: >= 4 x 25 ms, >= 4 x 50 ms.
ms=$(from_dc1 "$dc2:7000" 2)
[[ "$ms" =~ ^[0-9]+$ ]] || fail "dc1 -> dc2: $ms"
echo "dc1 -> dc2: connect + 2 round trips in $ms ms"
[ "$ms" -ge 100 ] && [ "$ms" -le 5000 ] || fail "dc1 -> dc2 took $ms ms, expected >= 100"
ms=$(from_dc1 "$dc3:7000" 2)
[[ "$ms" =~ ^[0-9]+$ ]] || fail "dc1 -> dc3: $ms"
echo "dc1 -> dc3: connect + 2 round trips in $ms ms"
[ "$ms" -ge 200 ] && [ "$ms" -le 5000 ] || fail "dc1 -> dc3 took $ms ms, expected >= 200"
# dc2's server saw the router (which connected to it), not dc1.
[ "$(tail -n 1 "$tmp/dc2.peers")" = "$base.2.1" ] || fail "dc2 peers: $(cat "$tmp/dc2.peers")"

# ---- the host -> dc2: routed, not intercepted ---------------------------
ms=$(from_host "$dc2:7000" 2)
[[ "$ms" =~ ^[0-9]+$ ]] || fail "host -> dc2: $ms"
echo "host -> dc2: connect + 2 round trips in $ms ms (not intercepted)"
[ "$(tail -n 1 "$tmp/dc2.peers")" = "$base.0.2" ] || fail "dc2 saw $(tail -n 1 "$tmp/dc2.peers") for the host's connection"

# ---- counters by DC pair ------------------------------------------------
fwd=$(metric 'kess_wan_bytes_total{link="dc1->dc2",direction="forward"}')
rev=$(metric 'kess_wan_bytes_total{link="dc1->dc2",direction="reverse"}')
[ "${fwd:-0}" -ge 14 ] && [ "${rev:-0}" -ge 14 ] || fail "dc1->dc2 bytes: forward '$fwd', reverse '$rev'"
links=$(http GET /links)
summary=$(jq_py '" ".join("%s:%s:%s:%s:%s" % (l["name"], l["client_dc"], l["server_dc"], l["transparent"], l["forward"]) for l in j["links"])' <<<"$links")
[ "$summary" = "dc1->dc2:dc1:dc2:True:delay=25ms dc1->dc3:dc1:dc3:True:delay=50ms dc2->dc1:dc2:dc1:True:delay=25ms dc3->dc1:dc3:dc1:True:delay=50ms" ] \
  || fail "/links: $summary"
[ "$(jq_py 'j["links"][0]["forward_stats"]["bytes"] >= 14' <<<"$links")" = True ] || fail "/links: $links"

# ---- dc2 -> dc3: no pair line, refused and logged -----------------------
out=$(wan_exec dc2 python3 "$tmp/peer.py" client "$dc3:7000" 1)
[ "$out" = EOF ] || fail "dc2 -> dc3 without a pair line: $out"
[ "$(metric kess_wan_transparent_refused_total)" -ge 1 ] || fail "refused count"
grep -q "no pair line gives the profile from dc2 to dc3" "$tmp/emulator.err" \
  || fail "the refused dc2 -> dc3 connection was not logged"

# wait_for FILE: until it exists (bounded).
wait_for() {
  for _ in $(seq 1 200); do [ -f "$1" ] && return 0; sleep 0.05; done
  fail "$1 did not appear"
}

# ---- cut dc1 <-> dc3: connections closed, dc1 -> dc2 unaffected ---------
# An open connection first: the cut closes it.
from_dc1 "$dc3:7000" 0 "$tmp/held.connected" >"$tmp/held.out" &
held_pid=$!
pids+=("$held_pid")
wait_for "$tmp/held.connected"
changed=$(http POST "/state?a=dc1&b=dc3&state=cut" | jq_py '" ".join(j["links"])')
[ "$changed" = "dc1->dc3 dc3->dc1" ] || fail "cut dc1 dc3 changed: $changed"
wait "$held_pid" || fail "the held client failed"
[ "$(cat "$tmp/held.out")" = EOF ] || fail "open dc1 -> dc3 connection during the cut: $(cat "$tmp/held.out")"
out=$(from_dc1 "$dc3:7000" 1)
[ "$out" = EOF ] || fail "dc1 -> dc3 while cut: $out"
[ "$(metric 'kess_wan_connections_refused_total{link="dc1->dc3"}')" -ge 1 ] || fail "no refusal counted on dc1->dc3"
ms=$(from_dc1 "$dc2:7000" 2)
[[ "$ms" =~ ^[0-9]+$ ]] && [ "$ms" -ge 100 ] || fail "dc1 -> dc2 during the dc1-dc3 cut: $ms"
http POST "/state?a=dc1&b=dc3&state=open" >/dev/null || fail "open dc1 dc3"
ms=$(from_dc1 "$dc3:7000" 1)
[[ "$ms" =~ ^[0-9]+$ ]] && [ "$ms" -ge 100 ] || fail "dc1 -> dc3 after reopening: $ms"

# ---- blackhole dc1 <-> dc3: a connection is held, served at reopen -------
http POST "/state?a=dc1&b=dc3&state=blackhole" >/dev/null || fail "blackhole dc1 dc3"
from_dc1 "$dc3:7000" 1 "$tmp/bh.connected" >"$tmp/bh.out" &
bh_pid=$!
pids+=("$bh_pid")
wait_for "$tmp/bh.connected"
sleep 0.5
http POST "/state?a=dc1&b=dc3&state=open" >/dev/null || fail "open dc1 dc3"
wait "$bh_pid" || fail "the blackholed client failed"
ms=$(cat "$tmp/bh.out")
echo "dc1 -> dc3 across a 0.5 s blackhole: $ms ms"
[[ "$ms" =~ ^[0-9]+$ ]] && [ "$ms" -ge 600 ] && [ "$ms" -le 10000 ] \
  || fail "dc1 -> dc3 across a 0.5 s blackhole took '$ms' ms, expected >= 500 + 2 x 50"

# ---- stop: exit 0, then nothing left ------------------------------------
kill -TERM "$emulator_pid"
status=0
wait "$emulator_pid" || status=$?
[ "$status" -eq 0 ] || fail "emulator exit status $status after SIGTERM"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
wan_net_down "$prefix" "$base"
wan_net_down "$prefix" "$base"   # idempotent
net_up=0
left=$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}')
[ -z "$left" ] || fail "namespaces left: $left"
[ -z "$(ip route show "$base.0.0/16")" ] || fail "host route left: $(ip route show "$base.0.0/16")"
! ip link show dev "${prefix}h" >/dev/null 2>&1 || fail "host interface ${prefix}h left"
echo "ok"
