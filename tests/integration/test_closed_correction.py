"""Closed-model correction: volley's corrected distribution against a
stalling server is within 15 % of wrk's p99 (wrk corrects the same way),
while the raw one shows what the connections saw: only a handful of values
near the stall, so its p99 stays at the fast requests' level.
"""
import json
import re
import shutil
import subprocess

import pytest

from conftest import volley_path

# Every test here runs in the serial pass (tests/integration/pytest.ini):
# a stalling server's p99 against wrk's, phase-locked to the stall.
pytestmark = pytest.mark.serial

VOLLEY = volley_path()
WRK = shutil.which("wrk")


def wrk_p99_ms(url):
    p = subprocess.run([WRK, "-c", "10", "-t", "1", "-d", "5s", "--latency", url],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", p.stdout)
    assert m, p.stdout
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


@pytest.mark.skipif(WRK is None, reason="wrk not installed (scripts/setup-deps.sh bench)")
def test_corrected_p99_matches_wrk_on_a_stalling_server(serve_factory):
    # One 1 s stall every 3 s: a 5 s run started with its own server holds
    # the stall at 3 s, in the same phase for both tools.
    s = serve_factory("--stall-every", "3s", "--stall-for", "1s", "--threads", "1")
    url = f"http://{s.host}:{s.port}/health"
    p = subprocess.run([VOLLEY, "run", url, "-c", "10", "-t", "1", "-d", "5s", "--no-save",
                        "--json", "-q"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    raw = r["latency"]["percentiles"]["p99"]
    cor = r["latency_corrected"]["percentiles"]["p99"]
    s2 = serve_factory("--stall-every", "3s", "--stall-for", "1s", "--threads", "1")
    theirs = wrk_p99_ms(f"http://{s2.host}:{s2.port}/health")
    print(f"volley raw p99 {raw} ms, corrected {cor} ms, wrk {theirs} ms")
    # Quiet machine: within 1-4 % (913.9 vs 922.3 ms, docs/capacity.md); the
    # test allows 25 %, as wrk's own p99 moves that much when other work
    # shares the 2 cores (939.5 vs 1110 ms seen here).
    assert abs(cor - theirs) <= 0.25 * theirs, (cor, theirs)
    # The raw distribution: the stall is in its max, not in its p99.
    assert raw < 0.2 * cor, (raw, cor)
    assert r["latency"]["max"] > 900, r["latency"]["max"]


def test_open_model_has_no_corrected_distribution(serve):
    p = subprocess.run([VOLLEY, "run", f"http://{serve.host}:{serve.port}/health", "-r", "100",
                        "-d", "500ms", "--no-save", "--json", "-q"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "latency_corrected" not in json.loads(p.stdout)


def test_summary_labels_both_distributions(serve):
    p = subprocess.run([VOLLEY, "run", f"http://{serve.host}:{serve.port}/health", "-c", "2",
                        "-d", "500ms", "--no-save"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^  corrected ", p.stdout, re.M), p.stdout
    assert "as k6 reports" in p.stdout and "as wrk reports" in p.stdout
