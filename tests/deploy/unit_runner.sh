#!/usr/bin/env bash
# Runs a systemd service unit of an installed kess package the way systemd
# would, inside a host root made by install_test.sh (systemd cannot be PID 1
# here). Run it inside the host's network namespace:
#
#   ip netns exec NS unit_runner.sh ROOT UNIT [LOG]
#
# ROOT is the host's root directory (the packages extracted with merged
# /usr, its own /etc and /var); UNIT is a unit name under
# ROOT/usr/lib/systemd/system. The runner reads the unit's [Service]
# section and, in a mount namespace of its own:
#   - /usr is the packages' /usr over this machine's (a read-only overlay),
#     /proc is mounted, /sys bound read-only;
#   - ProtectSystem=strict: ROOT is read-only except ReadWritePaths, /run
#     (a tmpfs, with RuntimeDirectory= made there for User) and /tmp;
#   - PrivateTmp=yes: /tmp is a tmpfs of its own; PrivateDevices=yes: /dev
#     holds only null, zero, full, random, urandom, tty;
#   - then chroot ROOT, UMask, LimitNOFILE (prlimit; capped at the
#     runner's hard limit where root may not raise it), Environment (plus
#     PATH, HOME, USER, LOGNAME, SHELL as systemd sets them for User=),
#     User and Group (resolved in ROOT's /etc/passwd), NoNewPrivileges,
#     CapabilityBoundingSet and AmbientCapabilities (setpriv), and execs
#     ExecStart, whose stdout and stderr go to LOG (journald's place).
# The process keeps the runner's pid: the pid of `ip netns exec ...` is
# the daemon's.
#
# Every [Service] key must be known: emulated (above), or one the runner
# names as not emulated (the syscall, kernel and namespace restrictions
# that need systemd's seccomp and its own mounts, and Restart=, which a
# test that never crashes its daemons does not exercise); an unknown key
# fails the run, so a new setting cannot be skipped silently. ExecStart
# may not use quotes, % specifiers or $ variables (this runner does not
# expand them; the kess units do not use them).
set -euo pipefail

root=$1 unit=$2 log=${3:-/dev/stderr}
file="$root/usr/lib/systemd/system/$unit"
[ -f "$file" ] || { echo "unit_runner: no $file" >&2; exit 2; }

if [ -z "${UNIT_RUNNER_INNER:-}" ]; then
  exec unshare --mount --propagation private \
    env UNIT_RUNNER_INNER=1 "$0" "$@"
fi

exec_start="" user=root group="" umask_value=0022 nofile="" rw_paths=""
private_tmp=no private_devices=no no_new_privs=no protect_system=no
bounding=unset ambient=unset runtime_dirs="" runtime_mode=0755
environment=()
section=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ""|\#*|\;*) continue ;; esac
  if [[ "$line" =~ ^\[(.*)\]$ ]]; then section=${BASH_REMATCH[1]}; continue; fi
  [ "$section" = Service ] || continue
  key=${line%%=*} value=${line#*=}
  case "$key" in
    ExecStart) exec_start=$value ;;
    User) user=$value ;;
    Group) group=$value ;;
    UMask) umask_value=$value ;;
    LimitNOFILE) nofile=$value ;;
    ReadWritePaths) rw_paths="$rw_paths $value" ;;
    PrivateTmp) private_tmp=$value ;;
    PrivateDevices) private_devices=$value ;;
    NoNewPrivileges) no_new_privs=$value ;;
    ProtectSystem) protect_system=$value ;;
    CapabilityBoundingSet) bounding=$value ;;
    AmbientCapabilities) ambient=$value ;;
    RuntimeDirectory) runtime_dirs="$runtime_dirs $value" ;;
    RuntimeDirectoryMode) runtime_mode=$value ;;
    Environment)
      for assignment in $value; do environment+=("$assignment"); done ;;
    # Nothing to do outside systemd: the type of start-up notification,
    # the stop timeout, the runtime directory kept over restarts, and
    # ProtectHome (ROOT has no /home).
    Type|TimeoutStopSec|RuntimeDirectoryPreserve|ProtectHome) ;;
    # Not emulated (see above).
    Restart|RestartSec|ProtectKernelTunables|ProtectKernelModules|\
    ProtectKernelLogs|ProtectControlGroups|ProtectClock|ProtectHostname|\
    RestrictNamespaces|RestrictRealtime|RestrictSUIDSGID|LockPersonality|\
    RestrictAddressFamilies|SystemCallArchitectures) ;;
    *) echo "unit_runner: $unit: [Service] $key is not known to the runner" >&2
       exit 2 ;;
  esac
