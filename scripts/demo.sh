#!/usr/bin/env bash
# The README's run command: a complete 2-DC kess cluster on 127.0.0.1, or
# with --wan 3 DCs over emulated WAN links.
#
#   scripts/demo.sh [--smoke] [--wan] [--base-dir DIR] [--keep] [--no-build]
#                   [--zk-servers N]
#
# Per DC: a ZooKeeper ensemble (3 servers; 1 with --smoke), 3 mandators,
# 2 distributors, 3 agents (hosts <dc>-host1..3, each with its own cache
# dir); a sample provider (sdk/examples:demo_provider, service demo-echo)
# on host1 and a sample consumer (demo_consumer, through Discovery) on host3
# of each DC. Then it prints where everything is and stays up until Ctrl-C;
# on exit (Ctrl-C, error, end of --smoke) it stops exactly the processes it
# started.
#
#   --smoke        run a scripted scenario instead of waiting; prints each
#                  check with PASS/FAIL and exits 0 (all passed) or 1
#   --base-dir D   where logs, caches and secrets go (default: a new
#                  /tmp/kess-demo.XXXXXX; under `bazel test`, $TEST_TMPDIR)
#   --keep         keep the base dir on exit (default: removed, except after
#                  a failed --smoke run, so its logs can be read)
#   --no-build     skip scripts/setup.sh and the build; use the binaries
#                  already in bazel-bin (under `bazel test`: the runfiles)
#   --bin-dir D    with --no-build: the bazel-bin to use (e.g. an optimized
#                  build's, for benchmarks)
#   --zk-servers N ZooKeeper servers per DC (1 or 3)
#   --wan          3 DCs (dc1 main, dc2, dc3), each in its own network
#                  namespace with its own address (10.77.<n>.2), every
#                  connection between two DCs routed through an emulated WAN
#                  (tests/wan: wan_emulator as a transparent router):
#                  dc1-dc2 RTT 20 ms, dc1-dc3 RTT 80 ms +-5 ms jitter 1 %
#                  loss, dc2-dc3 RTT 70 ms; partition mode on in the slave
#                  DCs. Needs root (namespaces, a host route to 10.77.0.0/16
#                  for the duration of the run). The 10.77.x.x addresses
#                  exist only on veths inside the namespaces this script
#                  creates (and removes on exit); no traffic leaves the
#                  machine. With --smoke it also cuts
#                  dc3 off and checks that an instance registered there is
#                  discoverable inside dc3 while cut, and in dc1 after the
#                  heal.
#   --wan-base B   the first two octets of the WAN mode's addresses
#                  (default 10.77)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE=0 KEEP=0 BUILD=1 BASE="" ZK_SERVERS="" WAN=0 WAN_BASE=10.77 BIN_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --wan) WAN=1 ;;
    --wan-base) WAN_BASE=${2:?--wan-base needs two octets, e.g. 10.77}; shift ;;
    --wan-base=*) WAN_BASE=${1#*=} ;;
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift ;;
    --bin-dir=*) BIN_DIR=${1#*=} ;;
    --base-dir) BASE=${2:?--base-dir needs a directory}; shift ;;
    --base-dir=*) BASE=${1#*=} ;;
    --zk-servers) ZK_SERVERS=${2:?--zk-servers needs 1 or 3}; shift ;;
    --zk-servers=*) ZK_SERVERS=${1#*=} ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$ZK_SERVERS" ] || { [ "$SMOKE" = 1 ] && ZK_SERVERS=1 || ZK_SERVERS=3; }
case "$ZK_SERVERS" in 1|3) ;; *) echo "demo.sh: --zk-servers is 1 or 3" >&2; exit 2 ;; esac

if [ "$WAN" = 1 ]; then
  DCS=(dc1 dc2 dc3)    # dc1 is the main DC
  [[ "$WAN_BASE" =~ ^[0-9]{1,3}\.[0-9]{1,3}$ ]] || { echo "demo.sh: --wan-base is two octets, e.g. 10.77" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "demo.sh: --wan needs root (network namespaces)" >&2; exit 2; }
else
  DCS=(dc1 dc2)        # dc1 is the main DC
fi
# The WAN mode's links (pair lines of tests/wan's wan_emulator config).
WAN_PAIRS=(
  "dc1 dc2 delay=10ms"
  "dc1 dc3 delay=40ms,jitter=5ms,loss=0.01"
  "dc2 dc3 delay=35ms"
)
# Partition mode of the slave DCs in WAN mode (off otherwise, as by default).
if [ "$SMOKE" = 1 ]; then PARTITION_AFTER_MS=5000 HEAL_AFTER_MS=5000
else PARTITION_AFTER_MS=30000 HEAL_AFTER_MS=30000; fi
SERVICE=demo-echo
CONFIG_NS=demo CONFIG_KEY=greeting

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

# ---- binaries -------------------------------------------------------------

