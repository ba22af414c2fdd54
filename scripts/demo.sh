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
# started. Every process is started and stopped by the cluster launcher
# (tests/cluster:kess_cluster), which this script drives over a pipe; the
# script itself makes the WAN mode's namespaces and runs the checks.
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

# The launcher's runfiles hold every daemon, the WAN emulator and the
# sample programs: building it builds them.
TARGETS=(//tests/cluster:kess_cluster //kessctl)
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
LAUNCHER=$BIN/tests/cluster/kess_cluster
KESSCTL=$BIN/kessctl/kessctl
for b in "$LAUNCHER" "$KESSCTL" "$BIN/mandator/mandator"; do
  [ -x "$b" ] || die "missing $b (build it: bazel build ${TARGETS[*]})"
done
for tool in python3 curl java; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
done

# ---- base dir, cleanup --------------------------------------------------------

CREATED_BASE=0
if [ -z "$BASE" ]; then
  BASE=$(mktemp -d /tmp/kess-demo.XXXXXX) || die "mktemp failed"
  CREATED_BASE=1
else
  mkdir -p "$BASE" || die "cannot create $BASE"
  BASE=$(cd "$BASE" && pwd)
  [ -z "$(ls -A "$BASE")" ] || die "$BASE is not empty (give a new or empty --base-dir)"
fi
# The launcher fills logs/, hosts/, secrets/, run/ and zk/.
LOGS=$BASE/logs SECRETS=$BASE/secrets HOSTS=$BASE/hosts RUN=$BASE/run
mkdir -p "$LOGS" "$RUN" "$BASE/bin"

FAILED=0          # set when a --smoke check fails
LAUNCHER_PID=""   # the launcher (a coprocess: TO/FROM are its stdin/stdout)
UP=0              # 1 once it described the running cluster
UNCLEAN=()        # processes that did not exit with status 0
CLEANED=0 STOPPED_ALL=0 WAN_UP=0
trap '' PIPE      # a write to a launcher that is gone fails, nothing more

# True while the process runs (a zombie does not count).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# ask <command...>: one command to the launcher; prints its one-line JSON
# answer, fails on an {"error": ...} answer or none within 5 minutes.
ask() {
  local line
  { printf '%s\n' "$*" >&"$TO"; } 2>/dev/null
  IFS= read -r -t 300 -u "$FROM" line || return 1
  printf '%s\n' "$line"
  [[ "$line" != '{"error":'* ]]
}

# Stops the cluster: the launcher stops exactly the processes it started
# (applications, agents, distributors, mandators, ZooKeeper, the WAN
# emulator: SIGTERM, SIGKILL after 15 s) and names those that did not exit
# cleanly. It gets SIGTERM instead if it is still starting them (then it
# stops what it started).
stop_cluster() {
  local summary="" status i
  if [ "$UP" = 1 ]; then
    summary=$(ask quit)
  else
    kill -TERM "$LAUNCHER_PID" 2>/dev/null
  fi
  for i in $(seq 1 1200); do alive "$LAUNCHER_PID" || break; sleep 0.1; done
  if alive "$LAUNCHER_PID"; then
    say "the launcher (pid $LAUNCHER_PID) did not stop within 120 s: SIGKILL (its processes die with it)"
    kill -KILL "$LAUNCHER_PID" 2>/dev/null
  fi
  { wait "$LAUNCHER_PID"; status=$?; } 2>/dev/null
  [ "$UP" = 0 ] || [ "$status" = 0 ] || UNCLEAN+=("kess_cluster exit status $status")
  if [ -n "$summary" ]; then
    local unclean
    unclean=$(jpy '"; ".join(d["unclean"])' <<<"$summary")
    [ -z "$unclean" ] || UNCLEAN+=("$unclean")
    say "all $(jpy 'd["stopped"]' <<<"$summary") processes stopped"
  fi
  [ ${#UNCLEAN[@]} -eq 0 ] || say "not a clean exit: ${UNCLEAN[*]} (see $LOGS)"
}

cleanup() {
  local rc=$?
  [ "$CLEANED" = 1 ] && return
  CLEANED=1
  trap '' INT TERM
  if [ -n "$LAUNCHER_PID" ] && [ "$STOPPED_ALL" = 0 ]; then
    say "stopping the cluster"
    stop_cluster
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

# wait_until <seconds> <command...>: polls every 0.25 s.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

# jpy <expression> [args...]: a Python expression over the JSON on stdin
# (d; the args are the list a). A bool is the exit status, anything else is
# printed.
jpy() {
  python3 -c 'import json, sys
d = json.load(sys.stdin); a = sys.argv[2:]
r = eval(sys.argv[1])
if isinstance(r, bool): sys.exit(0 if r else 1)
print(r)' "$@"
}

random_secret() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }

# ---- the WAN (--wan): a network namespace per DC, a router between them ----

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
  {
    i=0
    for dc in "${DCS[@]}"; do i=$((i + 1)); echo "dc $dc $WAN_BASE.$i.0/24"; done
    for pair in "${WAN_PAIRS[@]}"; do echo "pair $pair"; done
  } >"$RUN/wan.conf"
fi

# ---- the cluster ---------------------------------------------------------------

# The admin UI (when the mandator has it): one secret for every mandator, the
# UI's password for user admin and the API's Bearer token (kessctl:
# KESS_TOKEN); the launcher writes it to secrets/admin.password.
UI=0 ADMIN=false ADMIN_USER=admin
ADMIN_SECRET_FILE=$SECRETS/admin.password
API_AUTH=()   # curl arguments that authenticate an API request
mandator_flags=$("$BIN/mandator/mandator" --helpfull 2>&1)
if grep -q -- '-admin_password_file ' <<<"$mandator_flags"; then
  UI=1 ADMIN=true API_AUTH=(-H "@$SECRETS/admin.header")
fi
args=(--bin_dir="$BIN" --base_dir="$BASE" --log_file="$LOGS/kess_cluster.log"
      --dcs=${#DCS[@]} --zk_servers="$ZK_SERVERS" --mandators=3 --distributors=2
      --agents=3 --providers=1 --consumers=1 --service="$SERVICE"
      --subscribe="$CONFIG_NS/$CONFIG_KEY" --agent_flags=--pull_interval_ms=10000
      --distributor_flags=--poll_interval_ms=5000   # the distributor's default, not the tests' 500
      --admin="$ADMIN" --admin_user="$ADMIN_USER")
if [ "$WAN" = 1 ]; then
  netns=() addrs=()
  for dc in "${DCS[@]}"; do netns+=("$WAN_PREFIX-$dc"); addrs+=("$(wan_dc_addr "$dc")"); done
  args+=(--dc_netns="$(IFS=,; echo "${netns[*]}")" --dc_addresses="$(IFS=,; echo "${addrs[*]}")"
         --partition_after_ms="$PARTITION_AFTER_MS" --heal_after_ms="$HEAL_AFTER_MS"
         --wan_config="$RUN/wan.conf" --wan_netns="$WAN_PREFIX-wan"
         --wan_control_host="$WAN_BASE.0.1" --wan_transparent_port="$WAN_PORT")
fi
say "starting the cluster: tests/cluster:kess_cluster (log: $LOGS/kess_cluster.log)"
coproc CLUSTER { exec "$LAUNCHER" "${args[@]}"; }
LAUNCHER_PID=$CLUSTER_PID
exec {TO}>&"${CLUSTER[1]}" {FROM}<&"${CLUSTER[0]}"
# Its description of everything, once everything is up (bounded: each of its
# waits is).
IFS= read -r -t 1800 -u "$FROM" description ||
  die "the launcher said nothing (see $LOGS/kess_cluster.log)"
[[ "$description" != '{"error":'* ]] ||
  die "the cluster did not start: $(jpy 'd["error"]' <<<"$description") (logs: $LOGS)"
printf '%s\n' "$description" >"$RUN/cluster.json"
UP=1
# Shell variables from it: KESS_MANDATORS, WAN_CONTROL, HOST_IDS,
# AGENT_HTTP[host]; PIDS[name] and LOG[name] of every process.
declare -A AGENT_HTTP PIDS LOG
eval "$(jpy '"\n".join(
  ["KESS_MANDATORS=%s" % d["kess_mandators"], "WAN_CONTROL=%s" % (d["wan"] or {}).get("control", "")]
  + ["AGENT_HTTP[%s]=%s; HOST_IDS+=(%s)" % (h["host"], h["http"], h["host"]) for c in d["dcs"] for h in c["agents"]]
  + ["PIDS[%s]=%s; LOG[%s]=%s" % (p["name"], p["pid"], p["name"], p["log"]) for p in d["processes"]])' <"$RUN/cluster.json")"

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

consumer_stat() {  # consumer_stat <dc> <field>
  jpy 'd[a[0]]' "$2" <"$RUN/consumer-$1.json"
}
calls_by_dc() {  # calls_by_dc <consumer dc> <instance dc>
  jpy 'd["by_dc"].get(a[0], 0)' "$2" <"$RUN/consumer-$1.json"
}
# wan_state <dc a> <dc b> open|cut|blackhole: the link between two DCs.
wan_state() {
  curl -sf -m 5 -d '' "http://$WAN_CONTROL/state?a=$1&b=$2&state=$3" >/dev/null
}

# ---- what is where -------------------------------------------------------------

{
  echo "# source $BASE/kess.env"
  echo "export KESS_MANDATORS=$KESS_MANDATORS"
  [ "$UI" = 1 ] && echo "export KESS_TOKEN=\"\$(cat $ADMIN_SECRET_FILE)\""
  echo "export PATH=\"$BASE/bin:\$PATH\""
} >"$BASE/kess.env"
ln -sf "$KESSCTL" "$BASE/bin/kessctl"

banner() {
  local m1 pair dc
  m1=$(jpy 'd["dcs"][0]["mandators"][0]["http"]' <"$RUN/cluster.json")
  echo
  if [ "$WAN" = 1 ]; then
    echo "kess demo: 3 DCs over emulated WAN links (dc1 is the main DC)"
    echo
    echo "  Every connection between two DCs crosses the WAN emulator (tests/wan,"
    echo "  a transparent router between the DCs' network namespaces):"
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
  jpy '"\n".join("\n".join(
    ["  %s: ZooKeeper %s" % (c["name"], c["zk"])]
    + ["    mandator %s  http %s  heartbeats %s" % (m["id"], m["http"], m["address"]) for m in c["mandators"]]
    + ["    distributor %s  agents %s  http %s" % (x["id"], x["address"], x["http"]) for x in c["distributors"]])
    for c in d["dcs"])' <"$RUN/cluster.json"
  echo
  echo "  Hosts: agent cache dir (file cache, docs/file-cache.md) and agent API"
  jpy '"\n".join("    %-10s %s  http://%s/v1/status" % (h["host"], h["cache_dir"], h["http"])
    for c in d["dcs"] for h in c["agents"])' <"$RUN/cluster.json"
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
  while alive "$LAUNCHER_PID"; do
    sleep 2 &
    wait $! 2>/dev/null
    for name in "${!PIDS[@]}"; do
      if ! alive "${PIDS[$name]}" && [[ " $reported " != *" $name "* ]]; then
        say "warning: $name (pid ${PIDS[$name]}) exited; see ${LOG[$name]}"
        reported+=" $name"
      fi
    done
  done
  die "the launcher (pid $LAUNCHER_PID) exited; see $LOGS/kess_cluster.log"
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

# The config's revision and value in every host's cache (the launcher
# reads them with the file-cache reader: checksums verified).
config_everywhere() {  # config_everywhere <revision> <value>
  ask cached "$CONFIG_NS" "$CONFIG_KEY" |
    jpy 'all(e["revision"] == int(a[0]) and e["value"] == a[1] for e in d.values())' "$1" "$2"
}
put_and_wait() {  # put_and_wait <value> <seconds>: write in dc1, see it in all caches
  local value=$1 seconds=$2 revision start_ms
  start_ms=$(date +%s%3N)
  revision=$(kessctl config put "$CONFIG_NS" "$CONFIG_KEY" "$value" --output=json |
             jpy 'd["revision"]') || { echo "    kessctl put failed"; return 1; }
  if wait_until "$seconds" config_everywhere "$revision" "$value"; then
    echo "    revision $revision in all ${#HOST_IDS[@]} caches after $(( $(date +%s%3N) - start_ms )) ms"
  else
    echo "    revision $revision not in every cache within ${seconds}s:"
    ask cached "$CONFIG_NS" "$CONFIG_KEY" |
      jpy '"\n".join("      %s: %s %s" % (h, e["revision"], e["value"]) for h, e in d.items())'
    return 1
  fi
}

# 0. The admin UI, when the mandators have it.
http_code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }
ui_works() {
  local m1 code ok=0
  m1=$(jpy 'd["dcs"][0]["mandators"][0]["http"]' <"$RUN/cluster.json")
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
  ask routes "$SERVICE" | jpy 'd[a[0]]["instances"].get(a[1]) == "healthy"' "${1%-host*}/$1" "$2"
}
route_of() {  # route_of <host>: its route table's revision and instances
  ask routes "$SERVICE" | jpy 'd[a[0]]' "${1%-host*}/$1"
}
new_instance_discovered() {
  local start=$SECONDS
  ask provider dc1 2 >/dev/null || { echo "    could not start echo-dc1-2"; return 1; }
  for dc in "${DCS[@]}"; do
    wait_until 60 route_has "$dc-host3" echo-dc1-2 || {
      echo "    echo-dc1-2 not in $dc-host3's route table: $(route_of "$dc-host3")"
      return 1
    }
  done
  echo "    echo-dc1-2 healthy in the route table of every DC's host3 after $((SECONDS - start)) s"
}
check "new instance echo-dc1-2 (dc1-host2) appears in the consumers' route tables in every DC" \
  new_instance_discovered

