#!/usr/bin/env bash
# The Debian packages of //deploy:all (README.md): for each package
#   1. reproducible: build_deb.sh run again on copies of the same inputs
#      (new mtimes, umask 077, another temp dir) gives the same bytes;
#   2. lintian: no error or warning (overrides in lintian/, each explained);
#   3. contents: the unit runs the packaged binary as user kess with the
#      flag file, hardened; the flag file is a conffile;
#   4. systemd-analyze verify of the unit in the extracted package (with
#      this machine's system units beside it): no complaint;
#   5. Depends names the package of every library the binary links
#      (readelf NEEDED -> ldconfig -> dpkg -S), independently of
#      dpkg-shlibdeps;
#   6. the flag file: every flag in it, uncommented, is accepted by the
#      binary (--flagfile=... --version exits 0).
# kess-zk-stunnel has no binary: 1, 2, its files are the ones of
# deploy/stunnel/, the configuration is its conffile, it depends on stunnel4,
# has no maintainer script (nothing is enabled or started), and 4 with
# the commands of the unit (Debian's stunnel4, kill) placed in the root.
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
T=$(mktemp -d "${TEST_TMPDIR:-/tmp}/deploy_test.XXXXXX")
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

for pkg in kess-mandator kess-distributor kess-agent kess-tools kess-zk-stunnel; do
  deb="deploy/$pkg.deb"
  [ -s "$deb" ] || { fail "$pkg: $deb missing"; continue; }

  # 1. Reproducible.
  mapfile -t args < "deploy/$pkg.args"
  copy="$T/copy-$pkg"
  mkdir -p "$copy"
  for a in "${args[@]}"; do
    for part in ${a//:/ }; do
      if [ -f "$part" ] && [ ! -e "$copy/$part" ]; then
        mkdir -p "$copy/$(dirname "$part")"
        cp -L "$part" "$copy/$part"
        touch -d "@$(( $(date +%s) - RANDOM ))" "$copy/$part"
      fi
    done
  done
  cp -L deploy/build_deb.sh "$copy/build_deb.sh"
  mkdir -p "$T/tmp-$pkg"
  if (cd "$copy" && umask 077 && TMPDIR="$T/tmp-$pkg" ./build_deb.sh --out "$T/$pkg.again.deb" "${args[@]}"); then
    if cmp -s "$deb" "$T/$pkg.again.deb"; then
      pass "$pkg: built again from copies, same bytes ($(stat -L -c %s "$deb") bytes)"
    else
      fail "$pkg: built again, different bytes"
      diff <(dpkg-deb -c "$deb") <(dpkg-deb -c "$T/$pkg.again.deb") | head -20 || true
    fi
  else
    fail "$pkg: build_deb.sh failed the second time"
  fi

  # 2. lintian.
  if out=$(lintian --fail-on error,warning "$deb" 2>&1 | grep -v 'running with root privileges'); then :; fi
  if lintian --fail-on error,warning "$deb" >/dev/null 2>&1 && ! grep -q '^[EW]:' <<<"$out"; then
    pass "$pkg: lintian clean"
  else
    fail "$pkg: lintian: $out"
  fi

  root="$T/root-$pkg"
  mkdir -p "$root"
  dpkg-deb -x "$deb" "$root"
  ctl="$T/ctl-$pkg"
  dpkg-deb -e "$deb" "$ctl"
  version=$(dpkg-deb -f "$deb" Version)
  [ "$version" = "$(cat VERSION)" ] && pass "$pkg: version $version" ||
    fail "$pkg: version $version, VERSION says $(cat VERSION)"

  if [ "$pkg" = kess-zk-stunnel ]; then
    unit="$root/lib/systemd/system/kess-zk-stunnel.service"
    conf="$root/etc/stunnel/kess-zk-stunnel.conf"
    cmp -s "$conf" deploy/stunnel/kess-zk-stunnel.conf &&
      cmp -s "$unit" deploy/stunnel/kess-zk-stunnel.service &&
      pass "$pkg: the configuration and the unit of deploy/stunnel/" ||
      fail "$pkg: packaged files differ from deploy/stunnel/"
    [ "$(cat "$ctl/conffiles")" = /etc/stunnel/kess-zk-stunnel.conf ] &&
      pass "$pkg: conffiles" || fail "$pkg: conffiles: $(cat "$ctl/conffiles")"
    [ "$(dpkg-deb -f "$deb" Architecture)" = all ] || fail "$pkg: not Architecture: all"
    [ "$(dpkg-deb -f "$deb" Depends)" = stunnel4 ] ||
      fail "$pkg: Depends: $(dpkg-deb -f "$deb" Depends), expected stunnel4"
    for s in preinst postinst prerm postrm; do
      [ -e "$ctl/$s" ] && fail "$pkg: has a $s (the unit is enabled by the operator)"
    done
    grep -qxF "ExecStart=/usr/bin/stunnel4 /etc/stunnel/kess-zk-stunnel.conf" "$unit" ||
      fail "$pkg: the unit does not run stunnel4 on the packaged configuration"
    # The commands the unit runs (stunnel4, kill) come from this machine.
    missing_cmd=""
    for c in $(sed -n 's/^Exec[A-Za-z]*=[-@+!:]*\(\/[^ ]*\).*/\1/p' "$unit"); do
      if [ -x "$c" ]; then
        mkdir -p "$root$(dirname "$c")"
        cp -L "$c" "$root$c"
      else
        missing_cmd="$missing_cmd $c"
      fi
    done
    if [ -z "$missing_cmd" ]; then
      cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
      if out=$(systemd-analyze verify --root="$root" kess-zk-stunnel.service 2>&1) && [ -z "$out" ]; then
        pass "$pkg: systemd-analyze verify"
      else
        fail "$pkg: systemd-analyze verify: $out"
      fi
    else
      fail "$pkg: not on this machine:$missing_cmd (scripts/setup.sh installs stunnel4)"
    fi
    continue
  fi

  if [ "$pkg" = kess-tools ]; then
    bin="$root/usr/bin/kessctl"
  else
    role=${pkg#kess-}
    bin="$root/usr/sbin/kess-$role"
    unit="$root/lib/systemd/system/kess-$role.service"

    # 3. Contents.
    [ "$(cat "$ctl/conffiles")" = "/etc/kess/$role.flags" ] &&
      pass "$pkg: conffiles" || fail "$pkg: conffiles: $(cat "$ctl/conffiles")"
    for line in "ExecStart=/usr/sbin/kess-$role --flagfile=/etc/kess/$role.flags" \
        User=kess Group=kess Restart=on-failure ProtectSystem=strict \
        NoNewPrivileges=yes PrivateTmp=yes CapabilityBoundingSet= \
        AmbientCapabilities=; do
      grep -qxF "$line" "$unit" || fail "$pkg: unit lacks '$line'"
    done
    grep -q '^ReadWritePaths=.*/var/lib/kess' "$unit" || fail "$pkg: unit: state not writable"
    if [ "$role" = agent ]; then
      grep -q '^ReadWritePaths=.*/var/cache/kess' "$unit" || fail "$pkg: unit: cache not writable"
    fi
    nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
    if [ "$role" = distributor ] && [ "${nofile:-0}" -lt 50100 ]; then
      fail "$pkg: LimitNOFILE=$nofile is too small for 50,000 agents"
    fi
    for s in postinst prerm postrm; do
      sh -n "$ctl/$s" || fail "$pkg: $s: syntax"
      grep -q '@' "$ctl/$s" && fail "$pkg: $s: unsubstituted @...@"
    done
    grep -q 'adduser --system' "$ctl/postinst" || fail "$pkg: postinst makes no user"
    if grep -E 'rm -r|rm -f' "$ctl/postrm" "$ctl/prerm" "$ctl/postinst"; then
      fail "$pkg: a maintainer script deletes files"
    fi
    pass "$pkg: unit, conffiles and maintainer scripts"

    # 4. systemd-analyze verify, in the package's root.
    cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
    if out=$(systemd-analyze verify --root="$root" "kess-$role.service" 2>&1) && [ -z "$out" ]; then
      pass "$pkg: systemd-analyze verify"
    else
      fail "$pkg: systemd-analyze verify: $out"
    fi

    # 6. The flag file, every line uncommented.
    sed -n 's/^#--/--/p' "$root/etc/kess/$role.flags" > "$T/$role.all.flags"
    n=$(wc -l < "$T/$role.all.flags")
    if out=$("$bin" --flagfile="$T/$role.all.flags" --version 2>&1) &&
        grep -q "version $(cat VERSION) " <<<"$out" && [ "$n" -gt 10 ]; then
      pass "$pkg: its binary accepts all $n flags of /etc/kess/$role.flags"
    else
      fail "$pkg: flag file ($n flags): $out"
    fi
  fi

  # 5. Depends covers every NEEDED library.
  depends=$(dpkg-deb -f "$deb" Depends)
  missing=""
  for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64/ { print $NF }' | head -1)
    [ -n "$path" ] || { missing="$missing $lib(not found)"; continue; }
    owner=$( (dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true) |
      sed -n '1s/:.*//p')
    sed 's/, /\n/g; s/ ([^)]*)//g' <<<"$depends" | grep -xF "$owner" >/dev/null ||
      missing="$missing $lib($owner)"
  done
  [ -z "$missing" ] && pass "$pkg: Depends covers every linked library" ||
    fail "$pkg: Depends lacks:$missing"
done

echo "deploy_test: $failures failure(s)"
[ "$failures" -eq 0 ]
