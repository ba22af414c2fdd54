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
# of each DC; in dc1 also a provider in Python that registers itself through
# its host's agent with an HTTP health check
# (agent/examples/echo_provider.py, pyprovider-dc1-1 on dc1-host1, the same
# service). Then it prints where everything is and stays up until Ctrl-C;
# on exit (Ctrl-C, error, end of --smoke) it stops exactly the processes it
# started. Every process is started and stopped by the cluster launcher
# (tests/cluster:kess_cluster), which this script drives over a pipe; the
# script itself makes the WAN mode's namespaces.
#
#   --smoke        run the scripted scenario instead of waiting (the
#                  launcher's --smoke: tests/cluster/smoke_scenario.h);
#                  prints each check with PASS/FAIL, then "smoke: N passed,
#                  N failed", and exits 0 (all passed) or 1
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
NEEDED=("$LAUNCHER" "$BIN/mandator/mandator") TOOLS=(java)
# Only the interactive demo uses kessctl, python3 (the banner) and curl.
[ "$SMOKE" = 1 ] || NEEDED+=("$KESSCTL") TOOLS+=(python3 curl)
for b in "${NEEDED[@]}"; do
  [ -x "$b" ] || die "missing $b (build it: bazel build ${TARGETS[*]})"
done
for tool in "${TOOLS[@]}"; do
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

LAUNCHER_PID=""   # the launcher (a coprocess: TO/FROM are its stdin/stdout)
UP=0              # 1 once it described the running cluster (a coprocess)
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
mandator_flags=$("$BIN/mandator/mandator" --helpfull 2>&1)
if grep -q -- '-admin_password_file ' <<<"$mandator_flags"; then
  UI=1 ADMIN=true
fi
args=(--bin_dir="$BIN" --base_dir="$BASE" --log_file="$LOGS/kess_cluster.log"
      --dcs=${#DCS[@]} --zk_servers="$ZK_SERVERS" --mandators=3 --distributors=2
      --agents=3 --providers=1 --python_providers=1 --consumers=1 --service="$SERVICE"
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

# --smoke: the launcher runs the scenario itself (its checks and their
# PASS/FAIL lines, then "smoke: N passed, N failed"), stops the cluster and
# exits 0 or 1; its description goes to run/cluster.json.
if [ "$SMOKE" = 1 ]; then
  if [ "$ZK_SERVERS" = 1 ]; then
    say "smoke: 1 ZooKeeper server per DC to keep the run short (the interactive demo runs 3)"
  fi
  args+=(--smoke)
  [ "$WAN" = 1 ] && args+=(--smoke_cut_dc=dc3)   # partition mode there
  say "starting the cluster and the smoke scenario: tests/cluster:kess_cluster --smoke (log: $LOGS/kess_cluster.log)"
  "$LAUNCHER" "${args[@]}" </dev/null &
  LAUNCHER_PID=$!
  wait "$LAUNCHER_PID"
  status=$?
  STOPPED_ALL=1   # it stopped its processes (it stops them on any exit)
  exit "$status"
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
# Shell variables from it: KESS_MANDATORS, WAN_CONTROL; PIDS[name] and
# LOG[name] of every process.
declare -A PIDS LOG
eval "$(jpy '"\n".join(
  ["KESS_MANDATORS=%s" % d["kess_mandators"], "WAN_CONTROL=%s" % (d["wan"] or {}).get("control", ""),
   "KESS_CA=%s" % (d.get("ca") or "")]
  + ["PIDS[%s]=%s; LOG[%s]=%s" % (p["name"], p["pid"], p["name"], p["log"]) for p in d["processes"]])' <"$RUN/cluster.json")"

# The mandators serve HTTPS with certificates of the demo's own CA
# (<base>/tls/ca.pem): kessctl verifies them with KESS_CA.
export KESS_CA
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

# ---- what is where -------------------------------------------------------------

{
  echo "# source $BASE/kess.env"
  echo "export KESS_MANDATORS=$KESS_MANDATORS"
  [ -n "$KESS_CA" ] && echo "export KESS_CA=$KESS_CA"
  [ "$UI" = 1 ] && echo "export KESS_TOKEN=\"\$(cat $ADMIN_SECRET_FILE)\""
  echo "export PATH=\"$BASE/bin:\$PATH\""
} >"$BASE/kess.env"
ln -sf "$KESSCTL" "$BASE/bin/kessctl"

banner() {
  local m1 pair dc cacert="" pin=""
  # The mandators' URL ("https://host:port" with TLS, the demo's default).
  m1=$(jpy 'd["dcs"][0]["mandators"][0]["http"]' <"$RUN/cluster.json")
  [[ "$m1" == *://* ]] || m1="http://$m1"
  if [ -n "$KESS_CA" ]; then
    cacert="--cacert $KESS_CA "
    # The SHA-256 of the mandators' public key, for Chromium's
    # --ignore-certificate-errors-spki-list (trusts exactly that key).
    pin=$(openssl x509 -in "$(dirname "$KESS_CA")/mandator.pem" -pubkey -noout 2>/dev/null |
      openssl pkey -pubin -outform der 2>/dev/null | openssl dgst -sha256 -binary | base64)
  fi
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
    echo "  Web UI: $m1/ui/   (every mandator serves it at /ui/)"
    echo "    login: $ADMIN_USER / $(cat "$ADMIN_SECRET_FILE")"
    echo "    (generated for this run; also the API's Bearer token: $ADMIN_SECRET_FILE)"
    echo "  HTTP API (docs/http-api.md), e.g."
    echo "    curl ${cacert}-H @$SECRETS/admin.header $m1/api/v1/services/$SERVICE"
  else
    echo "  Web UI: not in this mandator build (no --admin_password_file flag); the"
    echo "  HTTP API (docs/http-api.md) of every mandator is open, e.g."
    echo "    curl ${cacert}$m1/api/v1/status"
    echo "    curl ${cacert}$m1/api/v1/services/$SERVICE"
  fi
  if [ -n "$KESS_CA" ]; then
    echo "  HTTPS: the certificates come from this demo's own CA, $KESS_CA"
    echo "    (kessctl: KESS_CA in kess.env; curl: --cacert). To open the UI in a browser,"
    echo "    import that file as a trusted CA (then remove it again), or start a"
    echo "    throw-away Chromium that trusts exactly the mandators' key:"
    echo "      chromium --user-data-dir=\$(mktemp -d) --ignore-certificate-errors-spki-list=$pin $m1/ui/"
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
  echo "  <dc>-host3 (calls it through Discovery, own DC first); in ${DCS[0]} also"
  echo "  pyprovider-${DCS[0]}-1 (Python, registered through its agent with an HTTP check:"
  echo "  curl http://$(jpy 'd["dcs"][0]["python_providers"][0]["agent"]' <"$RUN/cluster.json")/v1/services/$SERVICE/instances/pyprovider-${DCS[0]}-1)."
  echo "  The consumers' counters:"
  for dc in "${DCS[@]}"; do echo "    $RUN/consumer-$dc.json"; done
  echo
  echo "  Logs: $LOGS (tail -f $LOGS/consumer-dc1.log)"
  echo "  Pids: $RUN/pids"
}

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
