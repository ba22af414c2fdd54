# shellcheck shell=bash
# wan_net.sh: datacenters in network namespaces, every TCP connection
# between two of them routed through a router namespace where wan_emulator
# (--transparent_port) intercepts it. A bash library: source it. Needs root,
# `ip` (iproute2) and `nft` (nftables). See README.md ("Router mode").
#
#   source tests/wan/wan_net.sh
#   WAN_PORT=15001                         # the router's interception port
#   wan_net_up kw1 10.77 dc1 dc2 dc3       # PREFIX BASE DC...
#   wan_router_exec wan_emulator --config=... --transparent_port=$WAN_PORT &
#   wan_exec dc2 some_server --host="$(wan_dc_addr dc2)" &
#   ...
#   wan_net_down kw1 10.77                 # idempotent; fine in an EXIT trap
#
# Layout made by `wan_net_up PREFIX BASE DC...` (DC number i = 1, 2, ... in
# argument order; BASE = the first two octets, e.g. 10.77):
#   namespace PREFIX-<dc>  veth ${PREFIX}d<i>, BASE.<i>.2/24, default route
#                          via BASE.<i>.1; lo up
#   namespace PREFIX-wan   the router: veth ${PREFIX}r<i>, BASE.<i>.1/24 per
#                          DC; veth ${PREFIX}r0, BASE.0.1/24 to the host; lo up;
#                          ip_forward=1; nft table `kesswan`: TCP arriving
#                          from DC i's veth for ANOTHER DC's subnet is
#                          redirected to the router's port $WAN_PORT (the
#                          emulator finds the real destination with
#                          SO_ORIGINAL_DST and connects to it itself: its
#                          own connections are not redirected)
#   the host (root ns)     veth ${PREFIX}h, BASE.0.2/24, and a route
#                          BASE.0.0/16 via BASE.0.1: the host reaches every
#                          DC's addresses, routed by the router but never
#                          intercepted (nor is DC -> host traffic)
# Interface names are PREFIX + d<i> / r<i> / h and must fit in 15
# characters: PREFIX is 1 to 10 of [a-z0-9] starting with a letter (e.g.
# from $$: kw$(( $$ % 100000 ))), at most 99 DCs.
#
# Variables: WAN_PORT (read by wan_net_up; default 15001). wan_net_up sets
# WAN_PREFIX, WAN_BASE and WAN_DCS (array) for wan_dc_addr / wan_exec /
# wan_router_exec.
#
# Functions return non-zero with a message on stderr; none calls exit. The
# library starts no process and never kills one: stop what you started in
# the namespaces before wan_net_down (a namespace whose processes still run
# lives on, unnamed, until they exit).

WAN_PORT=${WAN_PORT:-15001}
WAN_PREFIX=${WAN_PREFIX:-}
WAN_BASE=${WAN_BASE:-}
[ -n "${WAN_DCS+x}" ] || WAN_DCS=()

_wan_err() { echo "wan_net: $*" >&2; }

# Runs a setup step; on failure says which.
_wan_do() {
  "$@" || { _wan_err "failed: $*"; return 1; }
}

# The namespaces named PREFIX-*, one a line.
_wan_namespaces() {
  ip netns list 2>/dev/null | awk -v p="$1-" 'index($1, p) == 1 {print $1}'
}