TARGETS=(//mandator //kessctl //distributor //agent
         //tests/harness:zk_launcher //tests/wan:wan_emulator
         //sdk/examples:demo_provider //sdk/examples:demo_consumer)
if [ -n "${TEST_SRCDIR:-}" ]; then
  # Under `bazel test`: the binaries are data dependencies; never call bazel.
  BIN="$TEST_SRCDIR/${TEST_WORKSPACE:-kess}"
  BUILD=0
  [ -n "$BASE" ] || BASE="$TEST_TMPDIR/demo"
elif [ "$BUILD" = 1 ]; then
  cd "$ROOT" || exit 1
  say "setup: scripts/setup.sh"
  scripts/setup.sh || die "scripts/setup.sh failed"
  say "build: bazel build ${TARGETS[*]} (the first build takes a while)"
  bazel build "${TARGETS[@]}" || die "bazel build failed"
  # bazel-bin follows whatever was built last in this workspace; ask for the
  # output directory of this (default) configuration instead.
  BIN=$(bazel info bazel-bin 2>/dev/null) || die "bazel info bazel-bin failed"
else
  BIN="${BIN_DIR:-$ROOT/bazel-bin}"
fi
MANDATOR=$BIN/mandator/mandator
KESSCTL=$BIN/kessctl/kessctl
DISTRIBUTOR=$BIN/distributor/distributor
AGENT=$BIN/agent/agent
ZK_LAUNCHER=$BIN/tests/harness/zk_launcher
PROVIDER=$BIN/sdk/examples/demo_provider
CONSUMER=$BIN/sdk/examples/demo_consumer
WAN_EMULATOR=$BIN/tests/wan/wan_emulator
NEEDED=("$MANDATOR" "$KESSCTL" "$DISTRIBUTOR" "$AGENT" "$ZK_LAUNCHER" "$PROVIDER" "$CONSUMER")
[ "$WAN" = 1 ] && NEEDED+=("$WAN_EMULATOR")
for b in "${NEEDED[@]}"; do
  [ -x "$b" ] || die "missing $b (build it: bazel build ${TARGETS[*]})"
done
for tool in python3 curl java; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
done

# ---- base dir, process tracking, cleanup ------------------------------------

CREATED_BASE=0
if [ -z "$BASE" ]; then
  BASE=$(mktemp -d /tmp/kess-demo.XXXXXX) || die "mktemp failed"
  CREATED_BASE=1
else
  mkdir -p "$BASE" || die "cannot create $BASE"
  BASE=$(cd "$BASE" && pwd)
  [ -z "$(ls -A "$BASE")" ] || die "$BASE is not empty (give a new or empty --base-dir)"
fi
LOGS=$BASE/logs SECRETS=$BASE/secrets HOSTS=$BASE/hosts RUN=$BASE/run
mkdir -p "$LOGS" "$SECRETS" "$HOSTS" "$RUN" "$BASE/bin"

NAMES=() PIDS=()   # every process this script started, in start order
FAILED=0           # set when a --smoke check fails

# Starts a process in the background, logging to $LOGS/<name>.log.
start() {
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  local pid=$!
  NAMES+=("$name"); PIDS+=("$pid")
  echo "$name $pid" >>"$RUN/pids"
}

# dc_exec <dc> <command...>: only as the command of `start`: runs it in that
# DC's network namespace in WAN mode (ip netns exec execs it: the pid
# recorded is the daemon's own), as is otherwise.
dc_exec() {
  local dc=$1; shift
  if [ "$WAN" = 1 ]; then
    if [ "$dc" = wan ]; then exec ip netns exec "$WAN_PREFIX-wan" "$@"; fi
    exec ip netns exec "$WAN_PREFIX-$dc" "$@"
  fi
  exec "$@"
}

pid_of() {
  local i
  for i in "${!NAMES[@]}"; do
    [ "${NAMES[$i]}" = "$1" ] && { echo "${PIDS[$i]}"; return 0; }
  done
  return 1
}

# True while the process runs (a zombie does not count).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# stop <index...>: SIGTERM to those processes, SIGKILL to any still running
# after 15 s; reaps them and records in UNCLEAN any that did not exit 0.
UNCLEAN=()
declare -A REAPED   # index -> 1 once waited for
stop() {
  local i
  for i in "$@"; do alive "${PIDS[$i]}" && kill -TERM "${PIDS[$i]}" 2>/dev/null; done
  for _ in $(seq 1 150); do
    local any=0
    for i in "$@"; do alive "${PIDS[$i]}" && any=1; done
    [ "$any" = 0 ] && break
    sleep 0.1
  done
  for i in "$@"; do
    if alive "${PIDS[$i]}"; then
      say "${NAMES[$i]} (pid ${PIDS[$i]}) did not stop within 15 s: SIGKILL"
      kill -KILL "${PIDS[$i]}" 2>/dev/null
    fi
  done
  for i in "$@"; do reap "$i"; done
}

reap() {  # reap <index>: wait for it once, record how it ended
  local i=$1 status
  [ -n "${REAPED[$i]:-}" ] && return
  REAPED[$i]=1
  { wait "${PIDS[$i]}"; status=$?; } 2>/dev/null
  if [ "$status" -gt 128 ]; then
    UNCLEAN+=("${NAMES[$i]} killed by SIG$(kill -l "$((status - 128))")")
  elif [ "$status" != 0 ]; then
    UNCLEAN+=("${NAMES[$i]} exit status $status")
  fi
}

# Stops everything started: applications, then agents, distributors,
# mandators, ZooKeeper last.
stop_all() {
  local group prefix i todo
  for group in "consumer- provider-" "agent-" "distributor-" "mandator-" "zookeeper" "wan-"; do
    todo=()
    for i in "${!NAMES[@]}"; do
      [ -n "${REAPED[$i]:-}" ] && continue
      for prefix in $group; do
        [[ "${NAMES[$i]}" == "$prefix"* ]] && todo+=("$i")
      done
    done
    [ ${#todo[@]} -gt 0 ] && stop "${todo[@]}"
  done
  local left=()
  for i in "${!PIDS[@]}"; do alive "${PIDS[$i]}" && left+=("${NAMES[$i]}=${PIDS[$i]}"); done
  if [ ${#left[@]} -gt 0 ]; then
    say "still running: ${left[*]}"
  else
    say "all ${#PIDS[@]} processes stopped"
  fi
  [ ${#UNCLEAN[@]} -eq 0 ] || say "not a clean exit: ${UNCLEAN[*]} (see $LOGS)"
}

CLEANED=0 STOPPED_ALL=0 WAN_UP=0
cleanup() {
  local rc=$?
  [ "$CLEANED" = 1 ] && return
  CLEANED=1
  trap '' INT TERM
  if [ ${#PIDS[@]} -gt 0 ] && [ "$STOPPED_ALL" = 0 ]; then
    say "stopping ${#PIDS[@]} processes"
    stop_all
  fi
  if [ "$WAN_UP" = 1 ]; then
    wan_net_down "$WAN_PREFIX" "$WAN_BASE" && say "WAN namespaces removed"
  fi
  if [ "$rc" != 0 ] && [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]; then
    # Under `bazel test`: the logs end up in bazel-testlogs/.../test.outputs.
    cp -r "$LOGS" "$TEST_UNDECLARED_OUTPUTS_DIR/demo-logs" 2>/dev/null
    say "logs copied to the test's undeclared outputs (demo-logs/)"
  fi
  if [ "$KEEP" = 1 ] || { [ "$SMOKE" = 1 ] && [ "$rc" != 0 ] && [ -z "${TEST_TMPDIR:-}" ]; }; then
    say "kept $BASE (logs in $LOGS)"
  elif [ "$CREATED_BASE" = 1 ] || [ -n "${TEST_TMPDIR:-}" ]; then
    rm -rf "$BASE"
  else
    # A --base-dir given by the user: remove only what this script created.
    rm -rf "$LOGS" "$SECRETS" "$HOSTS" "$RUN" "${BASE:?}/bin" "$BASE/zk" "$BASE/kess.env"
  fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ---- helpers ----------------------------------------------------------------

# wait_until <seconds> <what> <command...>: polls every 0.25 s.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

# need <seconds> <what> <process name> <command...>: like wait_until, but
# gives up at once if that process exited, and dies pointing at its log.
need() {
  local seconds=$1 what=$2 name=$3; shift 3
  local deadline=$((SECONDS + seconds)) pid
  pid=$(pid_of "$name")
  while ! "$@" >/dev/null 2>&1; do
    alive "$pid" || die "$what: $name exited (see $LOGS/$name.log)"
    if [ "$SECONDS" -ge "$deadline" ]; then
      "$@" 2>&1 | tail -3 | sed 's/^/    last try: /'
      die "$what: not within ${seconds}s (see $LOGS/$name.log)"
    fi
    sleep 0.25
  done
}

http_ok() { curl -sf -m 2 -o /dev/null "http://$1$2"; }

# Free 127.0.0.1 ports for the daemons, as many as asked, all distinct.
# They are taken below the kernel's ephemeral range, so no bind(0) and no
# outgoing connection (of ZooKeeper, of the daemons, of other tests) can get
# one between this pick and the daemon's own bind.
free_ports() {
  python3 - "$1" <<'EOF'
import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top, bottom = low - 1, max(1024, low - 12000)
if top - bottom < 1000:  # an unusual range: let the kernel choose
    top = bottom = 0
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(bottom, top) if top else 0))
        s.listen(1)
        socks.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

random_secret() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }

json_field() {  # json_field <field> reads JSON on stdin, prints the field
  python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"
}

# Reads one file-cache entry (docs/file-cache.md), checksum verified; prints
# "<revision> <value>" (the value of a route table: its instances as
# "<id>:<state>" words).
cache_entry() {
  python3 - "$1" <<'EOF'
import base64, json, sys, zlib
d = json.load(open(sys.argv[1]))
assert d["format"] == 1
raw = base64.b64decode(d["value"]) if d["encoding"] == "base64" else d["value"].encode()
assert zlib.crc32(raw) == d["crc32"], "crc32 mismatch"
if d["type"] == "route":
    t = json.loads(raw)
    print(d["revision"], " ".join("%s:%s" % (i["id"], i["state"]) for i in t["instances"]))
else:
    print(d["revision"], raw.decode())
EOF
}

# ---- ports, secrets ---------------------------------------------------------

declare -A PORT HTTP
read -r -a ports <<<"$(free_ports $((10 * ${#DCS[@]})))"
n=0
for dc in "${DCS[@]}"; do
  for i in 1 2 3; do
    HTTP[$dc-m$i]=${ports[n]}; PORT[$dc-m$i]=${ports[n+1]}; n=$((n + 2))
  done
  for i in 1 2; do
    PORT[$dc-d$i]=${ports[n]}; HTTP[$dc-d$i]=${ports[n+1]}; n=$((n + 2))
  done
done

umask 077
ZK_AUTH=$SECRETS/zk.auth            # mandators: both ZooKeeper users
ZK_READER=$SECRETS/zk-reader.auth   # distributors: only the reader
TOKEN=$SECRETS/distributor.token    # agents <-> distributors
reader_password=$(random_secret)
printf 'mandator:%s\nreader:%s\n' "$(random_secret)" "$reader_password" >"$ZK_AUTH"
printf 'reader:%s\n' "$reader_password" >"$ZK_READER"
random_secret >"$TOKEN"
chmod 600 "$ZK_AUTH" "$ZK_READER" "$TOKEN"
# The admin UI (when the mandator has it): one secret for every mandator, the
# UI's password for user admin and the API's Bearer token (kessctl: KESS_TOKEN).
UI=0 ADMIN_USER=admin
ADMIN_SECRET_FILE=$SECRETS/admin.password
API_AUTH=()   # curl arguments that authenticate an API request
mandator_flags=$("$MANDATOR" --helpfull 2>&1)
if grep -q -- '-admin_password_file ' <<<"$mandator_flags"; then
  UI=1
  random_secret >"$ADMIN_SECRET_FILE"
  # For curl (-H @file), so the secret never appears on a command line.
  printf 'Authorization: Bearer %s\n' "$(cat "$ADMIN_SECRET_FILE")" >"$SECRETS/admin.header"
  chmod 600 "$ADMIN_SECRET_FILE" "$SECRETS/admin.header"
  API_AUTH=(-H "@$SECRETS/admin.header")
fi
umask 022

# ---- the WAN (--wan): a network namespace per DC, a router between them ----

declare -A ADDR   # the address every daemon of a DC listens on
say "base dir $BASE"
if [ "$WAN" = 1 ]; then
  if [ -n "${TEST_SRCDIR:-}" ]; then WAN_NET_SH=$BIN/tests/wan/wan_net.sh
  else WAN_NET_SH=$ROOT/tests/wan/wan_net.sh; fi
  # shellcheck disable=SC1090
  source "$WAN_NET_SH" || die "cannot load $WAN_NET_SH"
  WAN_PREFIX=kd$(( $$ % 100000 ))   # short: interface names are <= 15 chars
  WAN_PORT=15001                    # the router's interception port
  say "WAN: namespaces $WAN_PREFIX-{${DCS[*]// /,},wan}, addresses $WAN_BASE.<n>.2"
  wan_net_up "$WAN_PREFIX" "$WAN_BASE" "${DCS[@]}" || die "setting up the WAN namespaces failed"
  WAN_UP=1
  for dc in "${DCS[@]}"; do ADDR[$dc]=$(wan_dc_addr "$dc"); done
  {
    i=0
    for dc in "${DCS[@]}"; do i=$((i + 1)); echo "dc $dc $WAN_BASE.$i.0/24"; done
    for pair in "${WAN_PAIRS[@]}"; do echo "pair $pair"; done
  } >"$RUN/wan.conf"
  start wan-emulator dc_exec wan "$WAN_EMULATOR" --config="$RUN/wan.conf" \
    --transparent_port="$WAN_PORT" --control_host="$WAN_BASE.0.1" \
    --control_port=0 --address_file="$RUN/wan.addr"
  need 30 "the WAN emulator" wan-emulator test -s "$RUN/wan.addr"
  WAN_CONTROL=$(awk '$1 == "control" {print $2}' "$RUN/wan.addr")
  [ -n "$WAN_CONTROL" ] || die "the WAN emulator published no control address"
else
  for dc in "${DCS[@]}"; do ADDR[$dc]=127.0.0.1; done
fi
# wan_state <dc a> <dc b> open|cut|blackhole: the link between two DCs.
wan_state() {
  curl -sf -m 5 -d '' "http://$WAN_CONTROL/state?a=$1&b=$2&state=$3" >/dev/null
}

# ---- ZooKeeper ------------------------------------------------------------

say "starting ZooKeeper: ${#DCS[@]} ensembles of $ZK_SERVERS server(s)"
mkdir -p "$BASE/zk"
for dc in "${DCS[@]}"; do
  start "zookeeper-$dc" dc_exec "$dc" "$ZK_LAUNCHER" --dcs="$dc" \
    --host="${ADDR[$dc]}" --servers="$ZK_SERVERS" --base_dir="$BASE/zk" \
    --ready_file="$RUN/zk-$dc.env"
done
declare -A ZK
zk_deadline=$((SECONDS + 180))
for dc in "${DCS[@]}"; do
  until [ -f "$RUN/zk-$dc.env" ]; do
    # shellcheck disable=SC2015
    alive "$(pid_of "zookeeper-$dc")" && [ "$SECONDS" -lt "$zk_deadline" ] ||
      die "ZooKeeper of $dc did not start (see $LOGS/zookeeper-$dc.log)"
    sleep 0.25
  done
  ZK[$dc]=$(sed -n "s/^ZK_$dc=//p" "$RUN/zk-$dc.env")
done

# ---- mandators ---------------------------------------------------------------

mandators_of() {  # heartbeat (scheduler) addresses of a DC's mandators
  local dc=$1 out="" i
  for i in 1 2 3; do out+="${out:+,}${ADDR[$dc]}:${PORT[$dc-m$i]}"; done
  echo "$out"
}
http_mandators_of() {
  local dc=$1 out="" i
  for i in 1 2 3; do out+="${out:+,}${ADDR[$dc]}:${HTTP[$dc-m$i]}"; done
  echo "$out"
}
KESS_MANDATORS=""
for dc in "${DCS[@]}"; do KESS_MANDATORS+="${KESS_MANDATORS:+,}$(http_mandators_of "$dc")"; done
OTHER_DCS=""   # the main DC's --other_dcs: every slave DC's ensemble
for dc in "${DCS[@]:1}"; do OTHER_DCS+="${OTHER_DCS:+;}$dc=${ZK[$dc]}"; done

say "starting 3 mandators per DC"
for dc in "${DCS[@]}"; do
  for i in 1 2 3; do
    name=$dc-m$i
    args=(--id="m$i" --dc="$dc" --zk="${ZK[$dc]}" --zk_auth_file="$ZK_AUTH"
          --http_host="${ADDR[$dc]}" --http_port="${HTTP[$name]}"
          --port="${PORT[$name]}")
    [ "$UI" = 1 ] && args+=(--admin_password_file="$ADMIN_SECRET_FILE" --admin_user="$ADMIN_USER")
    if [ "$dc" = dc1 ]; then
      args+=(--main --other_dcs="$OTHER_DCS")
    else
      args+=(--nomain --main_zk="${ZK[dc1]}" --main_dc=dc1)
      [ "$WAN" = 1 ] && args+=(--partition_after_ms="$PARTITION_AFTER_MS"
                               --heal_after_ms="$HEAL_AFTER_MS")
    fi
    start "mandator-$name" dc_exec "$dc" "$MANDATOR" "${args[@]}"
  done
done
leader_of() {  # prints the DC's leader id once one is elected
  local id
  id=$(curl -sS -f -m 2 "${API_AUTH[@]}" "http://${ADDR[$1]}:${HTTP[$1-m1]}/api/v1/status" |
       json_field leader.id) && [ -n "$id" ] && echo "$id"
}
for dc in "${DCS[@]}"; do
  for i in 1 2 3; do
    need 60 "mandator $dc-m$i" "mandator-$dc-m$i" \
      http_ok "${ADDR[$dc]}:${HTTP[$dc-m$i]}" /healthz
  done
  need 60 "a leader in $dc" "mandator-$dc-m1" leader_of "$dc"
done

# ---- distributors ------------------------------------------------------------

say "starting 2 distributors per DC"
distributors_of() {
  local dc=$1 out="" i
  for i in 1 2; do out+="${out:+,}${ADDR[$dc]}:${PORT[$dc-d$i]}"; done
  echo "$out"
}
for dc in "${DCS[@]}"; do
  for i in 1 2; do
    name=$dc-d$i
    start "distributor-$name" dc_exec "$dc" "$DISTRIBUTOR" --id="d$i" --dc="$dc" \
      --zk="${ZK[$dc]}" --zk_auth_file="$ZK_READER" --auth_token_file="$TOKEN" \
      --listen_host="${ADDR[$dc]}" --port="${PORT[$name]}" --http_port="${HTTP[$name]}"
  done
done
for dc in "${DCS[@]}"; do
  for i in 1 2; do
    need 60 "distributor $dc-d$i" "distributor-$dc-d$i" \
      http_ok "${ADDR[$dc]}:${HTTP[$dc-d$i]}" /healthz
  done
done

# ---- agents (one per host) -------------------------------------------------------

HOST_IDS=()
declare -A AGENT_HTTP
say "starting 3 agents per DC"
for dc in "${DCS[@]}"; do
  for i in 1 2 3; do
    host=$dc-host$i
    HOST_IDS+=("$host")
    mkdir -p "$HOSTS/$host/cache"
    start "agent-$host" dc_exec "$dc" "$AGENT" --host_id="$host" --dc="$dc" \
      --distributors="$(distributors_of "$dc")" --mandators="$(mandators_of "$dc")" \
      --cache_dir="$HOSTS/$host/cache" --auth_token_file="$TOKEN" \
      --http_host="${ADDR[$dc]}" --http_port=0 --http_port_file="$HOSTS/$host/agent.port" \
      --pull_interval_ms=10000
  done
done
agent_connected() {
  curl -sf -m 2 "http://${AGENT_HTTP[$1]}/v1/status" | json_field connected |
    grep -qx True
}
for host in "${HOST_IDS[@]}"; do
  need 30 "agent $host" "agent-$host" test -s "$HOSTS/$host/agent.port"
  AGENT_HTTP[$host]=${ADDR[${host%-host*}]}:$(cat "$HOSTS/$host/agent.port")
  need 30 "agent $host connected" "agent-$host" agent_connected "$host"
done

# Every host subscribes the demo config (the consumers subscribe their
# service's route table themselves, through Discovery).
for host in "${HOST_IDS[@]}"; do
  curl -sf -m 10 -X POST "http://${AGENT_HTTP[$host]}/v1/subscriptions" \
    -d "{\"configs\":[{\"namespace\":\"$CONFIG_NS\",\"key\":\"$CONFIG_KEY\"}]}" \
    >/dev/null || die "subscribing $host to $CONFIG_NS/$CONFIG_KEY failed"
done

kessctl() {
  if [ "$UI" = 1 ]; then
    KESS_TOKEN=$(cat "$ADMIN_SECRET_FILE") "$KESSCTL" --mandators="$KESS_MANDATORS" "$@"
  else
    "$KESSCTL" --mandators="$KESS_MANDATORS" "$@"
  fi
}
kessctl config put "$CONFIG_NS" "$CONFIG_KEY" "hello from kess" \
  --comment="written by scripts/demo.sh" >/dev/null ||
  die "kessctl config put failed"

# ---- sample provider and consumers ----------------------------------------------

start_provider() {  # start_provider <dc> <host number> <instance number>
  local dc=$1 host=$1-host$2 id=echo-$1-$3
  start "provider-$id" dc_exec "$dc" "$PROVIDER" --service="$SERVICE" --id="$id" \
    --host="$host" --dc="$dc" --mandators="$(mandators_of "$dc")" \
    --listen_host="${ADDR[$dc]}" \
    --port_file="$RUN/provider-$id.port"
  need 30 "provider $id registered" "provider-$id" \
    test -s "$RUN/provider-$id.port"
}
say "starting the sample provider ($SERVICE) and consumers"
for dc in "${DCS[@]}"; do start_provider "$dc" 1 1; done
for dc in "${DCS[@]}"; do
  host=$dc-host3
  start "consumer-$dc" dc_exec "$dc" "$CONSUMER" --service="$SERVICE" --dc="$dc" \
    --cache_dir="$HOSTS/$host/cache" --agent="${AGENT_HTTP[$host]}" \
    --stats_file="$RUN/consumer-$dc.json"
done
consumer_stat() {  # consumer_stat <dc> <field>
  json_field "$2" <"$RUN/consumer-$1.json"
}
calls_by_dc() {  # calls_by_dc <consumer dc> <instance dc>
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_dc"].get(sys.argv[2], 0))' \
    "$RUN/consumer-$1.json" "$2"
}
# Calling, with a table that has the instances of both DCs.
consumer_calling() {
  [ "$(consumer_stat "$1" ok)" -gt 0 ] &&
    [ "$(consumer_stat "$1" instances)" -ge "${#DCS[@]}" ]
}
for dc in "${DCS[@]}"; do
  need 60 "consumer in $dc calling $SERVICE" "consumer-$dc" \
    consumer_calling "$dc"
done

# ---- what is where -------------------------------------------------------------

{
  echo "# source $BASE/kess.env"
  echo "export KESS_MANDATORS=$KESS_MANDATORS"
  [ "$UI" = 1 ] && echo "export KESS_TOKEN=\"\$(cat $ADMIN_SECRET_FILE)\""
  echo "export PATH=\"$BASE/bin:\$PATH\""
} >"$BASE/kess.env"
ln -sf "$KESSCTL" "$BASE/bin/kessctl"

banner() {
  local dc i host m1=${ADDR[dc1]}:${HTTP[dc1-m1]}
  echo
  if [ "$WAN" = 1 ]; then
    echo "kess demo: 3 DCs over emulated WAN links (dc1 is the main DC)"
    echo
    echo "  Every connection between two DCs crosses the WAN emulator (tests/wan,"
    echo "  a transparent router between the DCs' network namespaces):"
    local pair
    for pair in "${WAN_PAIRS[@]}"; do echo "    $pair (each way)"; done
    echo "  Partition mode: a slave DC cut off from dc1 for $((PARTITION_AFTER_MS / 1000)) s builds its own"
    echo "  route tables (new instances stay discoverable inside it); healed after $((HEAL_AFTER_MS / 1000)) s."
    echo "  Cut and heal a DC (also: state=blackhole, a silent drop; /flap?a=..&b=..&period_ms=..&count=..):"
    echo "    curl -d '' 'http://$WAN_CONTROL/state?a=dc1&b=dc3&state=cut'"
    echo "    curl -d '' 'http://$WAN_CONTROL/state?a=dc1&b=dc3&state=open'"
    echo "    curl http://$WAN_CONTROL/links     # profiles, states, bytes per DC pair"
    echo "  Links of the namespaces: ip netns exec $WAN_PREFIX-dc2 ...; host route $WAN_BASE.0.0/16"
  else
    echo "kess demo: 2 DCs on 127.0.0.1 (dc1 is the main DC)"
  fi
  echo
  if [ "$UI" = 1 ]; then
    echo "  Web UI: http://$m1/ui/   (every mandator serves it at /ui/)"
    echo "    login: $ADMIN_USER / $(cat "$ADMIN_SECRET_FILE")"
    echo "    (generated for this run; also the API's Bearer token: $ADMIN_SECRET_FILE)"
    echo "  HTTP API (docs/http-api.md), e.g."
    echo "    curl -H @$SECRETS/admin.header http://$m1/api/v1/services/$SERVICE"
  else
    echo "  Web UI: not in this mandator build (no --admin_password_file flag); the"
    echo "  HTTP API (docs/http-api.md) of every mandator is open, e.g."
    echo "    curl http://$m1/api/v1/status"
    echo "    curl http://$m1/api/v1/services/$SERVICE"
  fi
  echo
  local note=""
  [ "$UI" = 1 ] && note="; KESS_TOKEN: the admin secret"
  echo "  kessctl (KESS_MANDATORS: every mandator, dc1 first$note):"
  echo "    source $BASE/kess.env"
  echo "    kessctl status"
  echo "    kessctl config put $CONFIG_NS $CONFIG_KEY \"hello again\""
  echo "    kessctl config get $CONFIG_NS $CONFIG_KEY --show_meta"
  echo "    kessctl config history $CONFIG_NS $CONFIG_KEY"
  echo
  for dc in "${DCS[@]}"; do
    echo "  $dc: ZooKeeper ${ZK[$dc]}"
    for i in 1 2 3; do
      echo "    mandator m$i  http ${ADDR[$dc]}:${HTTP[$dc-m$i]}  heartbeats ${ADDR[$dc]}:${PORT[$dc-m$i]}"
    done
    for i in 1 2; do
      echo "    distributor d$i  agents ${ADDR[$dc]}:${PORT[$dc-d$i]}  http ${ADDR[$dc]}:${HTTP[$dc-d$i]}"
    done
  done
  echo
  echo "  Hosts: agent cache dir (file cache, docs/file-cache.md) and agent API"
  for host in "${HOST_IDS[@]}"; do
    printf '    %-10s %s  http://%s/v1/status\n' "$host" "$HOSTS/$host/cache" "${AGENT_HTTP[$host]}"
  done
  echo
  echo "  Sample service $SERVICE: provider echo-<dc>-1 on <dc>-host1, consumer on"
  echo "  <dc>-host3 (calls it through Discovery, own DC first); its counters:"
  for dc in "${DCS[@]}"; do echo "    $RUN/consumer-$dc.json"; done
  echo
  echo "  Logs: $LOGS (tail -f $LOGS/consumer-dc1.log)"
  echo "  Pids: $RUN/pids"
}

if [ "$SMOKE" = 0 ]; then
  banner
  echo
  echo "Running; Ctrl-C stops everything this script started."
  reported=""
  while true; do
    sleep 2 &
    wait $! 2>/dev/null
    for i in "${!PIDS[@]}"; do
      if ! alive "${PIDS[$i]}" && [[ " $reported " != *" ${NAMES[$i]} "* ]]; then
        say "warning: ${NAMES[$i]} (pid ${PIDS[$i]}) exited; see $LOGS/${NAMES[$i]}.log"
        reported+=" ${NAMES[$i]}"
      fi
    done
  done
fi

# ---- --smoke: the scripted scenario ----------------------------------------------

if [ "$ZK_SERVERS" = 1 ]; then
  say "smoke scenario (ZooKeeper: 1 server per DC to keep the run short; the interactive demo runs 3)"
else
  say "smoke scenario (ZooKeeper: $ZK_SERVERS servers per DC)"
fi
declare -A BY_DC_BEFORE
for dc in "${DCS[@]}"; do
  for other in "${DCS[@]}"; do
    BY_DC_BEFORE[$dc/$other]=$(calls_by_dc "$dc" "$other")
  done
done
PASSED=0
check() {  # check <description> <command...>: PASS/FAIL
  local what=$1; shift
  if "$@"; then
    say "PASS  $what"; PASSED=$((PASSED + 1))
  else
    say "FAIL  $what"; FAILED=$((FAILED + 1))
  fi
}

# The config's revision and value in every host's cache.
config_everywhere() {  # config_everywhere <revision> <value>
  local host entry
  for host in "${HOST_IDS[@]}"; do
    entry=$(cache_entry "$HOSTS/$host/cache/configs/$CONFIG_NS/$CONFIG_KEY.json" 2>/dev/null) || return 1
    [ "$entry" = "$1 $2" ] || return 1
  done
}
put_and_wait() {  # put_and_wait <value> <seconds>: write in dc1, see it in all caches
  local value=$1 seconds=$2 revision start_ms
  start_ms=$(date +%s%3N)
  revision=$(kessctl config put "$CONFIG_NS" "$CONFIG_KEY" "$value" --output=json |
             json_field revision) || { echo "    kessctl put failed"; return 1; }
  if wait_until "$seconds" "config" config_everywhere "$revision" "$value"; then
    echo "    revision $revision in all ${#HOST_IDS[@]} caches after $(( $(date +%s%3N) - start_ms )) ms"
  else
    echo "    revision $revision not in every cache within ${seconds}s:"
    local host
    for host in "${HOST_IDS[@]}"; do
      echo "      $host: $(cache_entry "$HOSTS/$host/cache/configs/$CONFIG_NS/$CONFIG_KEY.json" 2>&1 | tail -1)"
    done
    return 1
  fi
}

# 0. The admin UI, when the mandators have it.
http_code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }
ui_works() {
  local m1=${ADDR[dc1]}:${HTTP[dc1-m1]} code ok=0
  code=$(http_code "http://$m1/ui/"); echo "    GET /ui/: $code"
  [ "$code" = 200 ] || ok=1
  code=$(http_code "http://$m1/api/v1/configs"); echo "    API without credentials: $code"
  [ "$code" = 401 ] || ok=1
  (umask 077
   python3 -c 'import json,sys; print(json.dumps({"user": sys.argv[1], "password": open(sys.argv[2]).read().strip()}))' \
     "$ADMIN_USER" "$ADMIN_SECRET_FILE" >"$SECRETS/login.json")
  code=$(http_code -c "$SECRETS/ui.cookies" -H "Origin: http://$m1" \
         -H 'Content-Type: application/json' --data "@$SECRETS/login.json" "http://$m1/ui/login")
  echo "    POST /ui/login as $ADMIN_USER with the generated password: $code"
  [ "$code" = 200 ] || ok=1
  code=$(http_code -b "$SECRETS/ui.cookies" "http://$m1/api/v1/services/$SERVICE")
  echo "    API with the session cookie: $code"
  [ "$code" = 200 ] || ok=1
  return $ok
}
if [ "$UI" = 1 ]; then
  check "admin UI served at /ui/, login with the generated password, API refused without it" ui_works
else
  say "SKIP  admin UI: this mandator build has none (no --admin_password_file)"
fi

# 1. A config write in dc1 reaches every host of both DCs.
check "config put in dc1 -> same value and revision in all ${#HOST_IDS[@]} agent caches (${#DCS[@]} DCs)" \
  put_and_wait "smoke-1-$(random_secret)" 30

# 2. A new provider instance is discovered in both DCs.
route_has() {  # route_has <host> <instance id>: healthy in that host's cache
  cache_entry "$HOSTS/$1/cache/routes/$SERVICE.json" 2>/dev/null |
    grep -qw "$2:healthy"
}
new_instance_discovered() {
  local start=$SECONDS
  start_provider dc1 2 2
  for dc in "${DCS[@]}"; do
    wait_until 60 "route" route_has "$dc-host3" echo-dc1-2 || {
      echo "    echo-dc1-2 not in $dc-host3's route table: $(cache_entry "$HOSTS/$dc-host3/cache/routes/$SERVICE.json" 2>&1 | tail -1)"
      return 1
    }
  done
  echo "    echo-dc1-2 healthy in the route table of every DC's host3 after $((SECONDS - start)) s"
}
check "new instance echo-dc1-2 (dc1-host2) appears in the consumers' route tables in every DC" \
  new_instance_discovered

calls_to() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_instance"].get(sys.argv[2],0))' "$RUN/consumer-$1.json" "$2"; }
dc1_consumer_uses_new() { [ "$(calls_to dc1 echo-dc1-2)" -gt 0 ]; }
consumers_ok() {
  local dc ok=0
  wait_until 20 "calls" dc1_consumer_uses_new || { echo "    the dc1 consumer never called echo-dc1-2"; ok=1; }
  for dc in "${DCS[@]}"; do
    echo "    consumer $dc: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d calls, %d ok, %d failed, by instance %s" % (d["calls"], d["ok"], d["failed"], d["by_instance"]))' "$RUN/consumer-$dc.json")"
    [ "$(consumer_stat "$dc" failed)" = 0 ] || ok=1
  done
  return $ok
}
check "consumers' calls succeed (no failed call) and the dc1 consumer calls the new instance" \
  consumers_ok
local_first() {  # since the scenario started (before, a consumer may have
                 # had only the other DC's instance in its table)
  local dc other ok=0 own foreign
  for dc in "${DCS[@]}"; do
    own=$(( $(calls_by_dc "$dc" "$dc") - ${BY_DC_BEFORE[$dc/$dc]} ))
    foreign=0
    for other in "${DCS[@]}"; do
      [ "$other" = "$dc" ] && continue
      foreign=$(( foreign + $(calls_by_dc "$dc" "$other") - ${BY_DC_BEFORE[$dc/$other]} ))
    done
    echo "    consumer $dc: $own calls to $dc instances, $foreign to other DCs'"
    [ "$own" -gt 0 ] && [ "$foreign" = 0 ] || ok=1
  done
  return $ok
}
check "each consumer calls only its own DC's instances (local first)" local_first

# 3. kill -9 a distributor: agents move on, writes still reach every host,
#    the consumers' traffic is unaffected.
agent_distributor() {
  curl -sf -m 2 "http://${AGENT_HTTP[$1]}/v1/status" | json_field distributor
}
consumers_sum() {  # consumers_sum <field>: over every DC's consumer
  local dc total=0
  for dc in "${DCS[@]}"; do total=$((total + $(consumer_stat "$dc" "$1"))); done
  echo "$total"
}
failed_before=$(consumers_sum failed)
ok_before=$(consumers_sum ok)
victim_addr=$(agent_distributor dc1-host3)
victim=""
for i in 1 2; do [ "$victim_addr" = "${ADDR[dc1]}:${PORT[dc1-d$i]}" ] && victim=dc1-d$i; done
[ -n "$victim" ] || victim=dc1-d1
victim_pid=$(pid_of "distributor-$victim")
say "kill -9 distributor $victim (pid $victim_pid), the one dc1-host3's agent uses"
kill -KILL "$victim_pid"
# Reaped here, on purpose not counted as an unclean exit.
for i in "${!NAMES[@]}"; do [ "${NAMES[$i]}" = "distributor-$victim" ] && REAPED[$i]=1; done
{ wait "$victim_pid"; } 2>/dev/null
dead_addr=${ADDR[dc1]}:${PORT[$victim]}
agents_moved() {
  local host
  for host in dc1-host1 dc1-host2 dc1-host3; do
    agent_connected "$host" || return 1
    [ "$(agent_distributor "$host")" != "$dead_addr" ] || return 1
  done
}
moved() {
  local start=$SECONDS
  wait_until 45 "failover" agents_moved || {
    local host
    for host in dc1-host1 dc1-host2 dc1-host3; do
      echo "    $host: $(curl -sf -m 2 "http://${AGENT_HTTP[$host]}/v1/status")"
    done
    return 1
  }
  echo "    dc1 agents all connected to the other distributor after $((SECONDS - start)) s"
}
check "after kill -9 of $victim every dc1 agent is connected to the remaining distributor" moved
check "the next config write still reaches all ${#HOST_IDS[@]} agent caches" \
  put_and_wait "smoke-2-$(random_secret)" 30
sleep 2
traffic_unaffected() {
  local failed ok
  failed=$(( $(consumers_sum failed) - failed_before ))
  ok=$(( $(consumers_sum ok) - ok_before ))
  echo "    since the kill: $ok successful calls, $failed failed"
  [ "$failed" = 0 ] && [ "$ok" -gt 0 ]
}
check "consumers' traffic unaffected by the distributor's death" traffic_unaffected

# 4. WAN mode: dc3 cut off from both other DCs. Partition mode lets an
#    instance registered there be discovered inside dc3 while it is cut;
#    after the heal the main DC's tables have it too.
leader_status() {  # leader_status <dc> <field>
  local leader i
  leader=$(leader_of "$1") || return 1
  i=${leader#m}
  curl -sf -m 2 "${API_AUTH[@]}" "http://${ADDR[$1]}:${HTTP[$1-m$i]}/api/v1/status" |
    json_field "$2"
}
dc3_mode_is() { [ "$(leader_status dc3 partition_mode 2>/dev/null)" = "$1" ]; }
cut_dc3_and_register() {
  local start=$SECONDS
  wan_state dc1 dc3 cut && wan_state dc2 dc3 cut || { echo "    the WAN control API refused"; return 1; }
  echo "    dc3 cut off from dc1 and dc2"
  wait_until 60 "overlay" dc3_mode_is overlay || {
    echo "    dc3's leader never entered partition mode: $(leader_status dc3 partition_mode 2>&1)"; return 1; }
  echo "    dc3 in partition mode (overlay) after $((SECONDS - start)) s"
  start_provider dc3 2 2
  wait_until 60 "route" route_has dc3-host3 echo-dc3-2 || {
    echo "    echo-dc3-2 not in dc3-host3's route table while cut"; return 1; }
  if route_has dc1-host3 echo-dc3-2; then
    echo "    echo-dc3-2 reached dc1 across a cut link?"; return 1
  fi
  echo "    echo-dc3-2 discoverable inside dc3 while cut, $((SECONDS - start)) s after the cut"
}
heal_dc3() {
  local start=$SECONDS
  wan_state dc1 dc3 open && wan_state dc2 dc3 open || return 1
  wait_until 120 "route" route_has dc1-host3 echo-dc3-2 || {
    echo "    echo-dc3-2 not in dc1's tables after the heal (dc3: $(leader_status dc3 partition_mode 2>&1))"; return 1; }
  wait_until 120 "replicating" dc3_mode_is replicating || {
    echo "    dc3 still $(leader_status dc3 partition_mode 2>&1)"; return 1; }
  echo "    healed: echo-dc3-2 in dc1's tables and dc3 replicating again after $((SECONDS - start)) s"
}
if [ "$WAN" = 1 ]; then
  check "dc3 cut off: partition mode, and a new instance registered in dc3 is discoverable inside dc3" \
    cut_dc3_and_register
  check "dc3 healed: the instance reaches dc1's tables, dc3 replicates again" heal_dc3
  check "a config write after the heal reaches all ${#HOST_IDS[@]} agent caches" \
    put_and_wait "smoke-3-$(random_secret)" 60
fi

# 5. Everything stops cleanly.
clean_stop() {
  local start=$SECONDS
  stop_all
  STOPPED_ALL=1
  echo "    ${#PIDS[@]} processes stopped in $((SECONDS - start)) s"
  [ ${#UNCLEAN[@]} -eq 0 ]
}
say "stopping ${#PIDS[@]} processes"
check "every process started exits cleanly on SIGTERM (exit status 0)" clean_stop

say "smoke: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
