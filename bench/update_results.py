#!/usr/bin/env python3
"""Writes one benchmark's table into bench/RESULTS.md under "## <section>",
replacing that section only (other benchmarks' sections stay as they are).

Usage: update_results.py SECTION TABLE_FILE COMMAND EXIT_STATUS
"""
import datetime
import os
import re
import sys


def main():
    section_name, table_file, command, status = sys.argv[1:5]
    table = open(table_file).read().rstrip()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "RESULTS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    note = ("" if status == "0" else
            f"\n**The run reported errors (exit {status}); see the table.**\n")
    section = (f"## {section_name}\n\nCommand: `{command}` "
               f"(run {datetime.date.today().isoformat()}).\n{note}\n{table}\n")
    pattern = re.compile(rf"^## {re.escape(section_name)}\n.*?(?=^## |\Z)",
                         re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(path, "w").write(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
