"""CI gate: thresholds and exit codes, the server under test (--exec,
--monitor-pid) and OpenAPI discovery."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import free_port


def run(volley_bin, *args, timeout=60):
    return subprocess.run([volley_bin, "run", "--no-save", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.serial  # p(99)<500ms and rate thresholds must pass
def test_passing_thresholds_exit_0(volley_bin, serve):
    p = run(volley_bin, "-q", "--json", "-c", "2", "-d", "1s",
            "--threshold", "p(99)<500ms", "--threshold", "errors<1%",
            "--threshold", "ttfb:p(95)<=500ms", "--threshold", "rate>=10",
            "--threshold", "endpoint=/health:max<2s", serve.url + "/health")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert [t["ok"] for t in res["thresholds"]] == [True] * 5
    assert res["thresholds"][0]["expr"] == "p(99)<500ms"


def test_failing_threshold_exits_99_and_is_reported(volley_bin, serve):
    p = run(volley_bin, "-c", "2", "-d", "1s", "--threshold", "p(50)<1ms",
            "--threshold", "errors<1%", serve.url + "/delay/5")
    assert p.returncode == 99
    assert "FAIL p(50)<1ms" in p.stdout
    assert "pass errors<1%" in p.stdout


def test_error_rate_threshold(volley_bin, serve):
    p = run(volley_bin, "-q", "-n", "100", "-c", "2", "--threshold", "errors<1%",
            "http://127.0.0.1:%d/" % free_port())
    assert p.returncode == 99


@pytest.mark.parametrize("expr,pos", [
    ("p(99<50ms", "position 5"),
    ("p(99)<<50ms", "position 7"),
    ("p(99)<50parsecs", "position 7"),
    ("avg>", "position 5"),
    ("foo<1", "position 1"),
    ("latency:errors<1%", "no metric prefix"),
    ("endpoint=nope:p(99)<1s", "no endpoint named 'nope'"),
])
def test_malformed_threshold_is_an_error_before_any_load(volley_bin, expr, pos):
    # The target does not exist: had any load been sent, it would be refused
    # connections, not a usage error.
    p = run(volley_bin, "-d", "1s", "--threshold", expr, "http://127.0.0.1:%d/" % free_port())
    assert p.returncode == 2
    assert pos in p.stderr
    assert "requests" not in p.stdout


@pytest.mark.serial  # wall time < 6 s
def test_abort_on_fail_stops_early(volley_bin, serve):
    t0 = time.monotonic()
    p = run(volley_bin, "-q", "--json", "-c", "2", "-d", "20s", "--abort-on-fail",
            "--threshold", "p(99)<1ms", serve.url + "/delay/20")
    assert p.returncode == 99
    assert time.monotonic() - t0 < 6
    res = json.loads(p.stdout)
    assert res["thresholds_aborted"] is True


def ps_cpu_rss(pid):
    """CPU seconds (utime+stime, whole seconds) and RSS in bytes, from ps."""
    out = subprocess.run(["ps", "-o", "cputimes=,rss=", "-p", str(pid)], capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), int(out[1]) * 1024


def stat_cpu(pid):
    """CPU seconds (utime+stime) at clock-tick resolution, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.serial  # server CPU samples
def test_exec_samples_server_cpu_and_rss_and_stops_it(volley_bin, tmp_path):
    port = free_port()
    cmd = f"exec {volley_bin} serve --listen 127.0.0.1:{port} --threads 1"
    p = run(volley_bin, "-q", "--json", "-c", "8", "-t", "1", "-d", "3s", "--exec", cmd,
            f"http://127.0.0.1:{port}/bytes/2000")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    m = res["monitor"]
    assert m["command"] == cmd
    assert len(m["rows"]) >= 5  # every 500 ms over 3 s
    cpu = [r[1] for r in m["rows"]]
    rss = [r[2] for r in m["rows"]]
    # The server was busy: tens of percent of a core while loaded.
    assert max(cpu) > 20
    assert 1 << 20 < max(rss) < 200 << 20
    assert m["cpu_seconds"] > 0.3
    assert m["cpu_seconds_per_1000_requests"] > 0
    # The server process is gone after the run.
    out = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
    assert out.stdout.strip() == ""
    # The report charts the samples beside the load.
    rj = tmp_path / "results.json"
    rj.write_text(p.stdout)
    rep = subprocess.run([volley_bin, "report", str(rj), "--format", "png"], capture_output=True,
                         text=True, timeout=60)
    assert rep.returncode == 0, rep.stderr
    assert (tmp_path / "charts" / "server.png").stat().st_size > 10000


