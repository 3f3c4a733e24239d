"""The server under test started by --exec: readiness never sends the
load's request (TCP connect, or a GET of --ready), --cold times the first
request apart from the warm load, --exec-timeout bounds the wait, and the
command's output goes to server.log, not into volley's output."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import free_port
from test_tls import certs  # noqa: F401 (fixture)

HERE = os.path.dirname(os.path.abspath(__file__))


def cold_cmd(port, log, cold_ms=300):
    return "exec %s %s %d %s %d" % (sys.executable, os.path.join(HERE, "coldserver.py"), port,
                                    log, cold_ms)


def run(volley_bin, *args, timeout=60, cwd=None):
    return subprocess.run([volley_bin, "run", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def seen(log):
    with open(log) as f:
        return [line.split() for line in f]


def test_default_readiness_sends_no_request(volley_bin, tmp_path):
    port, log = free_port(), str(tmp_path / "seen.log")
    p = run(volley_bin, "-q", "--no-save", "--json", "-n", "5", "-c", "1", "-m", "POST",
            "-b", "payload", "--exec", cold_cmd(port, log, 0),
            "http://127.0.0.1:%d/work" % port)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    rows = seen(log)
    # Every request the server saw is one of the load's: no probe warmed it.
    assert len(rows) == res["totals"]["responses"] == 5
    assert all(r == ["POST", "/work", "7"] for r in rows), rows
    assert "cold" not in res


def test_ready_url_is_a_get_without_the_load_s_body(volley_bin, tmp_path):
    port, log = free_port(), str(tmp_path / "seen.log")
    url = "http://127.0.0.1:%d" % port
    p = run(volley_bin, "-q", "--no-save", "-n", "3", "-c", "1", "-m", "POST", "-b", "payload",
            "--exec", cold_cmd(port, log, 0), "--ready", url + "/ready", url + "/work")
    assert p.returncode == 0, p.stderr
    rows = seen(log)
    assert rows[0] == ["GET", "/ready", "0"]
    assert rows[1:] == [["POST", "/work", "7"]] * 3


@pytest.mark.serial  # latency max < 390 ms
def test_cold_first_request_is_apart_from_the_warm_load(volley_bin, tmp_path):
    port, log = free_port(), str(tmp_path / "seen.log")
    out = tmp_path / "out"
    p = run(volley_bin, "--out", str(out), "-n", "20", "-c", "1", "--cold",
            "--exec", cold_cmd(port, log, 400), "http://127.0.0.1:%d/hello" % port)
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    cold = res["cold"]
    assert cold["status"] == 200 and cold["attempts"] == 1
    # The first request paid the 400 ms; the load after it did not.
    assert cold["first_request_ms"] >= 390
    assert cold["start_ms"] >= cold["first_request_ms"]
    assert cold["start_ms"] >= cold["ready_ms"]
    assert res["totals"]["responses"] == 20
    assert res["latency"]["max"] < 390
    assert len(seen(log)) == 21  # the cold request, then the load's 20
    assert "cold start: " in p.stdout and "first request" in p.stdout
    html = (out / "report.html").read_text()
    shown = float(html.split("Cold start: ", 1)[1].split(" ms", 1)[0])
    assert abs(shown - cold["start_ms"]) <= 0.051
    # volley report reads it back and prints it again.
    rep = subprocess.run([volley_bin, "report", str(out), "--format", "txt"],
                         capture_output=True, text=True, timeout=60)
    assert rep.returncode == 0, rep.stderr
    assert "cold start: " in rep.stdout


def test_exec_timeout_bounds_the_wait(volley_bin):
    port = free_port()
    t0 = time.monotonic()
    p = run(volley_bin, "--no-save", "-n", "1", "--exec", "sleep 30", "--exec-timeout", "700ms",
            "http://127.0.0.1:%d/" % port)
    took = time.monotonic() - t0
    assert p.returncode == 2
    assert "--exec-timeout" in p.stderr and "0.7s" in p.stderr, p.stderr
    assert took < 10


def test_server_output_goes_to_server_log(volley_bin, tmp_path):
    port, log = free_port(), str(tmp_path / "seen.log")
    out = tmp_path / "out"
    p = run(volley_bin, "--out", str(out), "-n", "2", "-c", "1", "--exec",
            cold_cmd(port, log, 0), "http://127.0.0.1:%d/" % port)
    assert p.returncode == 0, p.stderr
    text = (out / "server.log").read_text()
    assert "coldserver: stdout line" in text and "coldserver: stderr line" in text
    assert "coldserver: " not in p.stdout + p.stderr
    # -q without a results folder: the output is dropped, not printed.
    p2 = free_port()
    q = run(volley_bin, "-q", "--no-save", "-n", "2", "-c", "1", "--exec",
            cold_cmd(p2, log, 0), "http://127.0.0.1:%d/" % p2)
    assert q.returncode == 0, q.stderr
    assert "coldserver: " not in q.stdout + q.stderr


def test_cold_needs_exec_and_a_url_run(volley_bin, tmp_path):
    p = run(volley_bin, "--no-save", "-n", "1", "--cold", "http://127.0.0.1:%d/" % free_port())
    assert p.returncode == 2 and "--cold" in p.stderr
    p = run(volley_bin, "--no-save", "-n", "1", "--exec-timeout", "1s",
            "http://127.0.0.1:%d/" % free_port())
    assert p.returncode == 2 and "--exec-timeout" in p.stderr


def step_cpu_from_rows(res, step):
    """The rule of results_step_monitor, from results.json alone: samples
    count in the step where the middle of their interval lies."""
    m = res["monitor"]
    start = step["offset_s"]
    end = start + step["duration_s"]
    half = m["interval_s"] / 2
    rows = [r for r in m["rows"] if start <= r[0] - half <= end]
    return sum(r[1] for r in rows) / len(rows), max(r[2] for r in rows)


@pytest.mark.serial  # server CPU per step
def test_server_cost_per_sweep_step(volley_bin, tmp_path):
    port, log = free_port(), str(tmp_path / "seen.log")
    out = tmp_path / "out"
    cmd = cold_cmd(port, log, 0) + " 1000"  # 1 ms of CPU per request
    p = run(volley_bin, "--out", str(out), "--rates", "20,300", "-d", "1500ms", "-c", "8",
            "--exec", cmd, "http://127.0.0.1:%d/" % port)
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    cpu = [s["server"]["cpu_pct"] for s in res["steps"]]
    # 15 times the rate costs the server more (about 2 % against 30 %).
    assert cpu[1] > cpu[0] + 5, (cpu, [(s["offset_s"], s["duration_s"]) for s in res["steps"]],
                                 res["monitor"]["rows"])
    for s in res["steps"]:
        want_cpu, want_rss = step_cpu_from_rows(res, s)
        assert abs(s["server"]["cpu_pct"] - want_cpu) < 0.11
        assert s["server"]["rss_max_bytes"] == want_rss
    # summary.csv: the same figures on each step's total row.
    import csv
    rows = list(csv.DictReader(open(out / "summary.csv")))
    totals = [r for r in rows if r["endpoint"] == "total" and r["step"] != ""]
    assert [float(r["server_cpu_pct"]) for r in totals] == cpu
    assert [int(r["server_rss_max_bytes"]) for r in totals] == \
        [s["server"]["rss_max_bytes"] for s in res["steps"]]
    assert all(r["server_cpu_pct"] == "" for r in rows if r["endpoint"] != "total")
    # The sweep table, and the sweep chart with its CPU panel.
    assert "srv cpu%" in p.stdout
    png = (out / "charts" / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert "server CPU per step" in html
    table = html.split("<h2>Server under test</h2>", 1)[1].split("</table>", 1)[0]
    for c in cpu:  # results.json rounds to 0.1, as the table does
        assert ">%.1f</td>" % c in table, (c, table)


def test_cold_over_https_times_the_first_tls_request(volley_bin, tmp_path, certs):  # noqa: F811
    # volley serve with TLS started by --exec: the cold request does the TLS
    # handshake (certificate checked against the URL's name) before timing.
    port = free_port()
    cmd = "exec %s serve -q --listen 127.0.0.1:%d --threads 1 --tls-cert %s --tls-key %s" % (
        volley_bin, port, certs["server.pem"], certs["server.key"])
    p = run(volley_bin, "--no-save", "-q", "--json", "-n", "5", "-c", "1", "--cold", "--cacert",
            certs["ca.pem"], "--exec", cmd, "https://127.0.0.1:%d/health" % port)
    assert p.returncode == 0, p.stderr
    cold = json.loads(p.stdout)["cold"]
    assert cold["status"] == 200 and cold["attempts"] >= 1
    assert cold["start_ms"] >= cold["ready_ms"] and cold["first_request_ms"] > 0
    # A certificate the load would refuse fails the cold request the same way.
    p = run(volley_bin, "--no-save", "-q", "-n", "1", "--cold", "--exec-timeout", "2s",
            "--exec", cmd, "https://127.0.0.1:%d/health" % port)
    assert p.returncode != 0 and "--cold" in p.stderr, p.stderr


def test_cold_with_a_script_is_its_first_successful_response(volley_bin, tmp_path):
    port = free_port()
    log = str(tmp_path / "seen.log")
    url = "http://127.0.0.1:%d" % port
    flow = tmp_path / "flow.lua"
    flow.write_text('function default()\n  http.post(ENV.U .. "/work", "x")\nend\n')
    p = run(volley_bin, "--no-save", "-q", "--json", str(flow), "-e", "U=" + url, "-n", "6",
            "-c", "1", "--cold", "--exec", cold_cmd(port, log, 400), "--ready", url + "/ready")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    cold = res["cold"]
    # --ready was only connected to: the first request the server saw is
    # the script's, and it carried the 400 ms cold start.
    assert [line[:2] for line in seen(log)] == [["POST", "/work"]] * 6
    assert cold["status"] == 200 and cold["attempts"] == 1
    assert cold["first_request_ms"] >= 390 and cold["start_ms"] >= cold["first_request_ms"]
    assert cold["start_ms"] >= cold["ready_ms"]


def test_a_load_shorter_than_the_monitor_interval_still_has_the_servers_rss(volley_bin,
                                                                             tmp_path):
    """-n 20 ends before the monitor's first 0.5 s sample: the peak RSS is
    still the server's (read when the load starts and when it ends), not 0."""
    port = free_port()
    out = tmp_path / "out"
    p = run(volley_bin, "--out", str(out), "--no-report", "-n", "20", "-c", "1", "--exec",
            "exec %s serve --listen 127.0.0.1:%d --threads 1" % (volley_bin, port),
            "http://127.0.0.1:%d/health" % port)
    assert p.returncode == 0, p.stderr
    mon = json.loads((out / "results.json").read_text())["monitor"]
    assert mon["rows"] == [], mon  # no sample was due
    assert mon["rss_max_bytes"] > 1 << 20, mon
    assert "peak rss 0 B" not in p.stdout, p.stdout
