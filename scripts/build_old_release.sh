#!/usr/bin/env bash
# Builds the daemons (mandator, distributor, agent) of an older kess commit
# beside the current tree, for the rolling upgrade test
# (tests/upgrade/README.md). Cached across runs: the tree is a git worktree
# under $KESS_UPGRADE_CACHE (default $HOME/.cache/kess-upgrade/<commit>),
# built with its own Bazel output base, so the shared Bazel server of the
# current tree is not touched and a second run rebuilds nothing.
#
#   scripts/build_old_release.sh <commit>
#
# Prints the directory holding the three binaries (mandator, distributor,
# agent) on its last line. Exits non-zero when the build fails.
set -euo pipefail

commit="${1:?usage: $0 <commit>}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${KESS_UPGRADE_CACHE:-$HOME/.cache/kess-upgrade}"
tree="$cache/$commit/src"
out="$cache/$commit/bazel-out-base"
bin="$cache/$commit/bin"
mkdir -p "$cache/$commit"

if [ ! -d "$tree" ]; then
  git -C "$REPO" worktree add --detach "$tree" "$commit" >&2
fi
if [ "$(git -C "$tree" rev-parse HEAD)" != "$(git -C "$REPO" rev-parse "$commit^{commit}")" ]; then
  echo "build_old_release: $tree is not at $commit" >&2
  exit 1
fi

if [ ! -x "$bin/mandator" ] || [ ! -x "$bin/distributor" ] || [ ! -x "$bin/agent" ]; then
  # --max_idle_secs: the old tree's own Bazel server goes away by itself a
  # minute after the build (it is of no further use and holds memory).
  (cd "$tree" && bazel --output_base="$out" --max_idle_secs=60 build --jobs=2 \
     //mandator:mandator //distributor:distributor //agent:agent >&2)
  mkdir -p "$bin"
  for d in mandator distributor agent; do
    cp -f "$tree/bazel-bin/$d/$d" "$bin/$d.tmp"
    chmod 755 "$bin/$d.tmp"
    mv -f "$bin/$d.tmp" "$bin/$d"
  done
fi
echo "$bin"
