#!/usr/bin/env bash
# The cluster launcher (kess_cluster_main.cc) end to end on 127.0.0.1: its
# description, every command (status, cached, routes, leader, kill, stop,
# restart, provider, subscribe, a bad one), and that it stops exactly the
# processes it started, each with exit status 0, on quit, EOF, SIGTERM and
# SIGINT, and after a failed start. Only the launchers' own pids are
# signalled; they stop their processes themselves.
# shellcheck disable=SC2016  # the checks given to eval expand there
set -uo pipefail
launcher="$TEST_SRCDIR/kess/tests/cluster/kess_cluster"
tmp="$TEST_TMPDIR"
failures=0 LPID="" TO="" FROM=""
trap '' PIPE

pass() { echo "$(date +%T) ok: $*"; }
fail() { echo "$(date +%T) FAIL: $*"; failures=$((failures + 1)); }
check() {  # check <what> <command...>
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# True while the process runs (a zombie does not count).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# jpy <expression> [args...]: a Python expression over the JSON on stdin
# (d; args: a); a bool is the exit status, anything else is printed.
jpy() {
  python3 -c 'import json, sys
d = json.load(sys.stdin); a = sys.argv[2:]
r = eval(sys.argv[1])
if isinstance(r, bool): sys.exit(0 if r else 1)
print(r)' "$@"
}

# start <name> <flags...>: the launcher as a coprocess (LPID, TO, FROM); its
# first line in $tmp/<name>.json. Fails if it printed an error.
start() {
  local name=$1 line; shift
  coproc LAUNCHER { exec "$launcher" --base_dir="$tmp/$name" \
    --log_file="$tmp/$name.log" "$@"; }
  LPID=$LAUNCHER_PID
  exec {TO}>&"${LAUNCHER[1]}" {FROM}<&"${LAUNCHER[0]}"
  IFS= read -r -t 300 -u "$FROM" line || { echo "no description"; return 1; }
  printf '%s\n' "$line" >"$tmp/$name.json"
  [[ "$line" != '{"error":'* ]] || { echo "$line"; return 1; }
}

# ask <command...>: its one-line answer; fails on {"error": ...}.
ask() {
  local line
  { printf '%s\n' "$*" >&"$TO"; } 2>/dev/null
  IFS= read -r -t 300 -u "$FROM" line || return 1
  printf '%s\n' "$line"
  [[ "$line" != '{"error":'* ]]
}

# finish <name>: waits (60 s at most) for the launcher to exit; true if it
# exited 0 and no pid of $tmp/<name>/run/pids runs any more.
finish() {
  local name=$1 status pid left=""
  for _ in $(seq 1 600); do alive "$LPID" || break; sleep 0.1; done
  if alive "$LPID"; then echo "launcher $LPID still running"; kill -KILL "$LPID"; fi
  { wait "$LPID"; status=$?; } 2>/dev/null
  { exec {TO}>&- {FROM}<&-; } 2>/dev/null
  LPID=""
  while read -r _ pid; do
    alive "$pid" && left+=" $pid"
  done <"$tmp/$name/run/pids"
  [ -z "$left" ] || echo "still running:$left"
  [ "$status" = 0 ] && [ -z "$left" ]
}

cleanup() {
  [ -z "$LPID" ] || { kill -TERM "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; }
}
trap cleanup EXIT

# ---- 1. Two DCs, every command, quit --------------------------------------

start full --dcs=2 --mandators=2 --distributors=2 --agents=2 --providers=1 \
  --consumers=1 --consumer_host=2 --subscribe=t/k --agent_test_intervals ||
  { fail "the launcher starts a 2-DC cluster"; exit 1; }
desc=$tmp/full.json
names=$(jpy '" ".join(sorted(p["name"] for p in d["processes"]))' <"$desc")
expected="agent-dc1-host1 agent-dc1-host2 agent-dc2-host1 agent-dc2-host2 consumer-dc1 consumer-dc2 distributor-dc1-d1 distributor-dc1-d2 distributor-dc2-d1 distributor-dc2-d2 mandator-dc1-m1 mandator-dc1-m2 mandator-dc2-m1 mandator-dc2-m2 provider-echo-dc1-1 provider-echo-dc2-1 zookeeper-dc1-1 zookeeper-dc2-1"
check "the description names every process ($names)" [ "$names" = "$expected" ]
all_alive() {
  local pid
  for pid in $(jpy '" ".join(str(p["pid"]) for p in d["processes"])' <"$desc"); do
    alive "$pid" || return 1
  done
}
check "every process of the description runs" all_alive
check "secret files of mode 600" [ "$(stat -c %a "$(jpy 'd["admin"]["password_file"]' <"$desc")")" = 600 ]

cached_is() {  # cached_is <value>: config t/k in every agent's cache
  ask cached t k | jpy 'len(d) == 4 and all(e["value"] == a[0] and e["revision"] > 0 for e in d.values())' "$1"
}
check "cached t k: 4 hosts, nothing yet" \
  eval 'ask cached t k | jpy "len(d) == 4 and all(e[\"revision\"] == 0 for e in d.values())"'
leader=$(ask leader dc1 | jpy 'd["http"]')
# The mandators serve HTTPS, verified against the cluster's CA ("ca").
[[ "$leader" == https://* ]] || fail "the leader's address $leader is not https://"
curl -sf -m 10 --cacert "$(jpy 'd["ca"]' <"$desc")" -X PUT -H "Content-Type: application/json" \
  -H "@$(jpy 'd["admin"]["header_file"]' <"$desc")" \
  -d '{"value": "v1"}' "$leader/api/v1/configs/t/k" >/dev/null ||
  fail "PUT t/k at the leader $leader"
wait_for() {  # wait_for <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}
check "a config write reaches every agent's cache (cached)" wait_for 30 cached_is v1
check "leader dc2 names its mandator" \
  eval '[[ "$(ask leader dc2 | jpy "d[\"leader\"]")" == mandator-dc2-m[12] ]]'

pid_of() { ask status | jpy '[p["pid"] for p in d["processes"] if p["name"] == a[0]][0]' "$1"; }
running() { ask status | jpy '[p["running"] for p in d["processes"] if p["name"] == a[0]][0]' "$1"; }
old=$(pid_of distributor-dc1-d1)
check "kill distributor-dc1-d1" eval 'ask kill distributor-dc1-d1 >/dev/null'
check "its pid $old is gone and status says so" eval '! alive "$old" && ! running distributor-dc1-d1'
check "restart distributor-dc1-d1" eval 'ask restart distributor-dc1-d1 >/dev/null'
new=$(pid_of distributor-dc1-d1)
check "it runs again (pid $new)" eval '[ "$new" != "$old" ] && alive "$new" && running distributor-dc1-d1'
check "stop agent-dc1-host1: exit status 0" \
  eval '[ "$(ask stop agent-dc1-host1 | jpy "d[\"status\"]")" = "exit status 0" ]'
check "restart agent-dc1-host1" eval 'ask restart agent-dc1-host1 >/dev/null'
check "provider dc2 1 starts echo-dc2-2" \
  eval '[ "$(ask provider dc2 1 | jpy "d[\"started\"]")" = provider-echo-dc2-2 ]'
route_has() { ask routes demo-echo | jpy 'd["dc2/dc2-host2"]["instances"].get("echo-dc2-2") == "healthy"'; }
check "routes: echo-dc2-2 healthy in the consumer's host's route table" wait_for 60 route_has
check "subscribe t k2" eval 'ask subscribe t k2 >/dev/null'
check "an unknown command is an error" eval '! ask frobnicate >/dev/null'
check "a name that does not exist is an error" eval '! ask kill mandator-dc9-m1 >/dev/null'
summary=$(ask quit)
echo "quit: $summary"
check "quit: every process exited with status 0 (the killed one aside)" \
  jpy 'd["unclean"] == [] and d["stopped"] == 19' <<<"$summary"
check "quit: the launcher exits 0, nothing it started runs" finish full

# ---- 2. One DC, stopped by EOF, SIGTERM, SIGINT ----------------------------

small=(--dcs=1 --mandators=2 --distributors=1 --agents=1 --providers=1
       --consumers=1 --consumer_host=1)
start eof "${small[@]}" || fail "start (eof)"
exec {TO}>&-
eval "exec ${LAUNCHER[1]}>&-"  # the coprocess's own copy of its stdin
check "EOF on stdin: the launcher exits 0, nothing it started runs" finish eof
for sig in TERM INT; do
  start "sig$sig" "${small[@]}" || fail "start (SIG$sig)"
  kill "-$sig" "$LPID"
  check "SIG$sig: the launcher exits 0, nothing it started runs" finish "sig$sig"
done

# ---- 3. A failed start stops what it started -------------------------------

mkdir -p "$tmp/nobin"
if start failed --dcs=1 --bin_dir="$tmp/nobin"; then
  fail "no binaries: the launcher reports an error"
else
  pass "no binaries: the launcher reports an error ($(jpy 'd["error"]' <"$tmp/failed.json" | cut -c1-100))"
fi
for _ in $(seq 1 600); do alive "$LPID" || break; sleep 0.1; done
{ wait "$LPID"; status=$?; } 2>/dev/null
LPID=""
check "exit status 1 after a failed start" [ "$status" = 1 ]
left=""
while read -r _ pid; do alive "$pid" && left+=" $pid"; done <"$tmp/failed/run/pids"
check "a failed start leaves nothing running (ZooKeeper it had started: $(wc -l <"$tmp/failed/run/pids") process)" \
  [ -z "$left" ]

echo "$failures failure(s)"
[ "$failures" = 0 ]
