#!/usr/bin/env python3
"""Writes /etc/kess/<role>.flags: a hand-written head (the settings every
host must set) and then every flag the daemon defines in its own folders,
commented out, with its default and help, from the binary's --helpxml (so
the file never drifts from the binary). A flag the head names that the
binary does not define fails the build.

    gen_flags.py HEAD HELPXML OUT FOLDER...

FOLDER: the source folders whose flags are listed (e.g. agent/), so that
glog's and gflags' own flags are left out.
"""
import re
import sys
import textwrap
import xml.etree.ElementTree as ET


def main():
    head, helpxml, out, folders = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    with open(helpxml, encoding="utf-8") as f:
        text = f.read()
    root = ET.fromstring(text[text.index("<?xml"):] if "<?xml" in text else text)
    known = {flag.findtext("name") for flag in root.iter("flag")}
    with open(head, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#?--([A-Za-z0-9_]+)", line)
            if m and m.group(1) not in known:
                sys.exit("gen_flags: %s names --%s, which the binary does "
                         "not define" % (head, m.group(1)))
    flags = []
    for flag in root.iter("flag"):
        file = flag.findtext("file") or ""
        if not any(file.startswith(d) for d in folders):
            continue
        flags.append((flag.findtext("name"), flag.findtext("default") or "",
                      " ".join((flag.findtext("meaning") or "").split())))
    if not flags:
        sys.exit("gen_flags: no flag of %s in %s" % (folders, helpxml))
    flags.sort()
    lines = [open(head, encoding="utf-8").read().rstrip("\n"), "",
             "# Every flag, commented out at its default (as built).", ""]
    for name, default, meaning in flags:
        for l in textwrap.wrap(meaning, 74) or [""]:
            lines.append("# " + l if l else "#")
        lines.append("#--%s=%s" % (name, default))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
