#!/usr/bin/env bash
# The Debian packages of //deploy:all installed on several hosts, each a
# network namespace with its own address and its own root directory, the
# daemons started exactly as their units say (unit_runner.sh), and a smoke
# scenario across them (README.md).
#
# Hosts (namespace <prefix>-<host>, address on eth0; a bridge in the
# namespace <prefix>-sw joins them):
#   zk   10.74.0.10   ZooKeeper (Debian's, not a kess package)
#   m1   10.74.0.11   kess-mandator (main DC dc1) and kess-tools
#   d1   10.74.0.21   kess-distributor
#   a1   10.74.0.31   kess-agent (host_id a1), the provider's host
#   a2   10.74.0.32   kess-agent (host_id a2)
# 10.74.0.0/24 exists only inside these namespaces (no route or address on
# the machine itself; tests/wan uses 10.79.x, the demo 10.77.x).
#
# Install: dpkg-deb -x into the host's root (merged /usr, as Debian 12),
# a copy of this machine's user, login and PAM files as its /etc, then the
# package's postinst configure run chrooted into that root (it makes the
# user kess in the host's own /etc/passwd and the state and cache
# directories). The operator's part: the flag file's settings, the
# secrets under /etc/kess and the TLS certificates (made with the packaged
# kessctl certs init).
#
# Checks: systemd-analyze verify of every unit in its host's root; each
# daemon runs as kess with no new privileges, no capabilities and the
# unit's open-file limit; /healthz of each answers with the package's
# version; a config written with the packaged kessctl reaches both agents'
# cache files; an instance registered through a1's agent is healthy in
# a2's cached route table and in the mandator's API; the admin UI's cluster
# view reports each daemon's version; and purging kess-agent on a2 removes
# the user but keeps /var/cache/kess and its files.
#
# Needs root (namespaces, mounts, chroot): it FAILS, not skips, without.
# It stops exactly the pids it started, and deletes the namespaces it made.
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
here=tests/deploy
runner="$PWD/$here/unit_runner.sh"
T=$(mktemp -d "${TEST_TMPDIR:-/tmp}/install.XXXXXX")
prefix="kd$(($$ % 100000))"
net=10.74.0
declare -A addr=([zk]=10 [m1]=11 [d1]=21 [a1]=31 [a2]=32)
hosts=(zk m1 d1 a1 a2)
pids=()
namespaces=()
failures=0

