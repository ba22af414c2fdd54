#!/usr/bin/env bash
# The fault suite from one command: runs the fault scenario test(s)
# (real ZooKeeper, mandators, distributors and agents on 127.0.0.1, faults
# injected, the invariant checker after each: invariants 2, 4, 5, 6, 7
# and 9 of docs/design.md), prints the table
# scenario -> faults injected -> invariant results, and writes it with the
# totals into docs/reliability.md (between the faults-table markers).
#
#   scripts/faults.sh [--no-docs] [--log FILE] [--restart-agents N]
#                     [--simulated-agents N] [--wan-seconds N] [--wan-big-mib N]
#                     [--no-upgrade] [--upgrade-only]
#
# --no-docs   print the table only, leave docs/reliability.md alone
# --log FILE  do not run anything: build the table from a test log that
#             already holds the scenarios' "FAULTS|..." lines
# --restart-agents N, --simulated-agents N
#             the "restart all agents at once" scenario's extra real agent
#             processes and simulated agents (default 100 and 1000 here; the
#             test suite's CI run uses the test's own 20 and 300)
# --wan-seconds N, --wan-big-mib N
#             the WAN scenarios' size: how long the lossy and the flapping
#             link last, and the big value sent over the 1 Mbit/s link
#             (default 20 and 5 here; the test suite's run uses the test's
#             own 10 and 1)
#
# --no-upgrade    leave out the rolling upgrade scenario
# --upgrade-only  run only the rolling upgrade scenario (prints its table
#                 line; docs/reliability.md is left alone)
#             The rolling upgrade (tests/faults/rolling_upgrade_test.cc)
#             starts a 2-DC cluster from the daemons of the previous release
#             (UPGRADE_FROM below), upgrades it in place to the current ones
#             under load and checks it. The old daemons are built once by
#             scripts/build_old_release.sh into
#             $HOME/.cache/kess-upgrade/<commit> (a git worktree with its
#             own Bazel output base: about 10 minutes the first time,
#             nothing afterwards).
#
# Exits 1 when a test failed or any invariant was violated.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGETS=(//tests/faults:daemon_faults_test //tests/faults:zookeeper_faults_test
  //tests/faults:agent_faults_test //tests/faults:link_faults_test
  //tests/faults:wan_faults_test)
UPGRADE_TARGET=//tests/faults:rolling_upgrade_test
# The previous release the rolling upgrade starts from: the last commit of
# the 0.9.0 work of 2026-11-22 (docs/operations.md, Upgrades and
# compatibility).
UPGRADE_FROM=012d2afa5fd52d1de89deb096cc5d2ac75eb70d1
upgrade=1
DOC="$REPO/docs/reliability.md"
write_docs=1
log=""
restart_agents=100
simulated_agents=1000
wan_seconds=20
wan_big_mib=5
while [ $# -gt 0 ]; do
  case "$1" in
    --no-docs) write_docs=0 ;;
    --log) log="$2"; shift ;;
    --restart-agents) restart_agents="$2"; shift ;;
    --simulated-agents) simulated_agents="$2"; shift ;;
    --wan-seconds) wan_seconds="$2"; shift ;;
    --wan-big-mib) wan_big_mib="$2"; shift ;;
    --no-upgrade) upgrade=0 ;;
    --upgrade-only) upgrade=2; write_docs=0 ;;
    *) echo "usage: $0 [--no-docs] [--log FILE] [--restart-agents N] [--simulated-agents N] [--wan-seconds N] [--wan-big-mib N] [--no-upgrade] [--upgrade-only]" >&2; exit 2 ;;
  esac
  shift
done

rc=0
upgrade_env=()
if [ -z "$log" ] && [ "$upgrade" -ne 0 ]; then
  [ "$upgrade" -eq 2 ] && TARGETS=()
  if old_bin="$("$REPO/scripts/build_old_release.sh" "$UPGRADE_FROM" | tail -n 1)"; then
    TARGETS+=("$UPGRADE_TARGET")
    upgrade_env=(--test_env=KESS_UPGRADE_OLD_BIN="$old_bin"
      --test_env=KESS_UPGRADE_OLD_COMMIT="$UPGRADE_FROM")
  else
    echo "faults: building the previous release $UPGRADE_FROM failed" >&2
    rc=1
  fi
fi
if [ -z "$log" ] && [ "${#TARGETS[@]}" -gt 0 ]; then
  cd "$REPO"
  bazel test "${TARGETS[@]}" "${upgrade_env[@]}" --test_output=errors \
    --test_env=KESS_FAULTS_RESTART_AGENTS="$restart_agents" \
    --test_env=KESS_FAULTS_SIM_AGENTS="$simulated_agents" \
    --test_env=KESS_FAULTS_WAN_SECONDS="$wan_seconds" \
    --test_env=KESS_FAULTS_WAN_BIG_MIB="$wan_big_mib" || rc=$?
  log="$(mktemp)"
  for t in "${TARGETS[@]}"; do
    p="${t#//}"; p="${p/://}"
    cat "bazel-testlogs/$p/test.log" >>"$log" 2>/dev/null || true
  done
fi

lines="$(grep -a '^FAULTS|' "$log" || true)"
if [ -z "$lines" ]; then
  echo "faults: no scenario results in the test log (build or start-up failed?)" >&2
  exit 1
fi

table="$(
  echo "| scenario | faults injected | writes checked | files checked | reads checked | route samples checked | DC samples checked | violations |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  echo "$lines" | awk -F'|' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, ($8 == "" ? "–" : $8), ($9 == "" ? "–" : $9), $7}'
  # Observations listed with the faults (failovers, refusals, stale
  # reports, PUT latency, write errors counted, a new session, ZooKeeper
  # packets, connection spread, partition modes seen, link bytes, how long
  # changes waited) are not counted as faults.
  echo "$lines" | awk -F'|' '
    { n++; k = split($3, parts, ", "); for (i = 1; i <= k; i++) if (parts[i] !~ /failover|refused|reported stale|longest PUT|errors counted|new session|zk packets|spread |reconnect attempts|CPU|moved |published|partition_mode|delivered|waited/) f++; w += $4; fi += $5; r += $6; rs += $8; ds += $9; v += $7 }
    END { printf "| **%d scenarios** | **%d faults** | **%d** | **%d** | **%d** | **%d** | **%d** | **%d** |\n", n, f, w, fi, r, rs, ds, v }'
)"
echo "$table"
violations="$(echo "$lines" | awk -F'|' '{v += $7} END {print v + 0}')"

if [ "$write_docs" -eq 1 ] && [ -f "$DOC" ]; then
  stamp="$(date -u +%Y-%m-%d)"
  python3 - "$DOC" "$table" "$stamp" <<'EOF'
import sys
path, table, stamp = sys.argv[1:]
begin, end = "<!-- faults-table:begin -->", "<!-- faults-table:end -->"
text = open(path).read()
block = f"{begin}\nLast run: {stamp} (`scripts/faults.sh`).\n\n{table}\n{end}"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
EOF
  echo "faults: table written to docs/reliability.md"
fi

if [ "$rc" -ne 0 ] || [ "$violations" -ne 0 ]; then
  echo "faults: FAILED (test exit $rc, $violations violations)"
  exit 1
fi
echo "faults: ok"
