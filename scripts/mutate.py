#!/usr/bin/env python3
"""make mutate: applies single-line mutants one at a time, rebuilds, runs the
tests that should catch each, and reports the survivors. Each mutant is a
file, an exact snippet that must occur exactly once in it, and its
replacement, so a mutant that no longer applies (the code moved) fails
loudly instead of passing silently. The file is restored after each mutant,
whatever happens (also on Ctrl-C).

usage: scripts/mutate.py [-k SUBSTRING] [--list | --check]
--check only verifies that every mutant still applies (make test runs it, so
an edit that moves a mutated line fails there, not months later in make
mutate).
Exit: 0 every mutant killed (or applies), 1 survivors, 2 a mutant no longer
applies or does not build.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"


def unit(suite):
    return ("unit", ["build/rel/unit-tests", "--jobs", "1", "--filter", f"{suite}/*"])


def it(path, k=None):
    cmd = [PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", path]
    return ("it", cmd + (["-k", k] if k else []))


# name, file, snippet, replacement, test
MUTANTS = [
    ("series rows numbered one too high", "src/load/engine.c",
     "series_row all = {.second = (uint32_t)(s + r->second_offset)};",
     "series_row all = {.second = (uint32_t)(s + r->second_offset + 1)};",
     it("tests/integration/test_end_of_run.py", "series_seconds")),
    ("threshold > as <", "src/metrics/threshold.c",
     "case TH_GT: return a > t->value;", "case TH_GT: return a < t->value;",
     unit("threshold")),
    ("threshold <= as <", "src/metrics/threshold.c",
     "case TH_LE: return a <= t->value;", "case TH_LE: return a < t->value;",
     unit("threshold")),
    ("threshold != as ==", "src/metrics/threshold.c",
     "case TH_NE: return a != t->value;", "case TH_NE: return a == t->value;",
     unit("threshold")),
    ("compare: rps direction flipped", "src/report/compare.c",
     "else if ((row->cur > row->base) == (m == M_RPS))",
     "else if ((row->cur > row->base) == (m != M_RPS))", unit("compare")),
    ("compare: minimum change 10 % -> 25 %", "src/report/compare.c",
     "#define MIN_PCT 10.0", "#define MIN_PCT 25.0", unit("compare")),
    ("--segment ignored (every segment runs segment 1)", "src/load/executor.c",
     "uint64_t n = seg_n ? seg_n : 1, k = seg_k ? seg_k - 1 : 0;",
     "uint64_t n = seg_n ? seg_n : 1, k = seg_k * 0;", unit("executor")),
    # load/
    ("executor: one iteration too many", "src/load/executor.c",
     "return (uint64_t)ceil(n - 1e-6);", "return (uint64_t)ceil(n + 1e-6);", unit("executor")),
    ("executor: ramps start from 0 in every stage", "src/load/executor.c",
     "return from + (s->target - from) * f;", "return from + s->target * f;",
     unit("executor")),
    ("executor: constant schedule one slot late", "src/load/executor.c",
     "return (uint64_t)llround(target * NS_PER_S / x->rate);",
     "return (uint64_t)llround((target + 1) * NS_PER_S / x->rate);", unit("executor")),
    ("plan: mixed mode ignores weights", "src/load/plan.c",
     "        acc += p->eps[k].weight;\n", "        acc += 1;\n", unit("plan")),
    # metrics/
    ("hist: mean divides by count + 1", "src/metrics/hist.c",
     "return h->count ? (double)h->sum / (double)h->count : 0.0;",
     "return h->count ? (double)h->sum / (double)(h->count + 1) : 0.0;", unit("hist")),
    ("hist: percentile rank off by one", "src/metrics/hist.c",
     "if (seen >= rank)", "if (seen > rank)", unit("hist")),
    ("threshold: errors N% read as N/10", "src/metrics/threshold.c",
     "t->value = percent ? v / 100.0 : v;", "t->value = percent ? v / 10.0 : v;",
     unit("threshold")),
    # results/
    ("results_read: transport errors left out of the count check", "src/results/results_read.c",
     "if (t->responses + x != t->requests ||",
     "if (t->responses != t->requests ||", unit("results_read")),
    # report/compare
    ("compare: short runs not widened", "src/report/compare.c",
     "#define SHORT_RUN_FACTOR 2.0", "#define SHORT_RUN_FACTOR 1.0", unit("compare")),
    ("compare: per-second spread ignored", "src/report/compare.c",
     "a->se = fmax(a->samp, sa);", "a->se = a->samp;", unit("compare")),
    ("compare: error bursts not widened", "src/report/compare.c",
     "double inflate = binom > 0 && seen > binom ? sqrt(seen / binom) : 1;",
     "double inflate = binom > 0 && seen > binom ? 1 : 1;", unit("compare")),
    ("compare: error minimum 0.1 -> 0.2 points", "src/report/compare.c",
     "#define MIN_ERROR_PP 0.1 ", "#define MIN_ERROR_PP 0.2 ", unit("compare")),
    ("compare: per-second means need not differ", "src/report/compare.c",
     "row->p_value = fmax(row->p_value, compare_t_p(",
     "row->p_value = fmin(row->p_value, compare_t_p(", unit("compare")),
    ("compare: 5% significance", "src/report/compare.c",
     "#define SIG_P 0.01", "#define SIG_P 0.05", unit("compare")),
    # proto/
    ("http1: 204 has a body", "src/proto/http1.c",
     "p->status < 200 || p->status == 204 || p->status == 304",
     "p->status < 200 || p->status == 205 || p->status == 304", unit("http1")),
    ("ws: fragmented control frames accepted", "src/proto/ws.c",
     "        if (!p->fin)\n            return fail(p, WS_EPROTO, \"fragmented control frame\");",
     "        if (0 && !p->fin)\n            return fail(p, WS_EPROTO, \"fragmented control frame\");",
     unit("ws")),
    # server/
    ("routes: echo drops the last header", "src/server/routes.c",
     "if (n && !request_line && buf_printf(",
     "if (n && !request_line && i + n + 4 < len && buf_printf(", unit("routes")),
]


def build(kind):
    target = "build/rel/unit-tests" if kind == "unit" else "volley"
    p = subprocess.run(["make", "-s", "-j2", target], cwd=ROOT, capture_output=True, text=True)
    return p.returncode == 0, p.stdout + p.stderr


def run_tests(cmd):
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]


def apply(path, old, new):
    full = os.path.join(ROOT, path)
    with open(full) as f:
        text = f.read()
    n = text.count(old)
    if n != 1:
        raise LookupError(f"{path}: snippet found {n} times (the code moved?): {old!r}")
    with open(full, "w") as f:
        f.write(text.replace(old, new))
    return full, text


def restore(full, text):
    with open(full, "w") as f:
        f.write(text)
    # The restored file must be rebuilt, whatever its mtime says.
    os.utime(full, None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="only mutants whose name contains this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check", action="store_true", help="only check that every mutant applies")
    a = ap.parse_args()
    todo = [m for m in MUTANTS if a.k in m[0]]
    if a.list:
        for m in todo:
            print(f"{m[1]:28s} {m[0]}")
        return 0
    # Every snippet must apply before anything is run.
    stale = 0
    for name, path, old, new, _ in todo:
        with open(os.path.join(ROOT, path)) as f:
            n = f.read().count(old)
        if n != 1:
            print(f"mutate: '{name}' no longer applies to {path}: {old!r} occurs {n} times "
                  "(exactly once expected)", file=sys.stderr)
            stale += 1
    if stale:
        return 2
    if a.check:
        print(f"mutate: all {len(todo)} mutants apply")
        return 0
    for kind in sorted({m[4][0] for m in todo}):
        ok, out = build(kind)
        if not ok:
            print(out, file=sys.stderr)
            return 2
    survivors, broken = [], []
    for name, path, old, new, (kind, cmd) in todo:
        t0 = time.monotonic()
        full, text = apply(path, old, new)
        try:
            ok, out = build(kind)
            if not ok:
                verdict = "BROKEN (does not build)"
                broken.append(name)
            else:
                passed, out = run_tests(cmd)
                verdict = "SURVIVED" if passed else "killed"
        finally:
            restore(full, text)
        if verdict == "SURVIVED":
            survivors.append(name)
        print(f"  {verdict:24s} {time.monotonic() - t0:5.1f}s  {path}: {name}", flush=True)
    for kind in sorted({m[4][0] for m in todo}):
        build(kind)
    print(f"mutate: {len(todo)} mutants, {len(todo) - len(survivors)} killed, "
          f"{len(survivors)} survived")
    for s in survivors:
        print(f"  survivor: {s}")
    for s in broken:
        print(f"  does not build (fix the mutant): {s}")
    return 2 if broken else 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