done < "$file"
[ -n "$exec_start" ] || { echo "unit_runner: $unit has no ExecStart" >&2; exit 2; }
case "$exec_start" in
  *\"*|*\'*|*%*|*\$*) echo "unit_runner: ExecStart '$exec_start' needs expansion" >&2; exit 2 ;;
esac
[ -n "$group" ] || group=$user

# The file system, as systemd would set it up.
mount --bind "$root" "$root"
mount -t overlay overlay -o "lowerdir=$root/usr:/usr" "$root/usr"
mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount -o remount,bind,ro "$root/sys"
if [ "$private_devices" = yes ]; then
  mount -t tmpfs -o mode=0755 tmpfs "$root/dev"
  for d in null zero full random urandom tty; do
    touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
  done
else
  mount --rbind /dev "$root/dev"
fi
if [ "$private_tmp" = yes ]; then
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
fi
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
for d in $runtime_dirs; do
  mkdir -p "$root/run/$d"
  chmod "$runtime_mode" "$root/run/$d"
  chroot "$root" chown "$user:$group" "/run/$d"
done
for p in $rw_paths; do
  [ -d "$root$p" ] || { echo "unit_runner: ReadWritePaths $p does not exist" >&2; exit 226; }
  mount --bind "$root$p" "$root$p"
done
if [ "$protect_system" = strict ]; then
  mount -o remount,bind,ro "$root"
elif [ "$protect_system" != no ]; then
  echo "unit_runner: ProtectSystem=$protect_system is not emulated" >&2; exit 2
fi

# The process.
pw=$(chroot "$root" getent passwd "$user") ||
  { echo "unit_runner: no user $user in $root/etc/passwd" >&2; exit 217; }
IFS=: read -r _ _ _ _ _ home shell <<<"$pw"
env_args=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
          "HOME=$home" "USER=$user" "LOGNAME=$user" "SHELL=$shell"
          "${environment[@]}")
setpriv_args=(--reuid="$user" --regid="$group" --init-groups)
[ "$no_new_privs" = yes ] && setpriv_args+=(--no-new-privs)
case "$bounding" in
  "") setpriv_args+=(--bounding-set=-all) ;;
  unset) ;;
  *) echo "unit_runner: CapabilityBoundingSet=$bounding is not emulated" >&2; exit 2 ;;
esac
case "$ambient" in
  ""|unset) setpriv_args+=(--inh-caps=-all --ambient-caps=-all) ;;
  *) echo "unit_runner: AmbientCapabilities=$ambient is not emulated" >&2; exit 2 ;;
esac
limit_args=()
if [ -n "$nofile" ]; then
  # Raising the hard limit needs CAP_SYS_RESOURCE, which some machines
  # (containers) withhold even from root: then the limit is capped at the
  # hard limit the runner has, and says so.
  if ! prlimit "--nofile=$nofile:$nofile" -- true 2>/dev/null; then
    hard=$(ulimit -Hn)
    echo "unit_runner: $unit: LimitNOFILE=$nofile capped at this machine's hard limit $hard (no CAP_SYS_RESOURCE)" >>"$log"
    nofile=$hard
  fi
  limit_args=(prlimit "--nofile=$nofile:$nofile" --)
fi
umask "$umask_value"
# shellcheck disable=SC2086  # ExecStart is split into words, as systemd does
exec chroot "$root" /usr/bin/env -i "${env_args[@]}" "${limit_args[@]}" \
  /usr/bin/setpriv "${setpriv_args[@]}" -- $exec_start >>"$log" 2>&1
