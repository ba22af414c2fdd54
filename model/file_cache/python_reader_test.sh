#!/usr/bin/env bash
# Files written by the real FileCacheWriter, read back by python_reader.py
# (standard library only): values, base64, tombstone, crc check.
set -euo pipefail
here="$TEST_SRCDIR/kess/model/file_cache"
dir="$TEST_TMPDIR/cache"
"$here/write_samples" "$dir"
python3 "$here/python_reader.py" "$dir"