cleanup() {
  local p ns
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 143' TERM INT
say() { echo "$(date +%H:%M:%S) $*"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
pass() { say "ok: $*"; }
die() {
  say "FAIL: $*"
  for f in "$T"/logs/*; do echo "--- $f"; tail -20 "$f"; done
  exit 1
}
# wait_until SECONDS DESCRIPTION COMMAND...: polls every 0.5 s.
wait_until() {
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  fail "$what (not within ${limit}s)"
  return 1
}
in_host() { local h=$1; shift; ip netns exec "$prefix-$h" "$@"; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, mounts, chroot)"
version=$(cat VERSION)
mkdir -p "$T/logs"

# ---- the network: one bridge, one veth per host ----
say "network $net.0/24 in namespaces $prefix-*"
ip netns add "$prefix-sw"; namespaces+=("$prefix-sw")
ip -n "$prefix-sw" link add br0 type bridge
ip -n "$prefix-sw" link set br0 up
for h in "${hosts[@]}"; do
  ip netns add "$prefix-$h"; namespaces+=("$prefix-$h")
  ip -n "$prefix-sw" link add "v$h" type veth peer name eth0 netns "$prefix-$h"
  ip -n "$prefix-sw" link set "v$h" master br0 up
  ip -n "$prefix-$h" addr add "$net.${addr[$h]}/24" dev eth0
  ip -n "$prefix-$h" link set eth0 up
  ip -n "$prefix-$h" link set lo up
done

# ---- install ----
# install_pkg HOST PACKAGE: extract with merged /usr, run postinst configure.
install_pkg() {
  local h=$1 pkg=$2 root="$T/hosts/$1/root" stage="$T/stage/$1-$2"
  if [ ! -d "$root" ]; then
    mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64" \
      "$root/etc" "$root/var/lib/dpkg/info" "$root/dev"
    for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
    for f in passwd group shadow gshadow login.defs adduser.conf deluser.conf \
        nsswitch.conf ld.so.cache hosts; do
      [ -e "/etc/$f" ] && cp -p "/etc/$f" "$root/etc/$f"
    done
    for d in pam.d security default skel; do
      [ -d "/etc/$d" ] && cp -a "/etc/$d" "$root/etc/$d"
    done
    touch "$root/dev/null"
  fi
  mkdir -p "$stage"
  dpkg-deb -x "deploy/$pkg.deb" "$stage/files"
  dpkg-deb -e "deploy/$pkg.deb" "$stage/DEBIAN"
  for d in bin sbin lib lib64; do
    if [ -d "$stage/files/$d" ]; then
      cp -a "$stage/files/$d/." "$root/usr/$d/"
      rm -rf "${stage:?}/files/$d"
    fi
  done
  cp -a "$stage/files/." "$root/"
  for s in postinst prerm postrm; do
    [ -f "$stage/DEBIAN/$s" ] && cp "$stage/DEBIAN/$s" "$root/var/lib/dpkg/info/$pkg.$s"
  done
  if [ -f "$root/var/lib/dpkg/info/$pkg.postinst" ]; then
    maint "$h" "$pkg" postinst configure "" || die "$h: $pkg postinst failed"
  fi
}
# on_host HOST COMMAND...: COMMAND as root in the host's namespace,
# chrooted into its root with the machine's /usr under the packages'.
on_host() {
  local h=$1 root="$T/hosts/$1/root"
  shift
  ip netns exec "$prefix-$h" unshare --mount --propagation private bash -c '
    set -e
    root=$1; shift
    mount -t overlay overlay -o "lowerdir=$root/usr:/usr" "$root/usr"
    mount --bind /dev/null "$root/dev/null"
    mkdir -p "$root/run" "$root/tmp" "$root/proc"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount -t proc proc "$root/proc"
    exec chroot "$root" "$@"' _ "$root" "$@"
}
# maint HOST PACKAGE SCRIPT ARGS...: a maintainer script, as dpkg runs it.
maint() {
  local h=$1 pkg=$2 script=$3
  shift 3
  on_host "$h" /usr/bin/env DPKG_MAINTSCRIPT_PACKAGE="$pkg" \
    DPKG_MAINTSCRIPT_NAME="$script" DPKG_MAINTSCRIPT_ARCH="$(dpkg --print-architecture)" \
    DPKG_RUNNING_VERSION="$(dpkg-query -W -f='${Version}' dpkg)" \
    /bin/sh "/var/lib/dpkg/info/$pkg.$script" "$@" \
    >>"$T/logs/$h-maint.log" 2>&1
}

say "installing: m1 kess-mandator kess-tools, d1 kess-distributor, a1 a2 kess-agent"
install_pkg m1 kess-mandator
install_pkg m1 kess-tools
install_pkg d1 kess-distributor
install_pkg a1 kess-agent
install_pkg a2 kess-agent
# kess_uid HOST: the uid of kess in the host's own /etc/passwd.
kess_uid() { awk -F: '$1 == "kess" { print $3 }' "$T/hosts/$1/root/etc/passwd"; }
before=$failures
for h in m1 d1 a1 a2; do
  root="$T/hosts/$h/root"
  uid=$(kess_uid "$h")
  [ -n "$uid" ] || fail "$h: postinst made no user kess"
  dirs=/var/lib/kess
  case "$h" in a*) dirs="$dirs /var/cache/kess" ;; esac
  for d in $dirs; do
    [ "$(stat -c %u "$root$d" 2>/dev/null)" = "$uid" ] || fail "$h: $d is not kess's"
  done
done
[ "$failures" = "$before" ] && pass "postinst: user kess and its directories on every host"
# A first install does not enable the unit: the daemon needs its flags.
if ls "$T"/hosts/*/root/etc/systemd/system/multi-user.target.wants/kess-* 2>/dev/null; then
  fail "a first install enabled a unit"
else
  pass "a first install leaves the units disabled"
fi

# systemd-analyze verify, each unit in its host's root (with this
# machine's system units beside it for the targets it names).
for h in m1 d1 a1; do
  root="$T/hosts/$h/root"
  vroot="$T/verify-$h"
  mkdir -p "$vroot/usr/lib/systemd/system" "$vroot/usr/sbin" "$vroot/etc"
  for d in bin sbin lib lib64; do ln -sfn "usr/$d" "$vroot/$d"; done
  cp -a "$root/usr/lib/systemd/system/." "$vroot/usr/lib/systemd/system/"
  cp -an /lib/systemd/system/. "$vroot/usr/lib/systemd/system/"
  cp -a "$root/usr/sbin/." "$vroot/usr/sbin/"
  for u in "$root"/usr/lib/systemd/system/kess-*.service; do
    if out=$(systemd-analyze verify --root="$vroot" "$(basename "$u")" 2>&1) && [ -z "$out" ]; then
      pass "$h: systemd-analyze verify $(basename "$u")"
    else
      fail "$h: systemd-analyze verify $(basename "$u"): $out"
    fi
  done
done

# ---- ZooKeeper on zk ----
mkdir -p "$T/zk/data"
cat >"$T/zk/zoo.cfg" <<EOF
tickTime=500
initLimit=20
syncLimit=10
dataDir=$T/zk/data
clientPort=2181
clientPortAddress=$net.${addr[zk]}
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
# Not through in_host: $! must be the JVM's pid (ip netns exec execs it).
ip netns exec "$prefix-zk" java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
  -Dzookeeper.jmx.log4j.disable=true \
  -cp /usr/share/java/zookeeper.jar:/etc/zookeeper/conf_example \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$T/zk/zoo.cfg" \
  >"$T/logs/zk.log" 2>&1 &
pids+=($!)
zk_ok() { [ "$(in_host m1 bash -c "exec 3<>/dev/tcp/$net.${addr[zk]}/2181; echo ruok >&3; timeout 2 cat <&3")" = imok ]; }
wait_until 60 "ZooKeeper answers ruok" zk_ok || die "no ZooKeeper"
pass "ZooKeeper on $net.${addr[zk]}:2181"

# ---- the operator's part: secrets and flag files ----
secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
zk_mandator=$(secret) zk_reader=$(secret) admin=$(secret) token=$(secret)
# put_secret HOST NAME CONTENT: /etc/kess/NAME, mode 600, owner kess.
put_secret() {
  local root="$T/hosts/$1/root"
  printf '%s\n' "$3" >"$root/etc/kess/$2"
  chmod 600 "$root/etc/kess/$2"
  chown "$(awk -F: '$1 == "kess" { print $3 ":" $4 }' "$root/etc/passwd")" "$root/etc/kess/$2"
}
# TLS between the daemons: the cluster's certificates made on m1 with the
# packaged kessctl (docs/tls.md), each host given the CA and its role's
# certificate and key under /etc/kess/tls (key mode 600, owner kess).
mkdir -p "$T/hosts/m1/root/root"
on_host m1 /usr/bin/kessctl certs init --dir=/root/kess-certs --cluster=install-test \
  "--hosts=$net.${addr[m1]},$net.${addr[d1]},$net.${addr[a1]},$net.${addr[a2]}" \
  >>"$T/logs/m1-certs.log" 2>&1 || die "kessctl certs init"
# Each agent host gets a certificate of its own (kess://host/<host id>):
# the mandator checks that it registers only instances on itself.
for h in a1 a2; do
  on_host m1 /usr/bin/kessctl certs issue --dir=/root/kess-certs --kind=host \
    "--name=$h" >>"$T/logs/m1-certs.log" 2>&1 || die "kessctl certs issue $h"
done
certs="$T/hosts/m1/root/root/kess-certs"
for hr in m1:mandator d1:distributor a1:agent a2:agent; do
  h=${hr%%:*} role=${hr#*:} tls="$T/hosts/${hr%%:*}/root/etc/kess/tls"
  mkdir -p "$tls"
  cp "$certs/ca.pem" "$certs/$role.pem" "$certs/$role.key" "$tls/"
  if [[ $role == agent ]]; then
    cp "$certs/principals/host-$h.pem" "$tls/agent.pem"
    cp "$certs/principals/host-$h.key" "$tls/agent.key"
  fi
  chmod 600 "$tls/$role.key"
  chown -R "$(awk -F: '$1 == "kess" { print $3 ":" $4 }' "$T/hosts/$h/root/etc/passwd")" "$tls"
done
tls_flags() {
  echo --tls_ca=/etc/kess/tls/ca.pem "--tls_cert=/etc/kess/tls/$1.pem" "--tls_key=/etc/kess/tls/$1.key"
}
put_secret m1 zk-auth "mandator:$zk_mandator
reader:$zk_reader"
put_secret m1 admin-secret "$admin"
put_secret d1 zk-reader "reader:$zk_reader"
put_secret d1 agent-token "$token"
put_secret a1 agent-token "$token"
put_secret a2 agent-token "$token"
# set_flags HOST ROLE LINES...: appended to the packaged flag file (the
# commented defaults stay above them).
set_flags() {
  local f="$T/hosts/$1/root/etc/kess/$2.flags"
  shift 2
  printf '%s\n' "" "# set by the operator" "$@" >>"$f"
}
set_flags m1 mandator --id=m1 --dc=dc1 --main "--zk=$net.${addr[zk]}:2181" \
  --zk_auth_file=/etc/kess/zk-auth --admin_password_file=/etc/kess/admin-secret \
  "--http_host=$net.${addr[m1]}" "--listen_host=$net.${addr[m1]}" \
  --route_warmup_ms=2000 $(tls_flags mandator) --tls_client_auth
set_flags d1 distributor --id=d1 --dc=dc1 "--zk=$net.${addr[zk]}:2181" \
  --zk_auth_file=/etc/kess/zk-reader --auth_token_file=/etc/kess/agent-token \
  "--listen_host=$net.${addr[d1]}" $(tls_flags distributor)
for h in a1 a2; do
  set_flags "$h" agent "--host_id=$h" --dc=dc1 "--distributors=$net.${addr[d1]}:7200" \
    "--mandators=$net.${addr[m1]}:7200" --auth_token_file=/etc/kess/agent-token \
    --api_socket=/run/kess/agent.sock $(tls_flags agent) --tls_client_auth
done

# ---- start every unit as systemd would ----
declare -A daemon_pid
start_unit() {
  local h=$1 role=$2
  ip netns exec "$prefix-$h" "$runner" "$T/hosts/$h/root" "kess-$role.service" \
    "$T/logs/$h-$role.log" &
  daemon_pid[$h]=$!
  pids+=($!)
}
say "starting kess-mandator on m1, kess-distributor on d1, kess-agent on a1 and a2"
start_unit m1 mandator
# The mandator and the distributor serve HTTPS (their TLS certificates),
# verified against the cluster's CA; the agents' local API is plain.
healthz() { in_host "$1" curl -sf -m 2 --cacert "$certs/ca.pem" "$2/healthz"; }
wait_until 60 "m1's mandator is healthy" healthz m1 "https://$net.${addr[m1]}:7100" || die "no mandator"
start_unit d1 distributor
wait_until 60 "d1's distributor is healthy" healthz d1 "https://$net.${addr[d1]}:7201" || die "no distributor"
start_unit a1 agent
start_unit a2 agent
for h in a1 a2; do
  wait_until 60 "$h's agent is healthy" healthz "$h" http://127.0.0.1:7310 || die "no agent on $h"
done
pass "every daemon healthy"

# ---- each daemon as its unit says ----
check_process() {
  local h=$1 role=$2 pid=${daemon_pid[$1]} want_nofile=$3 st
  st=$(cat "/proc/$pid/status" 2>/dev/null) || { fail "$h: $role (pid $pid) is gone"; return; }
  local comm want_comm uid kess_uid hard
  comm=$(cat "/proc/$pid/comm")
  kess_uid=$(kess_uid "$h")
  # The runner caps LimitNOFILE at its hard limit where root may not raise
  # it (unit_runner.sh); the unit's value itself is checked by
  # //deploy:deploy_test.
  hard=$(ulimit -Hn)
  if ! prlimit --nofile="$want_nofile:$want_nofile" -- true 2>/dev/null && [ "$hard" -lt "$want_nofile" ]; then
    say "note: LimitNOFILE=$want_nofile is capped at $hard here (no CAP_SYS_RESOURCE)"
    want_nofile=$hard
  fi
  uid=$(awk '/^Uid:/ { print $2 }' <<<"$st")
  want_comm="kess-$role"
  [ "$comm" = "${want_comm:0:15}" ] || fail "$h: pid $pid is '$comm', not kess-$role"
  [ "$uid" = "$kess_uid" ] || fail "$h: kess-$role runs as uid $uid, not kess ($kess_uid)"
  grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" || fail "$h: kess-$role may gain privileges"
  grep -q '^CapBnd:[[:space:]]*0000000000000000' <<<"$st" || fail "$h: kess-$role has a capability bounding set"
  grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$st" || fail "$h: kess-$role has capabilities"
  local nofile
  nofile=$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
  [ "$nofile" = "$want_nofile" ] || fail "$h: kess-$role open files $nofile, not $want_nofile"
  if nsenter -t "$pid" -m -r touch /etc/kess/probe 2>/dev/null; then
    fail "$h: kess-$role's /etc is writable (ProtectSystem=strict)"
  fi
  pass "$h: kess-$role runs as kess (uid $uid), no new privileges, no capabilities, $nofile open files, read-only /etc"
}
check_process m1 mandator 131072
check_process d1 distributor 131072
check_process a1 agent 65536
nsenter -t "${daemon_pid[a1]}" -m -r /usr/bin/test -S /run/kess/agent.sock &&
  pass "a1: the agent's socket in its RuntimeDirectory, /run/kess/agent.sock" ||
  fail "a1: no /run/kess/agent.sock (RuntimeDirectory)"

# ---- versions ----
for target in "m1 https://$net.${addr[m1]}:7100" "d1 https://$net.${addr[d1]}:7201" "a1 http://127.0.0.1:7310"; do
  set -- $target
  got=$(in_host "$1" curl -si -m 5 --cacert "$certs/ca.pem" "$2/healthz" | tr -d '\r' | sed -n 's/^X-Kess-Version: //Ip')
  [ "$got" = "$version" ] && pass "$1: /healthz X-Kess-Version $got" ||
    fail "$1: /healthz X-Kess-Version '$got', want $version"
done
out=$(on_host m1 /usr/bin/kessctl --version 2>&1 || true)
grep -q "^kessctl version $version " <<<"$out" && pass "m1: kessctl --version: $out" ||
  fail "kessctl --version: $out"

# ---- smoke: a config write reaches both agents' cache files ----
for h in a1 a2; do
  in_host "$h" curl -sf -m 10 -X POST http://127.0.0.1:7310/v1/subscriptions \
    -d '{"app":"smoke","configs":[{"namespace":"smoke","key":"greeting"}],"routes":["smoke-echo"]}' \
    >/dev/null || fail "$h: subscribe"
done
value="hello-$(secret)"
if out=$(on_host m1 /usr/bin/env KESS_TOKEN="$admin" \
    /usr/bin/kessctl "--mandators=https://$net.${addr[m1]}:7100" config put smoke greeting "$value" 2>&1); then
  pass "kessctl config put smoke/greeting: $out"
else
  fail "kessctl config put: $out"
fi
cached() { grep -qF "\"value\":\"$value\"" "$T/hosts/$1/root/var/cache/kess/configs/smoke/greeting.json"; }
for h in a1 a2; do
  wait_until 30 "$h's cache file holds the written value" cached "$h" &&
    pass "$h: /var/cache/kess/configs/smoke/greeting.json holds $value"
done

# ---- smoke: a provider registered on a1 is discoverable on a2 ----
in_host a1 curl -sf -m 10 -X PUT http://127.0.0.1:7310/v1/services/smoke-echo/instances/echo-a1 \
  -d "{\"address\":\"$net.${addr[a1]}:9000\",\"owner\":\"smoke\"}" >/dev/null ||
  fail "a1: register echo-a1"
routed() {
  python3 - "$T/hosts/a2/root/var/cache/kess/routes/smoke-echo.json" <<'PY'
import json, sys
entry = json.load(open(sys.argv[1]))
table = json.loads(entry["value"])
ok = [i for i in table["instances"] if i["id"] == "echo-a1" and i["state"] == "healthy"]
sys.exit(0 if ok else 1)
PY
}
wait_until 60 "echo-a1 healthy in a2's cached route table" routed &&
  pass "a2: echo-a1 (registered on a1) healthy in /var/cache/kess/routes/smoke-echo.json"
listed() { in_host m1 curl -sf -m 5 --cacert "$certs/ca.pem" -H "Authorization: Bearer $admin" \
  "https://$net.${addr[m1]}:7100/api/v1/services/smoke-echo" | grep -q '"echo-a1"'; }
wait_until 30 "the mandator's API lists echo-a1" listed && pass "m1: /api/v1/services/smoke-echo lists echo-a1"

# ---- the admin UI's cluster view: each daemon's version ----
cluster=$(in_host m1 curl -sf -m 10 --cacert "$certs/ca.pem" -H "Authorization: Bearer $admin" \
  "https://$net.${addr[m1]}:7100/api/v1/cluster" || true)
if python3 -c '
import json, sys
c = json.load(sys.stdin)
dc = c["datacenters"][0]
versions = [m["status"]["version"] for m in dc["mandators"]] + \
           [d["status"]["version"] for d in dc["distributors"]]
sys.exit(0 if len(versions) == 2 and set(versions) == {sys.argv[1]} else 1)
' "$version" <<<"$cluster"; then
  pass "m1: /api/v1/cluster reports version $version for the mandator and the distributor"
else
  fail "m1: /api/v1/cluster versions: $cluster"
fi

# ---- purge kess-agent on a2: the user goes, the cache stays ----
kill "${daemon_pid[a2]}"
wait "${daemon_pid[a2]}" 2>/dev/null || true
root="$T/hosts/a2/root"
maint a2 kess-agent prerm remove || fail "a2: prerm remove"
# What dpkg removes: the package's files except conffiles (top-level
# bin, sbin, lib are under /usr in a merged-/usr root).
dpkg-deb -c deploy/kess-agent.deb | awk '$1 !~ /^d/ { print $NF }' | sed 's|^\./||' |
  while read -r f; do
    case "$f" in
      etc/*) ;;
      bin/*|sbin/*|lib/*|lib64/*) rm -f "$root/usr/$f" ;;
      *) rm -f "$root/$f" ;;
    esac
  done
maint a2 kess-agent postrm remove || fail "a2: postrm remove"
# dpkg removes the conffile on purge; the operator's secrets and
# certificates are the operator's to remove.
rm -rf "$root/etc/kess/agent.flags" "$root/etc/kess/agent-token" "$root/etc/kess/tls"
maint a2 kess-agent postrm purge || fail "a2: postrm purge"
grep -q '^kess:' "$root/etc/passwd" && fail "a2: purge left the user kess"
if [ -f "$root/var/cache/kess/configs/smoke/greeting.json" ] && [ -d "$root/var/lib/kess" ]; then
  pass "a2: purged: user kess removed, /var/cache/kess (with its files) and /var/lib/kess kept"
else
  fail "a2: purge deleted the cache or the state"
fi
[ -d "$root/etc/kess" ] && fail "a2: purge left an empty /etc/kess"

say "install_test: $failures failure(s)"
[ "$failures" -eq 0 ] || { for f in "$T"/logs/*; do echo "--- $f"; tail -15 "$f"; done; exit 1; }
