#!/usr/bin/env bash
# zk_launcher starts two DCs, writes the ready file, and on SIGTERM stops
# exactly the servers it started.
set -euo pipefail
launcher="$TEST_SRCDIR/kess/tests/harness/zk_launcher"
ready="$TEST_TMPDIR/zk.env"
"$launcher" --dcs=dc1,dc2 --servers=1 --base_dir="$TEST_TMPDIR" \
  --ready_file="$ready" >"$TEST_TMPDIR/out" 2>"$TEST_TMPDIR/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -f "$ready" ] && break; sleep 0.1; done
[ -f "$ready" ] || { echo "no ready file"; cat "$TEST_TMPDIR/err"; exit 1; }
# shellcheck disable=SC1090
source "$ready"
for hosts in "$ZK_dc1" "$ZK_dc2"; do
  port=${hosts##*:}
  reply=$(exec 3<>/dev/tcp/127.0.0.1/"$port"; printf ruok >&3; cat <&3)
  [ "$reply" = imok ] || { echo "ruok to $hosts: '$reply'"; exit 1; }
done
[ "$ZK_dc1" != "$ZK_dc2" ]
grep -q "^ZK_dc1=127.0.0.1:" "$TEST_TMPDIR/out"

kill -TERM $pid
wait $pid
for hosts in "$ZK_dc1" "$ZK_dc2"; do
  port=${hosts##*:}
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    echo "server at $hosts still running after launcher stopped"; exit 1
  fi
done
echo "ok"