@pytest.mark.serial  # CPU seconds against /proc within 0.2 s
def test_monitor_pid_matches_ps(volley_bin, serve):
    before_ps, _ = ps_cpu_rss(serve.proc.pid)
    before = stat_cpu(serve.proc.pid)
    p = run(volley_bin, "-q", "--json", "-c", "8", "-t", "1", "-d", "3s",
            "--monitor-pid", str(serve.proc.pid), serve.url + "/bytes/2000")
    after = stat_cpu(serve.proc.pid)
    after_ps, after_rss = ps_cpu_rss(serve.proc.pid)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)["monitor"]
    # The test's window is a little wider than the measured load (start-up,
    # the wait for in-flight requests), during which the server idles.
    assert abs(m["cpu_seconds"] - (after - before)) < 0.2
    # ps shows whole seconds.
    assert abs(m["cpu_seconds"] - (after_ps - before_ps)) <= 1.05
    last_rss = m["rows"][-1][2]
    assert abs(last_rss - after_rss) / after_rss < 0.25


def poll(cond, seconds):
    """Polls cond every 50 ms until it holds or the deadline passes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_exec_server_is_stopped_after_ctrl_c(volley_bin):
    port = free_port()
    cmd = f"exec {volley_bin} serve --listen 127.0.0.1:{port} --threads 1"
    proc = subprocess.Popen([volley_bin, "run", "--no-save", "-q", "-c", "2", "-d", "30s",
                             "--exec", cmd, f"http://127.0.0.1:{port}/health"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    running = lambda: subprocess.run(["pgrep", "-f", f"serve --listen 127.0.0.1:{port}"],
                                     capture_output=True).returncode == 0
    assert poll(running, 15), "the --exec server never started"
    # The load has started once the server answers.
    assert poll(lambda: answers(port), 15)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert poll(lambda: not running(), 5), "the --exec server outlived the run"


def test_exec_that_never_answers_is_an_error(volley_bin):
    port = free_port()
    p = run(volley_bin, "-d", "1s", "--exec", "exit 3", f"http://127.0.0.1:{port}/")
    assert p.returncode == 2
    assert "--exec" in p.stderr and "exited" in p.stderr


def test_openapi_discovers_the_served_routes(volley_bin, serve):
    p = run(volley_bin, "-q", "--json", "-n", "5", "-c", "1", "--openapi",
            serve.url + "/openapi.json", "--filter", "/", "--threshold", "errors<50%")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    names = {e["name"] for e in res["endpoints"]}
    assert {"/health", "GET /echo", "POST /echo", "/bytes/{n}", "/status/{code}"} <= names
    eps = {e["name"]: e for e in res["endpoints"]}
    assert eps["POST /echo"]["method"] == "POST"
    # Path parameters took the document's examples.
    assert eps["/bytes/{n}"]["url"].endswith("/bytes/1024")


def test_openapi_honours_filter_and_file_with_base(volley_bin, serve, tmp_path):
    doc = subprocess.run(["curl", "-s", serve.url + "/openapi.json"], capture_output=True,
                         text=True).stdout
    f = tmp_path / "api.json"
    f.write_text(doc)
    p = run(volley_bin, "-q", "--json", "-n", "5", "-c", "1", "--openapi", str(f),
            "--filter", "/status", serve.url)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert [e["name"] for e in res["endpoints"]] == ["/status/{code}"]
    assert res["endpoints"][0]["totals"]["responses_by_status"] == {"503": 5}


def test_openapi_bad_document(volley_bin, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"openapi": "3.0.0", "paths": {')
    p = run(volley_bin, "-n", "1", "--openapi", str(f), "http://127.0.0.1:1/")
    assert p.returncode == 2
    assert str(f) in p.stderr