dc1_consumer_uses_new() {
  jpy 'd["by_instance"].get("echo-dc1-2", 0) > 0' <"$RUN/consumer-dc1.json"
}
consumers_ok() {
  local dc ok=0
  wait_until 20 dc1_consumer_uses_new || { echo "    the dc1 consumer never called echo-dc1-2"; ok=1; }
  for dc in "${DCS[@]}"; do
    echo "    consumer $dc: $(jpy '"%d calls, %d ok, %d failed, by instance %s" % (d["calls"], d["ok"], d["failed"], d["by_instance"])' <"$RUN/consumer-$dc.json")"
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
agent_status() {  # agent_status <host>: its /v1/status
  curl -sf -m 2 "http://${AGENT_HTTP[$1]}/v1/status"
}
agent_connected() { agent_status "$1" | jpy 'd["connected"] is True'; }
consumers_sum() {  # consumers_sum <field>: over every DC's consumer
  local dc total=0
  for dc in "${DCS[@]}"; do total=$((total + $(consumer_stat "$dc" "$1"))); done
  echo "$total"
}
failed_before=$(consumers_sum failed)
ok_before=$(consumers_sum ok)
dead_addr=$(agent_status dc1-host3 | jpy 'd["distributor"]')
victim=$(jpy '([x["name"] for x in d["dcs"][0]["distributors"] if x["address"] == a[0]] or ["distributor-dc1-d1"])[0]' \
         "$dead_addr" <"$RUN/cluster.json")
say "kill -9 $victim (pid ${PIDS[$victim]}), the distributor dc1-host3's agent uses"
ask kill "$victim" >/dev/null || die "the launcher could not kill $victim"
agents_moved() {
  local host
  for host in dc1-host1 dc1-host2 dc1-host3; do
    agent_connected "$host" || return 1
    [ "$(agent_status "$host" | jpy 'd["distributor"]')" != "$dead_addr" ] || return 1
  done
}
moved() {
  local start=$SECONDS host
  wait_until 45 agents_moved || {
    for host in dc1-host1 dc1-host2 dc1-host3; do echo "    $host: $(agent_status "$host")"; done
    return 1
  }
  echo "    dc1 agents all connected to the other distributor after $((SECONDS - start)) s"
}
check "after kill -9 of ${victim#distributor-} every dc1 agent is connected to the remaining distributor" moved
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
  local http
  http=$(ask leader "$1" | jpy 'd["http"]') || return 1
  curl -sf -m 2 "${API_AUTH[@]}" "http://$http/api/v1/status" | jpy 'd[a[0]]' "$2"
}
dc3_mode_is() { [ "$(leader_status dc3 partition_mode 2>/dev/null)" = "$1" ]; }
cut_dc3_and_register() {
  local start=$SECONDS
  wan_state dc1 dc3 cut && wan_state dc2 dc3 cut || { echo "    the WAN control API refused"; return 1; }
  echo "    dc3 cut off from dc1 and dc2"
  wait_until 60 dc3_mode_is overlay || {
    echo "    dc3's leader never entered partition mode: $(leader_status dc3 partition_mode 2>&1)"; return 1; }
  echo "    dc3 in partition mode (overlay) after $((SECONDS - start)) s"
  ask provider dc3 2 >/dev/null || { echo "    could not start echo-dc3-2"; return 1; }
  wait_until 60 route_has dc3-host3 echo-dc3-2 || {
    echo "    echo-dc3-2 not in dc3-host3's route table while cut"; return 1; }
  if route_has dc1-host3 echo-dc3-2; then
    echo "    echo-dc3-2 reached dc1 across a cut link?"; return 1
  fi
  echo "    echo-dc3-2 discoverable inside dc3 while cut, $((SECONDS - start)) s after the cut"
}
heal_dc3() {
  local start=$SECONDS
  wan_state dc1 dc3 open && wan_state dc2 dc3 open || return 1
  wait_until 120 route_has dc1-host3 echo-dc3-2 || {
    echo "    echo-dc3-2 not in dc1's tables after the heal (dc3: $(leader_status dc3 partition_mode 2>&1))"; return 1; }
  wait_until 120 dc3_mode_is replicating || {
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
  stop_cluster
  STOPPED_ALL=1
  echo "    stopped in $((SECONDS - start)) s"
  [ ${#UNCLEAN[@]} -eq 0 ]
}
say "stopping the cluster"
check "every process started exits cleanly on SIGTERM (exit status 0)" clean_stop

say "smoke: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
