#!/usr/bin/env python3
"""Writes a C++ file holding the admin UI's static files (assets.h).

    embed_assets.py OUT.cc FILE...

Each file is served as /ui/<basename>; the content type comes from its
extension. Bytes are written as hex escapes, so any content is safe.
"""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def main():
    out, files = sys.argv[1], sys.argv[2:]
    lines = ['#include "mandator/ui/assets.h"', "", "#include <cstring>", "",
             "namespace kess {", "namespace mandator {", "namespace ui {",
             "namespace {", "", "const Asset kAssets[] = {"]
    for path in sorted(files, key=os.path.basename):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit("embed_assets: no content type for " + name)
        with open(path, "rb") as f:
            data = f.read()
        chunks = []
        for i in range(0, len(data), 40):
            chunks.append('"' + "".join("\\x%02x" % b for b in data[i:i + 40]) + '"')
        body = "\n        ".join(chunks) if chunks else '""'
        lines.append('    {"%s", "%s",\n        %s,\n        %d},' %
                     (name, TYPES[ext], body, len(data)))
    lines += ["};", "", "}  // namespace", "",
              "const Asset* FindAsset(absl::string_view name) {",
              "  for (const Asset& a : kAssets) {",
              "    if (name == a.name) return &a;",
              "  }",
              "  return nullptr;",
              "}", "",
              "}  // namespace ui", "}  // namespace mandator",
              "}  // namespace kess", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
