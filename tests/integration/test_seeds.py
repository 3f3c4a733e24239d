"""One test per seed workflow (issue 18): the volley equivalent of each
toolchain's documented commands, run against `volley serve` (or a small
server started by --exec), and its outputs checked: files, CSV columns,
charts present and decoded as PNG, numbers consistent with results.json.
Each run takes one to three seconds."""
import csv
import json
import os
import struct
import subprocess
import sys
import urllib.request
import zlib

import pytest

from conftest import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def volley(volley_bin, *args, code=0, timeout=120):
    p = subprocess.run([volley_bin, *args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def png(path):
    """Decodes a PNG far enough to trust it: signature, IHDR, and the
    inflated IDAT holding exactly height rows of width pixels."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[ctype]
    assert depth == 8 and w > 100 and h > 100
    assert len(zlib.decompress(idat)) == h * (1 + w * channels), path
    return w, h


def summary_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def results(d):
    with open(os.path.join(d, "results.json")) as f:
        return json.load(f)


def test_seed_app_runner_routes_stages_per_route_charts(volley_bin, serve, tmp_path):
    """benchmark.py --stage-targets 50,100,150 --duration 3m over four
    buffering/streaming routes; a per-route chart; charts regenerated from
    the saved results for one endpoint."""
    routes = {"buffering-simple": "/buffered?chunks=3&interval_ms=5",
              "buffering-dynamic": "/buffered?chunks=3&interval_ms=5&max_delay_ms=10",
              "streaming-simple": "/stream?chunks=3&interval_ms=5",
              "streaming-dynamic": "/stream?chunks=3&interval_ms=5&max_delay_ms=10"}
    args = []
    for name, path in routes.items():
        args += ["--endpoint", "%s=%s%s" % (name, serve.url, path)]
    out = tmp_path / "run"
    volley(volley_bin, "run", "-q", "--out", str(out), "--raw", "--executor",
           "ramping-arrival-rate", "--stages", "10,20,30", "-d", "1500ms", *args)
    r = results(out)
    assert [e["name"] for e in r["endpoints"]] == list(routes)
    assert r["plan"]["executor"] == "ramping-arrival-rate"
    # summary.csv: a row per route and a total, consistent with results.json.
    rows = summary_rows(out / "summary.csv")
    assert [x["endpoint"] for x in rows] == list(routes) + ["total"]
    for x, e in zip(rows, r["endpoints"]):
        assert int(x["requests"]) == e["totals"]["requests"] > 0
        assert abs(float(x["p99_ms"]) - e["latency"]["percentiles"]["p99"]) < 0.01
    assert int(rows[-1]["requests"]) == r["totals"]["requests"]
    # requests.csv (k6's raw CSV): one row per request.
    with open(out / "requests.csv") as f:
        raw = list(csv.DictReader(f))
    assert len(raw) == r["totals"]["requests"]
    assert {"offset_ms", "endpoint", "status"} <= set(raw[0])
    # The run ended with its report: charts, one per route among them.
    charts = sorted(os.listdir(out / "charts"))
    assert len([c for c in charts if c.startswith("route-")]) == 4
    for c in charts:
        png(out / "charts" / c)
    assert "streaming-dynamic" in (out / "report.html").read_text()
    # --skip-test --csv-dir DIR --endpoint NAME: from the saved results.
    again = tmp_path / "again"
    volley(volley_bin, "report", str(tmp_path), "--endpoint", "streaming-simple", "--out",
           str(again), "--format", "html,png,csv")
    one = summary_rows(again / "summary.csv")
    assert [x["endpoint"] for x in one] == ["streaming-simple", "total"]
    assert int(one[-1]["requests"]) == r["endpoints"][2]["totals"]["requests"]
    for c in os.listdir(again / "charts"):
        png(again / "charts" / c)


def test_seed_fastapi_vegeta_discovery_sweep_server_cost(volley_bin, serve, tmp_path):
    """run_benchmark.py --filter /api/simple --rates 1000 2000 (discovered
    routes, the server started and sampled) and plot_results.py (tables and
    an HTML report with CPU against the target rate)."""
    doc = tmp_path / "openapi.json"
    doc.write_bytes(urllib.request.urlopen(serve.url + "/openapi.json", timeout=10).read())
    port = free_port()
    out = tmp_path / "bench"
    p = volley(volley_bin, "run", "--out", str(out), "--openapi", str(doc), "--filter", "echo",
               "--rates", "20,60", "-d", "1s", "--exec",
               "exec %s serve --listen 127.0.0.1:%d --threads 1" % (volley_bin, port),
               "http://127.0.0.1:%d" % port)
    r = results(out)
    assert sorted(e["name"] for e in r["endpoints"]) == ["GET /echo", "POST /echo"]
    assert [s["target_rps"] for s in r["steps"]] == [20, 60]
    assert "srv cpu%" in p.stdout and "sweep: target vs achieved" in p.stdout
    rows = summary_rows(out / "summary.csv")
    for i, s in enumerate(r["steps"]):
        step_rows = [x for x in rows if x["step"] == str(i)]
        assert [x["endpoint"] for x in step_rows][-1] == "total"
        total = step_rows[-1]
        assert int(total["requests"]) == s["totals"]["requests"]
        assert float(total["server_cpu_pct"]) == s["server"]["cpu_pct"]
        assert int(total["server_rss_max_bytes"]) == s["server"]["rss_max_bytes"] > 1 << 20
    for c in ("sweep", "server", "latency"):
        png(out / "charts" / (c + ".png"))
    html = (out / "report.html").read_text()
    assert "server CPU per step" in html and "POST /echo" in html
    assert (out / "server.log").exists()


@pytest.mark.serial  # ttfb p50 < 100 ms
def test_seed_locust_user_classes_csv_html_ttft(volley_bin, serve, tmp_path):
    """locust -f locustfile.py --headless --users N --run-time T --csv
    --html: user classes with weighted tasks, CSV and HTML outputs, a
    failure-rate criterion, and time to first token on a stream."""
    out = tmp_path / "locust"
    volley(volley_bin, "run", "-q", "--out", str(out),
           os.path.join(ROOT, "examples", "locust-users.lua"), "-e", "BASE_URL=" + serve.url,
           "-e", "DURATION=2s", "-e", "VUS=4")
    r = results(out)
    names = r["script"]["names"]
    assert {"home", "item", "stream", "api status"} <= set(names)
    assert [t["ok"] for t in r["thresholds"]] == [True, True]  # failure rate < 1 %, p95
    rows = summary_rows(out / "summary.csv")
    assert int(rows[-1]["requests"]) == r["totals"]["requests"] > 50
    for c in os.listdir(out / "charts"):
        png(out / "charts" / c)
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html")
    # Time to first token: the head at once, the first token 150 ms later.
    res = json.loads(volley(volley_bin, "run", "-q", "--no-save", "--json", "-c", "2", "-d",
                            "1s", serve.url + "/stream?chunks=3&interval_ms=10&first_ms=150"
                            ).stdout)
    assert res["ttfb"]["percentiles"]["p50"] < 100
    assert res["latency"]["percentiles"]["p50"] >= 150 + 20


def test_seed_k6_websocket_suite_with_thresholds(volley_bin, serve, tmp_path):
    """k6 run concurrent-sessions.js / message-throughput.js: WebSocket
    sessions, custom metrics, and thresholds that fail the run (exit 99)."""
    ex = os.path.join(ROOT, "examples")
    out = tmp_path / "ws"
    volley(volley_bin, "run", "-q", "--out", str(out), os.path.join(ex, "concurrent-sessions.lua"),
           "-e", "BASE_URL=" + serve.url, "-e", "DURATION=1s", "-e", "VUS=4")
    r = results(out)
    assert r["thresholds"] and all(t["ok"] for t in r["thresholds"])
    assert r["script"]["checks"] and all(c["fails"] == 0 for c in r["script"]["checks"])
    for c in os.listdir(out / "charts"):
        png(out / "charts" / c)
    res = json.loads(volley(volley_bin, "run", "-q", "--no-save", "--json",
                            os.path.join(ex, "message-throughput.lua"), "-e",
                            "BASE_URL=" + serve.url, "-e", "DURATION=1s", "-e", "VUS=2").stdout)
    assert res["script"]["metrics"]["echoes"]["count"] > 10
    # The same suite against nothing: its checks threshold fails the run.
    dead = "http://127.0.0.1:%d" % free_port()
    p = volley(volley_bin, "run", "--no-save", os.path.join(ex, "concurrent-sessions.lua"), "-e",
               "BASE_URL=" + dead, "-e", "DURATION=1s", "-e", "VUS=2", code=99)
    assert "FAIL" in p.stdout


@pytest.mark.serial  # p99 < the cold first request
def test_seed_mik_bench_cold_warm_json_ci_targets(volley_bin, tmp_path):
    """benchmark.py -m POST -b JSON --compare-cold-warm --json, with the
    performance targets as CI gates (exit 99 when one is missed)."""
    port, log = free_port(), str(tmp_path / "seen.log")
    cmd = "exec %s %s %d %s 300" % (sys.executable, os.path.join(HERE, "coldserver.py"), port,
                                    log)
    url = "http://127.0.0.1:%d/run/echo" % port
    base = ["run", "-q", "--no-save", "--json", "-m", "POST", "-b", '{"key":"value"}', "-c", "4",
            "-d", "1s", "--cold", "--exec", cmd]
    res = json.loads(volley(volley_bin, *base, "--threshold", "p(99)<250ms", "--threshold",
                            "errors<1%", url).stdout)
    cold = res["cold"]
    # Cold: the 300 ms first request, measured apart; warm: the load.
    assert cold["first_request_ms"] >= 290 and cold["start_ms"] >= cold["first_request_ms"]
    assert res["latency"]["percentiles"]["p99"] < cold["first_request_ms"]
    assert all(t["ok"] for t in res["thresholds"])
    with open(log) as f:
        seen = [line.split() for line in f]
    assert seen[0] == ["POST", "/run/echo", "15"] and len(seen) == res["totals"]["responses"] + 1
    # A missed target fails the CI step, and the JSON is still written.
    port = free_port()
    cmd = "exec %s %s %d %s 0" % (sys.executable, os.path.join(HERE, "coldserver.py"), port,
                                  str(tmp_path / "seen2.log"))
    base[-1] = cmd
    p = volley(volley_bin, *base, "--threshold", "p(50)<1us",
               "http://127.0.0.1:%d/run/echo" % port, code=99)
    assert json.loads(p.stdout)["thresholds"][0]["ok"] is False
