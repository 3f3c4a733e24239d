#!/usr/bin/env python3
"""Turns src/output/page.html into src/output/dash_page.c (the dashboard
page compiled into volley): one C string literal, a line per line."""
import sys

src, dst = sys.argv[1], sys.argv[2]
out = ['/* dash_page: the dashboard page as a C string, generated from page.html\n'
       ' * (scripts/embed-page.py, run by make); edit page.html, not this file. */\n'
       '#include "output/dash.h"\n\nconst char dash_page[] =\n']
for line in open(src).read().splitlines():
    out.append('    "' + line.replace('\\', '\\\\').replace('"', '\\"') + '\\n"\n')
out.append('    ;\n')
open(dst, 'w').write(''.join(out))
