#!/usr/bin/env bash
# Builds one Debian binary package from files, reproducibly: the same inputs
# give the same bytes (deploy/README.md, "Reproducible"). Run by the genrule
# of deploy/deb.bzl; deploy_test.sh runs it again to compare.
#
#   build_deb.sh --out X.deb --package NAME --version-file VERSION
#       --changelog deploy/changelog --copyright deploy/copyright
#       --summary "one line" --description-file FILE
#       [--depends "adduser"] [--section admin]
#       [--architecture all]            default: this machine's (dpkg)
#       [--binary SRC:DEST]...          stripped; its libraries become Depends
#       [--file SRC:DEST:MODE]...       /etc/... files are conffiles
#       [--template SRC:DEST:MODE]...   a file with @PACKAGE@ and @ROLE@
#       [--maint SRC:postinst|postrm|prerm|preinst]...   @PACKAGE@ and @ROLE@
#       [--role ROLE]                                    substituted
#
# Every file and directory gets a fixed mode, owner root:root
# (--root-owner-group) and the mtime of the changelog's newest entry
# (SOURCE_DATE_EPOCH, as dpkg-buildpackage derives it); dpkg-deb writes the
# members sorted and xz-compresses them. Depends: what dpkg-shlibdeps finds
# for the binaries' shared libraries (offline: it reads the installed
# packages' shlibs/symbols files), plus --depends.
set -euo pipefail
umask 022
export LC_ALL=C

out="" package="" version_file="" changelog="" copyright="" summary=""
description_file="" depends="" section="admin" role="" arch=""
binaries=() files=() templates=() maints=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2 ;;
    --package) package=$2 ;;
    --version-file) version_file=$2 ;;
    --changelog) changelog=$2 ;;
    --copyright) copyright=$2 ;;
    --summary) summary=$2 ;;
    --description-file) description_file=$2 ;;
    --depends) depends=$2 ;;
    --section) section=$2 ;;
    --role) role=$2 ;;
    --architecture) arch=$2 ;;
    --binary) binaries+=("$2") ;;
    --file) files+=("$2") ;;
    --template) templates+=("$2") ;;
    --maint) maints+=("$2") ;;
    *) echo "build_deb: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
for v in out package version_file changelog copyright summary description_file; do
  [ -n "${!v}" ] || { echo "build_deb: --${v//_/-} is required" >&2; exit 2; }
done

version=$(tr -d ' \t\r\n' < "$version_file")
top_version=$(dpkg-parsechangelog -l "$changelog" -S Version)
if [ "$top_version" != "$version" ]; then
  echo "build_deb: VERSION is $version but the newest entry of $changelog is $top_version" >&2
  exit 1
fi
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$changelog" -S Timestamp)
export SOURCE_DATE_EPOCH
[ -n "$arch" ] || arch=$(dpkg --print-architecture)

work=$(mktemp -d "${TMPDIR:-/tmp}/build_deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/DEBIAN"

# install SRC DEST MODE
place() {
  mkdir -p "$root$(dirname "$2")"
  cp "$1" "$root$2"
  chmod "$3" "$root$2"
}

shlib_args=()
for b in "${binaries[@]}"; do
  src=${b%%:*} dest=${b#*:}
  place "$src" "$dest" 0755
  # Deterministic for the same input: no debug sections, no .comment.
  strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$root$dest"
  shlib_args+=("$root$dest")
done
for f in "${files[@]}"; do
  IFS=: read -r src dest mode <<<"$f"
  place "$src" "$dest" "$mode"
done

for f in "${templates[@]}"; do
  IFS=: read -r src dest mode <<<"$f"
  mkdir -p "$root$(dirname "$dest")"
  sed -e "s/@PACKAGE@/$package/g" -e "s/@ROLE@/$role/g" "$src" > "$root$dest"
  chmod "$mode" "$root$dest"
done

doc="$root/usr/share/doc/$package"
mkdir -p "$doc"
gzip -9n < "$changelog" > "$doc/changelog.gz"
cp "$copyright" "$doc/copyright"
chmod 0644 "$doc/changelog.gz" "$doc/copyright"

for m in "${maints[@]}"; do
  src=${m%%:*} name=${m#*:}
  sed -e "s/@PACKAGE@/$package/g" -e "s/@ROLE@/$role/g" "$src" \
    > "$root/DEBIAN/$name"
  chmod 0755 "$root/DEBIAN/$name"
done

if [ -d "$root/etc" ]; then
  (cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
  chmod 0644 "$root/DEBIAN/conffiles"
fi

shlibs=""
if [ ${#shlib_args[@]} -gt 0 ]; then
  mkdir -p "$work/src/debian"
  printf 'Source: kess\n\nPackage: %s\nArchitecture: any\n' "$package" \
    > "$work/src/debian/control"
  shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -e "${shlib_args[@]}" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
  [ -n "$shlibs" ] || { echo "build_deb: dpkg-shlibdeps found nothing" >&2; exit 1; }
fi
all_depends=$(printf '%s\n%s\n' "$depends" "$shlibs" | sed '/^$/d' | paste -sd, | sed 's/,/, /g; s/,  */, /g')

# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up,
# and 1 per directory or link.
installed_size=$(cd "$root" && find . -path ./DEBIAN -prune -o -mindepth 1 -print0 |
  xargs -0 stat -c '%F %s' | awk '
    /regular/ { kib += int(($NF + 1023) / 1024); next }
    { kib += 1 }
    END { print kib + 0 }')

{
  echo "Package: $package"
  echo "Version: $version"
  echo "Architecture: $arch"
  echo "Maintainer: kess maintainers <kess-maintainers@example.com>"
  echo "Installed-Size: $installed_size"
  [ -n "$all_depends" ] && echo "Depends: $all_depends"
  echo "Section: $section"
  echo "Priority: optional"
  echo "Description: $summary"
  sed -e 's/^$/./' -e 's/^/ /' "$description_file"
} > "$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' |
  sort | xargs -r md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz -z6 --build "$root" "$work/out.deb" >/dev/null
cp "$work/out.deb" "$out"
