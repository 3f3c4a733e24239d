"""volley run: flags, errors, outputs, progress and signals, against
`volley serve` on loopback."""
import json
import os
import signal
import subprocess
import time

import pytest


def run(volley_bin, *args, timeout=60):
    return subprocess.run([volley_bin, "run", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args,needle", [
    (["-d", "10x"], "--duration"),
    (["-d", "abc"], "--duration"),
    (["-c", "0"], "--connections"),
    (["-c", "many"], "--connections"),
    (["-n", "-5"], "--requests"),
    (["-t", "0"], "--threads"),
    (["--timeout", "1y"], "--timeout"),
    (["--connect-timeout", ""], "--connect-timeout"),
    (["-H", "NoColonHere"], "--header"),
    (["-H", "Bad Name: x"], "Bad Name"),
    (["--body-file", "/nonexistent/body.bin"], "/nonexistent/body.bin"),
    (["-m", "get"], "--method"),
    (["--max-header-size", "12q"], "--max-header-size"),
    (["--bogus"], "--bogus"),
])
def test_bad_flag_is_named_and_exits_2(volley_bin, serve, args, needle):
    p = run(volley_bin, *args, serve.url + "/health")
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr
    assert "requests" not in p.stdout  # nothing was run


@pytest.mark.parametrize("url,needle", [
    ("127.0.0.1:8080/x", "not a URL"),
    ("ftp://127.0.0.1/x", "unsupported scheme"),
    ("http://127.0.0.1:99999/", "bad port"),
    ("http:///x", "missing host"),
    ("http://127.0.0.1:8080/a b", "space"),
])
def test_bad_url_is_named_and_exits_2(volley_bin, url, needle):
    p = run(volley_bin, "-d", "1s", url)
    assert p.returncode == 2
    assert needle in p.stderr


def test_missing_url_exits_2(volley_bin):
    p = run(volley_bin, "-d", "1s")
    assert p.returncode == 2
    assert "missing URL" in p.stderr


def test_help_lists_every_flag(volley_bin):
    p = run(volley_bin, "--help")
    assert p.returncode == 0
    for flag in ["--connections", "--duration", "--requests", "--threads", "--method",
                 "--header", "--body", "--body-file", "--timeout", "--connect-timeout",
                 "--no-keepalive", "--out", "--json", "--quiet", "--grace"]:
        assert flag in p.stdout


def test_results_json_schema_and_consistency(volley_bin, serve, tmp_path):
    out = tmp_path / "r"
    p = run(volley_bin, "-q", "-c", "8", "-t", "2", "-d", "2s", "--out", str(out),
            serve.url + "/delay/2")
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["schema_version"] == 1
    assert res["plan"]["connections"] == 8 and res["plan"]["executor"] == "constant-vus"
    t = res["totals"]
    assert t["errors"] == 0 and t["responses"] == t["requests"] > 0
    # 8 connections, 2 ms each: about 4000 req/s at most.
    assert t["rps"] < 4000
    lat = res["latency"]
    assert lat["count"] == t["responses"]
    assert 2.0 <= lat["min"] <= lat["percentiles"]["p50"] <= lat["percentiles"]["p99"] <= lat["max"]
    # The exact histogram encoding holds every sample.
    enc = lat["histogram"]
    assert enc.startswith("v1;")
    body = enc.split(";")[5]
    total = 0
    for run_ in body.split(","):
        if run_:
            total += sum(int(c) for c in run_.split(":")[1:])
    assert total == lat["count"]
    # The per-second series adds up to the totals.
    cols = res["series"]["columns"]
    rows = res["series"]["rows"]
    assert sum(r[cols.index("requests")] for r in rows) == t["requests"]
    assert all(r[cols.index("p50_ms")] >= 2.0 for r in rows if r[cols.index("requests")])
    assert res["ttfb"]["count"] == t["responses"]
    assert res["connect"]["count"] == 8


def test_status_codes_are_counted_by_status(volley_bin, serve):
    p = run(volley_bin, "-q", "--json", "-n", "500", "-c", "5", serve.url + "/status/503")
    assert p.returncode == 0
    res = json.loads(p.stdout)
    assert res["totals"]["responses_by_status"] == {"503": 500}


def test_post_body_is_sent(volley_bin, serve, tmp_path):
    body = tmp_path / "body.txt"
    body.write_bytes(b"x" * 1000)
    p = run(volley_bin, "-q", "--json", "-n", "100", "-c", "2", "-m", "POST",
            "--body-file", str(body), serve.url + "/echo")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["totals"]["responses_by_status"] == {"200": 100}
    # The echo comes back: at least 1000 body bytes per response.
    assert res["totals"]["bytes_in"] >= 100 * 1000
    assert res["totals"]["bytes_out"] >= 100 * 1000


def test_connection_refused_is_counted(volley_bin):
    from conftest import free_port
    port = free_port()
    p = run(volley_bin, "-q", "--json", "-n", "50", "-c", "2", "http://127.0.0.1:%d/" % port)
    assert p.returncode == 0
    res = json.loads(p.stdout)
    assert res["totals"]["requests"] == 50
    assert res["totals"]["errors_by_kind"]["connect_refused"] == 50


@pytest.mark.serial  # duration < 1.5 s
def test_request_timeout_is_counted(volley_bin, serve):
    p = run(volley_bin, "-q", "--json", "-n", "4", "-c", "2", "--timeout", "200ms",
            serve.url + "/delay/2000")
    assert p.returncode == 0
    res = json.loads(p.stdout)
    assert res["totals"]["errors_by_kind"]["timeout"] == 4
    assert res["duration_s"] < 1.5


def test_plain_progress_lines_when_not_a_terminal(volley_bin, serve):
    p = run(volley_bin, "-c", "2", "-d", "3s", serve.url + "/health")
    assert p.returncode == 0
    lines = [l for l in p.stdout.splitlines() if l.startswith("[")]
    assert 2 <= len(lines) <= 4
    assert "requests" in lines[-1] and "rps" in lines[-1]
    assert "latency" in p.stdout and "status" in p.stdout


def test_quiet_prints_nothing(volley_bin, serve):
    p = run(volley_bin, "-q", "-c", "2", "-d", "1s", serve.url + "/health")
    assert p.returncode == 0
    assert p.stdout == ""


@pytest.mark.serial  # duration < 5 s after SIGINT
def test_sigint_stops_and_still_writes_results(volley_bin, serve, tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen([volley_bin, "run", "-q", "-c", "4", "-d", "30s", "--out", str(out),
                             serve.url + "/delay/10"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    res = json.loads((out / "results.json").read_text())
    assert res["interrupted"] is True
    t = res["totals"]
    assert t["responses"] > 50
    assert t["requests"] == t["responses"] + t["transport_errors"]
    assert res["duration_s"] < 5


@pytest.mark.serial  # exit < 3 s after SIGINT
def test_second_sigint_stops_at_once_and_counts_cancelled(volley_bin, serve, tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen([volley_bin, "run", "-q", "-c", "4", "-d", "30s", "--grace", "20s",
                             "--out", str(out), serve.url + "/delay/5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    proc.communicate(timeout=15)
    assert time.monotonic() - t0 < 3
    res = json.loads((out / "results.json").read_text())
    assert res["interrupted"] is True
    assert res["totals"]["errors_by_kind"]["cancelled"] == 4
