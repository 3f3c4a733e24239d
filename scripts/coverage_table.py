#!/usr/bin/env python3
"""Prints line coverage per module (src/<layer>) and per file from an lcov
.info file (make coverage). Marks the modules held to 85 %: src/load,
src/metrics, src/results and src/report/compare.c, and exits 1 (so make
coverage fails) when one of them is below."""
import os
import sys

GOAL = 85.0
HELD = ("src/load", "src/metrics", "src/results", "src/report/compare.c")


def read(path):
    files, cur = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith("SF:"):
            cur = line[3:]
            i = cur.rfind("/src/")
            cur = cur[i + 1:] if i >= 0 else cur
            files.setdefault(cur, [0, 0])
        elif line.startswith("LF:"):
            files[cur][1] += int(line[3:])
        elif line.startswith("LH:"):
            files[cur][0] += int(line[3:])
    return files


def main():
    files = read(sys.argv[1])
    mods = {}
    for f, (hit, n) in files.items():
        m = os.path.dirname(f)
        mods.setdefault(m, [0, 0])
        mods[m][0] += hit
        mods[m][1] += n
    pct = lambda h, n: 100.0 * h / n if n else 100.0
    print(f"\n{'module / file':34s} {'lines':>7s} {'hit':>7s} {'cover':>7s}")
    short, tag = [], f"  (goal {GOAL:g} %)"
    for m in sorted(mods):
        h, n = mods[m]
        held = m in HELD
        print(f"{m:34s} {n:7d} {h:7d} {pct(h, n):6.1f}%{tag if held else ''}")
        for f in sorted(x for x in files if os.path.dirname(x) == m):
            fh, fn = files[f]
            mark = tag if f in HELD else ""
            print(f"  {os.path.basename(f):32s} {fn:7d} {fh:7d} {pct(fh, fn):6.1f}%{mark}")
            if f in HELD and pct(fh, fn) < GOAL:
                short.append(f)
        if held and pct(h, n) < GOAL:
            short.append(m)
    th = sum(v[0] for v in files.values())
    tn = sum(v[1] for v in files.values())
    print(f"{'total':34s} {tn:7d} {th:7d} {pct(th, tn):6.1f}%")
    if short:
        print(f"below {GOAL:g} %: " + ", ".join(short))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
