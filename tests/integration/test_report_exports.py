"""`volley report --format junit,hgrm,prom`: CI exports of a results file,
each checked by a real reader (an XML parser, the .hgrm layout HdrHistogram's
plotter reads, `promtool check metrics` from Debian's prometheus)."""
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import volley_path


@pytest.fixture
def run_dir(serve, tmp_path):
    out = str(tmp_path / "run")
    p = subprocess.run([volley_path(), "run", serve.url + "/health", "-d", "1", "-c", "2",
                        "-t", "1", "--out", out, "-q", "--threshold", "p(99)<10s",
                        "--threshold", "p(50)<1us", "--threshold", "errors<1%"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 99, p.stderr  # one threshold fails
    with open(os.path.join(out, "results.json")) as f:
        return out, json.load(f)


def report(src, out, fmt):
    return subprocess.run([volley_path(), "report", os.path.join(src, "results.json"), "-f", fmt,
                           "-o", out], capture_output=True, text=True, timeout=60)


def test_junit_has_one_testcase_per_threshold_and_marks_failures(run_dir, tmp_path):
    src, res = run_dir
    p = report(src, str(tmp_path / "r"), "junit")
    assert p.returncode == 0, p.stderr
    root = ET.parse(str(tmp_path / "r" / "junit.xml")).getroot()
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [t["expr"] for t in res["thresholds"]]
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    failed = {c.get("name"): c.find("failure") is not None for c in cases}
    assert failed == {"p(99)<10s": False, "p(50)<1us": True, "errors<1%": False}


def hgrm_rows(path):
    rows = []
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    for line in lines[2:]:
        if line.startswith("#"):
            break
        parts = line.split()
        rows.append((float(parts[0]), float(parts[1]), int(parts[2])))
    footer = [l for l in lines if l.startswith("#[")]
    assert len(footer) == 3
    return rows, footer


def test_hgrm_parses_and_its_percentiles_match_results(run_dir, tmp_path):
    src, res = run_dir
    p = report(src, str(tmp_path / "r"), "hgrm")
    assert p.returncode == 0, p.stderr
    rows, footer = hgrm_rows(str(tmp_path / "r" / "latency.hgrm"))
    lat = res["latency"]
    at = {pct: v for v, pct, _ in rows}
    assert abs(at[0.5] - lat["percentiles"]["p50"]) <= 0.001
    assert abs(at[0.9] - lat["percentiles"]["p90"]) <= 0.001
    # 99% falls between two rows (HdrHistogram's tick spacing).
    i = next(k for k, r in enumerate(rows) if r[1] >= 0.99)
    assert rows[i - 1][0] - 0.001 <= lat["percentiles"]["p99"] <= rows[i][0] + 0.001
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert rows[-1][1] == 1.0 and rows[-1][2] == lat["count"] == res["totals"]["requests"]
    assert abs(rows[-1][0] - lat["max"]) <= 0.001
    assert "Total count    = %12d" % lat["count"] in footer[1]
    # HdrHistogram's own footer for its layout at 1 µs .. 1 h, 3 digits.
    assert footer[2] == "#[Buckets = %12d, SubBuckets     = %12d]" % (22, 2048), footer[2]


def test_prom_export_passes_promtool_and_holds_the_totals(run_dir, tmp_path):
    src, res = run_dir
    p = report(src, str(tmp_path / "r"), "prom")
    assert p.returncode == 0, p.stderr
    path = str(tmp_path / "r" / "metrics.prom")
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    with open(path) as f:
        chk = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    text = open(path).read()
    assert "volley_requests_total %d\n" % res["totals"]["requests"] in text
    assert "volley_retries_total %d\n" % res["totals"]["retries"] in text
    assert 'volley_responses_by_status_total{status_class="2xx"} %d\n' % \
        res["totals"]["responses_by_status"]["200"] in text


def test_unknown_report_format_is_refused(run_dir, tmp_path):
    src, _ = run_dir
    p = report(src, str(tmp_path / "r"), "junit,xunit")
    assert p.returncode == 2 and "xunit" in p.stderr
