"""End-of-run semantics and what reaches the server: -d with --grace (requests
still in flight when the grace ends are `cancelled`), -n with -d (whichever
comes first), --connect-timeout, -H and -b on the wire (seen through
/echo's X-Echo-Header and body), and `volley report` of several files of
which one is bad."""
import json
import socket
import subprocess
import time

import pytest


def run_json(volley_bin, *args, timeout=60):
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "--json", *args],
                       capture_output=True, text=True, timeout=timeout)
    return p, (json.loads(p.stdout) if p.stdout.strip().startswith("{") else None)


@pytest.mark.serial  # wall time < 2.9 s
def test_requests_in_flight_after_grace_are_cancelled(volley_bin, serve):
    """2 connections on a 3 s delay, -d 500ms --grace 200ms: both requests
    are still in flight when the grace ends, so both are cancelled, and the
    run ends near 0.7 s, not after the delay."""
    t0 = time.monotonic()
    p, r = run_json(volley_bin, "-c", "2", "-t", "1", "-d", "500ms", "--grace", "200ms",
                    serve.url + "/delay/3000")
    took = time.monotonic() - t0
    assert p.returncode in (0, 1), p.stderr
    t = r["totals"]
    assert t["requests"] == 2 and t["responses"] == 0, t
    assert t["errors_by_kind"]["cancelled"] == 2, t["errors_by_kind"]
    assert took < 2.9, took  # not after the 3 s delay


def test_grace_long_enough_lets_them_finish(volley_bin, serve):
    p, r = run_json(volley_bin, "-c", "2", "-t", "1", "-d", "300ms", "--grace", "5s",
                    serve.url + "/delay/1000")
    assert p.returncode == 0, p.stderr
    t = r["totals"]
    assert t["responses"] == 2 and t["errors"] == 0, t


def test_requests_limit_ends_before_duration(volley_bin, serve):
    t0 = time.monotonic()
    p, r = run_json(volley_bin, "-c", "2", "-n", "50", "-d", "30s", serve.url + "/health")
    assert p.returncode == 0, p.stderr
    assert r["totals"]["requests"] == 50
    assert time.monotonic() - t0 < 20


@pytest.mark.serial  # duration < 3 s
def test_duration_ends_before_requests_limit(volley_bin, serve):
    """/delay/100 on 2 connections: at most ~20 per second, so -n 1000 is
    far off when -d 1s ends the run."""
    p, r = run_json(volley_bin, "-c", "2", "-n", "1000", "-d", "1s", serve.url + "/delay/100")
    assert p.returncode == 0, p.stderr
    assert 4 <= r["totals"]["requests"] <= 30, r["totals"]
    assert r["duration_s"] < 3


@pytest.mark.serial  # wall time < 4 s
def test_connect_timeout(volley_bin, tmp_path):
    """A listening socket whose backlog is full never completes the
    handshake: each connect attempt ends as connect_timeout after the
    given timeout, not the 10 s default."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    try:
        # Fill the accept queue (never accepted) so further SYNs are dropped.
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        t0 = time.monotonic()
        p, r = run_json(volley_bin, "-c", "1", "-t", "1", "-n", "1", "-d", "5s",
                        "--connect-timeout", "300ms", f"http://127.0.0.1:{port}/")
        took = time.monotonic() - t0
    finally:
        for s in fillers:
            s.close()
        ls.close()
    assert r is not None, p.stderr
    k = r["totals"]["errors_by_kind"]
    assert k["connect_timeout"] >= 1, k
    assert r["totals"]["responses"] == 0
    assert took < 4, took


ECHO_LINE = "X-Echo-Header: X-Volley-Test: abc123\r\n"


def test_headers_and_body_reach_the_server(volley_bin, serve):
    """/echo reflects each request header as an X-Echo-Header line and the
    body as the response body: -H and -b grow every response by exactly
    that much."""
    base_args = ["-c", "1", "-t", "1", "-n", "20", serve.url + "/echo?headers=1"]
    _, plain = run_json(volley_bin, *base_args)
    _, hdr = run_json(volley_bin, "-H", "X-Volley-Test: abc123", *base_args)
    _, body = run_json(volley_bin, "-b", "0123456789", "-m", "POST", *base_args)
    per = lambda r: r["totals"]["bytes_in"] / r["totals"]["responses"]
    assert plain["totals"]["responses"] == hdr["totals"]["responses"] == 20
    assert per(hdr) - per(plain) == len(ECHO_LINE), (per(hdr), per(plain))
    # POST adds the body (10 bytes) and its echoed Content-Length (and
    # Content-Type if sent) header lines; the body alone is 10 of them.
    assert per(body) - per(plain) >= 10 + len("X-Echo-Header: Content-Length: 10\r\n")
    assert body["totals"]["bytes_out"] > plain["totals"]["bytes_out"] + 20 * 10


def test_echo_shows_header_bytes_over_a_raw_socket(serve):
    with socket.create_connection((serve.host, serve.port), timeout=5) as s:
        s.sendall(b"GET /echo?headers=1 HTTP/1.1\r\nHost: x\r\nX-One: 1\r\n\r\n"
                  b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Two: 2\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"\r\n\r\n") < 2 and time.monotonic() < deadline:
            data += s.recv(4096)
    assert b"X-Echo-Header: Host: x\r\nX-Echo-Header: X-One: 1\r\n" in data, data
    # Without ?headers=1 /echo reflects none (its size stays what it was).
    assert b"X-Two" not in data and data.count(b"X-Echo-Header") == 2, data


def test_report_of_several_files_where_one_is_bad(volley_bin, serve, tmp_path):
    good = tmp_path / "good" / "results.json"
    good.parent.mkdir()
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "-n", "20", "-c", "1",
                        "--save-baseline", str(good), serve.url + "/health"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(good.read_text()[:200])
    out = tmp_path / "out"
    p = subprocess.run([volley_bin, "report", "-f", "txt", "-o", str(out), str(good), str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert str(bad) in p.stderr
    assert str(good) not in p.stderr


@pytest.mark.serial  # 40 of 50 requests in the first second
def test_series_seconds_start_at_zero_and_are_consecutive(volley_bin, serve):
    """Row k of the per-second series covers [k s, k+1 s) of the run: the
    first is second 0 and none is skipped or numbered twice; the requests
    of the rows add up to the total."""
    p, r = run_json(volley_bin, "-c", "1", "-t", "1", "--rate", "50", "-d", "2500ms",
                    serve.url + "/health")
    assert p.returncode == 0, p.stderr
    rows = r["series"]["rows"]
    cols = r["series"]["columns"]
    sec, req = cols.index("second"), cols.index("requests")
    assert [row[sec] for row in rows] == list(range(len(rows))), rows
    assert 3 <= len(rows) <= 4
    assert sum(row[req] for row in rows) == r["totals"]["requests"]
    assert rows[0][req] >= 40, rows
