#!/usr/bin/env python3
"""Replaces (or appends) one "## <title>" section of bench/RESULTS.md.

usage: results_section.py TITLE TABLE_FILE COMMAND EXIT_STATUS [FOOTER]

The section holds the command that produced it, the date, a warning if the
benchmark exited non-zero, its Markdown table and an optional footer. Other
sections are left as they are. Shared by the bench/run_*_bench.sh scripts.
"""
import datetime
import os
import re
import sys


def main():
    title, table_file, command, status = sys.argv[1:5]
    footer = sys.argv[5] if len(sys.argv) > 5 else ""
    table = open(table_file).read().rstrip()
    path = "bench/RESULTS.md"
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    note = ("" if status == "0" else
            f"\n**The run reported errors (exit {status}); see the table.**\n")
    section = (f"## {title}\n\nCommand: `{command}` "
               f"(run {datetime.date.today().isoformat()}).\n{note}\n{table}\n")
    if footer:
        section += f"\n{footer}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)",
                         re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(path, "w").write(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