# wan_net_up PREFIX BASE DC...: see the top of this file. Refuses (non-zero,
# nothing changed) if not root, if ip or nft is missing, on bad arguments,
# if a namespace PREFIX-* or the host interface ${PREFIX}h exists, or if the
# host already has a route to BASE.0.0/16. A failure half-way removes what
# it made (wan_net_down).
wan_net_up() {
  local prefix=${1:-} base=${2:-}
  if [ $# -lt 3 ]; then
    _wan_err "usage: wan_net_up PREFIX BASE DC... (e.g. wan_net_up kw1 10.77 dc1 dc2)"
    return 2
  fi
  shift 2
  local dcs=("$@") dc tool
  [ "${EUID:-$(id -u)}" = 0 ] || { _wan_err "needs root (network namespaces, veths, nft, a host route)"; return 1; }
  for tool in ip nft; do
    command -v "$tool" >/dev/null || { _wan_err "'$tool' not found (scripts/setup.sh installs iproute2 and nftables)"; return 1; }
  done
  [[ "$prefix" =~ ^[a-z][a-z0-9]{0,9}$ ]] || { _wan_err "PREFIX '$prefix' must be 1 to 10 of [a-z0-9], starting with a letter (interface names are <= 15 chars)"; return 2; }
  [[ "$base" =~ ^([0-9]{1,3})\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] && [ "${BASH_REMATCH[2]}" -le 255 ] \
    || { _wan_err "BASE '$base' must be two octets, e.g. 10.77"; return 2; }
  [ ${#dcs[@]} -le 99 ] || { _wan_err "at most 99 DCs"; return 2; }
  local -A seen=()
  for dc in "${dcs[@]}"; do
    [[ "$dc" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { _wan_err "DC name '$dc': 1 to 64 of A-Z a-z 0-9 . _ -"; return 2; }
    [ "$dc" != wan ] || { _wan_err "DC name 'wan' is the router's namespace"; return 2; }
    [ -z "${seen[$dc]:-}" ] || { _wan_err "DC '$dc' given twice"; return 2; }
    seen[$dc]=1
  done
  if [ -n "$(_wan_namespaces "$prefix")" ]; then
    _wan_err "namespaces with prefix '$prefix-' exist already: $(_wan_namespaces "$prefix" | tr '\n' ' ')"
    return 1
  fi
  if ip link show dev "${prefix}h" >/dev/null 2>&1; then
    _wan_err "the host has an interface ${prefix}h already"
    return 1
  fi
  if [ -n "$(ip route show "$base.0.0/16" 2>/dev/null)" ]; then
    _wan_err "the host has a route to $base.0.0/16 already: $(ip route show "$base.0.0/16")"
    return 1
  fi
  [[ "$WAN_PORT" =~ ^[0-9]{1,5}$ ]] && [ "$WAN_PORT" -ge 1 ] && [ "$WAN_PORT" -le 65535 ] \
    || { _wan_err "WAN_PORT '$WAN_PORT' is not a port"; return 2; }

  WAN_PREFIX=$prefix WAN_BASE=$base WAN_DCS=("${dcs[@]}")
  if ! _wan_build "$prefix" "$base" "${dcs[@]}"; then
    _wan_err "setup failed; removing what was made"
    wan_net_down "$prefix" "$base"
    return 1
  fi
}

# The body of wan_net_up, after its checks.
_wan_build() {
  local prefix=$1 base=$2
  shift 2
  local router="$prefix-wan" i dc j rules=""
  _wan_do ip netns add "$router" || return 1
  _wan_do ip -n "$router" link set lo up || return 1
  _wan_do ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1 || return 1
  # The host's veth: created in the host with its peer in the router.
  _wan_do ip link add "${prefix}h" type veth peer name "${prefix}r0" netns "$router" || return 1
  _wan_do ip addr add "$base.0.2/24" dev "${prefix}h" || return 1
  _wan_do ip link set "${prefix}h" up || return 1
  _wan_do ip -n "$router" addr add "$base.0.1/24" dev "${prefix}r0" || return 1
  _wan_do ip -n "$router" link set "${prefix}r0" up || return 1
  _wan_do ip route add "$base.0.0/16" via "$base.0.1" dev "${prefix}h" || return 1
  i=0
  for dc in "$@"; do
    i=$((i + 1))
    local ns="$prefix-$dc"
    _wan_do ip netns add "$ns" || return 1
    _wan_do ip -n "$ns" link set lo up || return 1
    # Made in the router, its peer straight in the DC: never in the host.
    _wan_do ip -n "$router" link add "${prefix}r$i" type veth peer name "${prefix}d$i" netns "$ns" || return 1
    _wan_do ip -n "$router" addr add "$base.$i.1/24" dev "${prefix}r$i" || return 1
    _wan_do ip -n "$router" link set "${prefix}r$i" up || return 1
    _wan_do ip -n "$ns" addr add "$base.$i.2/24" dev "${prefix}d$i" || return 1
    _wan_do ip -n "$ns" link set "${prefix}d$i" up || return 1
    _wan_do ip -n "$ns" route add default via "$base.$i.1" || return 1
    # From DC i to every other DC's subnet: to the emulator's port.
    local others=()
    for j in $(seq 1 $#); do
      [ "$j" -eq "$i" ] || others+=("$base.$j.0/24")
    done
    if [ ${#others[@]} -gt 0 ]; then
      local daddrs
      daddrs=$(IFS=,; echo "${others[*]}")
      rules+="    iifname \"${prefix}r$i\" ip daddr { $daddrs } meta l4proto tcp redirect to :$WAN_PORT"$'\n'
    fi
  done
  _wan_do ip netns exec "$router" nft -f - <<NFT || return 1
table ip kesswan {
  chain pre {
    type nat hook prerouting priority -100; policy accept;
$rules  }
}
NFT
}

# wan_net_down PREFIX BASE: removes the host route BASE.0.0/16 through
# ${PREFIX}h, that interface (and its peer) and every namespace PREFIX-*,
# with their veths. Nothing else. Idempotent; always returns 0. Warns about
# processes still running in a namespace (it does not kill them).
wan_net_down() {
  local prefix=${1:-} base=${2:-} ns pids
  if [ -z "$prefix" ] || [ -z "$base" ]; then
    _wan_err "usage: wan_net_down PREFIX BASE"
    return 0
  fi
  if [ -n "$(ip route show "$base.0.0/16" dev "${prefix}h" 2>/dev/null)" ]; then
    ip route del "$base.0.0/16" dev "${prefix}h" 2>/dev/null || _wan_err "could not remove the route to $base.0.0/16"
  fi
  if ip link show dev "${prefix}h" >/dev/null 2>&1; then
    ip link del "${prefix}h" 2>/dev/null || _wan_err "could not remove interface ${prefix}h"
  fi
  for ns in $(_wan_namespaces "$prefix"); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -z "$pids" ] || _wan_err "processes still run in $ns (pids $pids): it lives on until they exit"
    ip netns del "$ns" 2>/dev/null || _wan_err "could not remove namespace $ns"
  done
  return 0
}

# wan_dc_addr DC: BASE.<i>.2, the DC's address (after wan_net_up).
wan_dc_addr() {
  local i
  for i in "${!WAN_DCS[@]}"; do
    if [ "${WAN_DCS[$i]}" = "${1:-}" ]; then
      echo "$WAN_BASE.$((i + 1)).2"
      return 0
    fi
  done
  _wan_err "unknown DC '${1:-}' (known: ${WAN_DCS[*]:-none; call wan_net_up first})"
  return 1
}

# Runs `ip netns exec NS cmd...`. In a subshell (`wan_exec dc1 cmd &`,
# `$(wan_exec ...)`, a pipeline) it EXECS it, so that `$!` is the command's
# own pid (ip netns exec execs the command too) and a signal sent to it
# reaches the command; anything after it in that subshell does not run.
# In the main shell it runs it as a child and returns its status.
_wan_netns_exec() {
  local ns=$1
  shift
  [ -n "$WAN_PREFIX" ] || { _wan_err "call wan_net_up first"; return 1; }
  [ $# -gt 0 ] || { _wan_err "no command to run in $ns"; return 2; }
  if [ "${BASHPID:-$$}" != "$$" ]; then
    exec ip netns exec "$ns" "$@"
  fi
  ip netns exec "$ns" "$@"
}

# wan_exec DC cmd...: runs cmd in the DC's namespace PREFIX-<dc>.
wan_exec() {
  [ $# -ge 1 ] || { _wan_err "usage: wan_exec DC cmd..."; return 2; }
  local dc=$1
  shift
  _wan_netns_exec "$WAN_PREFIX-$dc" "$@"
}

# wan_router_exec cmd...: runs cmd in the router's namespace PREFIX-wan.
wan_router_exec() {
  _wan_netns_exec "$WAN_PREFIX-wan" "$@"
}
