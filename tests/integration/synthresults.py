"""Synthetic results.json files for deterministic tests of `volley compare`
and `volley report`: a real file written by volley is the template (so every
field the reader wants is there), and its whole-run latency histogram,
totals and per-second series are replaced by ones built from given latencies.

Latencies are in microseconds and must stay under 2048 (there the histogram's
buckets are 1 us wide, bucket index == microseconds).
"""
import json
import math
import subprocess


def template(volley_bin, url, path):
    """A small real run saved to path (the template)."""
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "-n", "20", "-c", "1",
                        "--save-baseline", str(path), url],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(open(path).read())


def _hist(values_us):
    counts = {}
    for v in values_us:
        assert 1 <= v < 2048, v
        counts[v] = counts.get(v, 0) + 1
    runs = []  # consecutive buckets are one run: "first:count:count..."
    for k in sorted(counts):
        if runs and runs[-1][0] + len(runs[-1][1]) == k:
            runs[-1][1].append(counts[k])
        else:
            runs.append((k, [counts[k]]))
    body = ",".join(f"{k}:" + ":".join(map(str, c)) for k, c in runs)
    lo, hi, total = min(values_us) * 1000, max(values_us) * 1000, sum(values_us) * 1000
    return f"v1;{lo};{hi};{total};0;{body}"


def _pct(sorted_vals, p):
    k = max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def _row(cols, second, vals, errors):
    """A series row by column name (columns may be added); other columns 0."""
    s = sorted(vals)
    v = {"second": second, "requests": len(vals) + errors, "responses": len(vals),
         "errors": errors, "transport_errors": errors, "p50_ms": _pct(s, 50) / 1000,
         "p90_ms": _pct(s, 90) / 1000, "p99_ms": _pct(s, 99) / 1000, "max_ms": s[-1] / 1000,
         "mean_ms": sum(s) / len(s) / 1000, "active": 1, "target_rps": 0.0}
    return [v.get(c, 0) for c in cols]


def write(tpl, path, seconds, errors=None):
    """seconds: a list of lists of latencies (us), one list per second;
    errors: errors per second (timeouts), default none."""
    errors = errors or [0] * len(seconds)
    d = json.loads(json.dumps(tpl))
    allv = [v for sec in seconds for v in sec]
    nerr = sum(errors)
    t = d["totals"]
    t["requests"] = len(allv) + nerr
    t["responses"] = len(allv)
    t["errors"] = nerr
    t["transport_errors"] = nerr  # timeouts: failed, and socket-level
    t["responses_by_status"] = {"200": len(allv)}
    t["errors_by_kind"] = {k: 0 for k in t["errors_by_kind"]}
    t["errors_by_kind"]["timeout"] = nerr
    dur = float(len(seconds))
    d["duration_s"] = dur
    d["duration_ns"] = int(dur * 1e9)
    d["latency"]["count"] = len(allv)
    d["latency"]["histogram"] = _hist(allv)
    cols = d["series"]["columns"]
    assert cols[:4] == ["second", "requests", "responses", "errors"], cols
    d["series"]["rows"] = [_row(cols, i, sec, errors[i]) for i, sec in enumerate(seconds)]
    # One endpoint: the same block as the whole run, so readers that check
    # endpoints against the total see a consistent file.
    for ep in d.get("endpoints", []):
        for k in ("totals", "latency", "series", "duration_s", "duration_ns"):
            if k in ep:
                ep[k] = d[k]
    with open(path, "w") as f:
        json.dump(d, f)
    return path
