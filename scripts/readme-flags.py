#!/usr/bin/env python3
"""Replaces the README's `volley run` flag table (between the flags:begin
and flags:end markers) with `./volley run --help-markdown`."""
import subprocess
import sys

README = "README.md"
BEGIN, END = "<!-- flags:begin -->\n", "<!-- flags:end -->\n"

table = subprocess.run(["./volley", "run", "--help-markdown"], capture_output=True,
                       text=True, check=True).stdout
text = open(README).read()
if BEGIN not in text or END not in text:
    sys.exit("readme-flags: markers not found in README.md")
head, rest = text.split(BEGIN, 1)
_, tail = rest.split(END, 1)
open(README, "w").write(head + BEGIN + table + END + tail)
