#!/usr/bin/env bash
# Bazel's --workspace_status_command for stamped builds (--config=deploy in
# .bazelrc): the git commit of the tree, "-dirty" appended when tracked
# files have uncommitted changes. common/build_version.bzl reads
# STABLE_KESS_COMMIT; a STABLE_ key that changes re-runs only the actions
# that read it, and only builds with --stamp read it.
set -u
commit=$(git rev-parse HEAD 2>/dev/null) || commit=unknown
if [ "$commit" != unknown ] && ! git diff-index --quiet HEAD -- 2>/dev/null; then
  commit="$commit-dirty"
fi
echo "STABLE_KESS_COMMIT $commit"
