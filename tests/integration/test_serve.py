"""volley serve: every route, every bad-request case, keep-alive and
pipelining, stalls, timeouts, many clients and hostile ones. Raw sockets where
the wire matters; http.client elsewhere. Only 127.0.0.1, every test bounded."""
import http.client
import json
import os
import selectors
import socket
import subprocess
import threading
import time

import pytest

from conftest import start_serve, volley_path

TIMEOUT = 10


def conn(s):
    return http.client.HTTPConnection(s.host, s.port, timeout=TIMEOUT)


def get(s, path, method="GET", body=None, headers=None):
    c = conn(s)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def raw_sock(s):
    sock = socket.create_connection((s.host, s.port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


class Reader:
    """Reads HTTP/1.1 responses off a raw socket (Content-Length, chunked,
    or to EOF), keeping the bytes that follow for the next one."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head=False):
        status_line = self._line()
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = b""
        if head or status in (204, 304) or status < 200:
            pass
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    self._line()
                    break
                body += self._take(size)
                self._line()
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        else:
            try:
                while True:
                    self._more()
            except EOFError:
                pass
            body, self.buf = self.buf, b""
        return status, headers, body

    def closed(self, timeout=3.0):
        """True if the peer closes (EOF or reset) within timeout, with nothing more sent."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return d == b""


def exchange(s, data, n=1, head=False):
    """Sends raw bytes and reads n responses."""
    sock = raw_sock(s)
    try:
        sock.sendall(data)
        rd = Reader(sock)
        return [rd.response(head=head) for _ in range(n)], rd
    except Exception:
        sock.close()
        raise


# ---- routes ----

def test_health(serve):
    st, h, b = get(serve, "/health")
    assert (st, b) == (200, b"ok")
    assert h["Content-Length"] == "2"


def test_echo_post_returns_body_and_headers(serve):
    body = b'{"hello": "volley"}' * 100
    st, h, b = get(serve, "/echo?x=1", "POST", body, {"Content-Type": "application/json"})
    assert st == 200 and b == body
    assert h["X-Echo-Method"] == "POST"
    assert h["X-Echo-Path"] == "/echo?x=1"


def test_echo_get_empty(serve):
    st, h, b = get(serve, "/echo")
    assert (st, b, h["X-Echo-Method"]) == (200, b"", "GET")


def test_echo_chunked_request_body(serve):
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
    (r,), rd = exchange(serve, data)
    rd.sock.close()
    assert r[0] == 200 and r[2] == b"hello world"


def test_echo_large_body(serve):
    body = os.urandom(3 << 20)
    st, _, b = get(serve, "/echo", "POST", body)
    assert st == 200 and b == body


def test_bytes(serve):
    for n in (0, 1, 1000, 70000, 5 << 20):
        st, h, b = get(serve, "/bytes/%d" % n)
        assert st == 200 and len(b) == n and h["Content-Length"] == str(n)


def test_bytes_bad(serve):
    assert get(serve, "/bytes/%d" % ((64 << 20) + 1))[0] == 400
    assert get(serve, "/bytes/abc")[0] == 400


def test_status(serve):
    for code in (200, 201, 302, 404, 418, 500, 503, 599):
        st, _, b = get(serve, "/status/%d" % code)
        assert st == code
        assert b.startswith(str(code).encode())
    for code in (204, 304):
        st, h, b = get(serve, "/status/%d" % code)
        assert st == code and b == b"" and "Content-Length" not in h


def test_status_invalid(serve):
    for code in ("100", "101", "199", "600", "99", "x", "20000"):
        st, _, b = get(serve, "/status/" + code)
        assert st == 400, code
        assert b"code" in b


def timed(s, path):
    t = time.monotonic()
    st, h, b = get(s, path)
    return st, b, time.monotonic() - t


@pytest.mark.serial  # response times within bounds
def test_delay(serve):
    st, b, dt = timed(serve, "/delay/300")
    assert (st, b) == (200, b"ok") and 0.29 <= dt < 1.5
    st, b, dt = timed(serve, "/delay/100?jitter_ms=100")
    assert st == 200 and 0.099 <= dt < 1.2
    st, b, dt = timed(serve, "/delay/0")
    assert st == 200 and dt < 0.5


@pytest.mark.serial  # response times within bounds
def test_delay_random_max(serve):
    times = [timed(serve, p)[2] for p in ["/delay?max_delay_ms=200"] * 4 +
             ["/delay/0?max_delay_ms=200"] * 4]
    assert all(t < 1.2 for t in times)
    assert max(times) - min(times) > 0.005, times  # random, not fixed


@pytest.mark.serial  # wall time < 2.5 s
def test_delay_does_not_block_other_clients(serve):
    """Delays are timers, not sleeps: 50 concurrent /delay/500 take ~0.5s."""
    results = []

    def one():
        results.append(timed(serve, "/delay/500"))

    t = time.monotonic()
    ths = [threading.Thread(target=one) for _ in range(50)]
    [th.start() for th in ths]
    st, _, dt = timed(serve, "/health")
    assert st == 200 and dt < 0.3
    [th.join(TIMEOUT) for th in ths]
    assert len(results) == 50 and all(r[0] == 200 for r in results)
    assert time.monotonic() - t < 2.5


def first_body_byte_time(s, path):
    """Seconds from sending the request to the first body byte, and the total."""
    sock = raw_sock(s)
    t = time.monotonic()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    data = b""
    ttfb = None
    while True:
        d = sock.recv(65536)
        if not d:
            break
        data += d
        if ttfb is None and b"\r\n\r\n" in data and len(data) > data.index(b"\r\n\r\n") + 4:
            ttfb = time.monotonic() - t
        if data.endswith(b"0\r\n\r\n") or (b"Content-Length" in data and len(data) >= total_len(data)):
            break
    total = time.monotonic() - t
    sock.close()
    return ttfb, total, data


def total_len(data):
    if b"\r\n\r\n" not in data:
        return 1 << 60
    head, _ = data.split(b"\r\n\r\n", 1)
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return 1 << 60


@pytest.mark.serial  # ttfb < 100 ms
def test_stream_ttfb_early_buffered_late(serve):
    q = "?chunks=5&interval_ms=100&size=10"
    s_ttfb, s_total, s_data = first_body_byte_time(serve, "/stream" + q)
    b_ttfb, b_total, b_data = first_body_byte_time(serve, "/buffered" + q)
    assert b"Transfer-Encoding: chunked" in s_data
    assert s_ttfb < 0.1, s_ttfb
    assert b_ttfb >= 0.38, b_ttfb
    assert 0.38 <= s_total < 1.5 and 0.38 <= b_total < 1.5
    # Same bytes either way.
    st, h, sb = get(serve, "/stream" + q)
    st2, h2, bb = get(serve, "/buffered" + q)
    assert sb == bb and len(sb) == 50 and h2["Content-Length"] == "50"


@pytest.mark.serial  # first chunk < 100 ms
def test_stream_chunks_arrive_over_time(serve):
    sock = raw_sock(serve)
    sock.sendall(b"GET /stream?chunks=4&interval_ms=150&size=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    rd = Reader(sock)
    rd._line()
    while rd._line():
        pass
    times = []
    t = time.monotonic()
    while True:
        size = int(rd._line(), 16)
        times.append(time.monotonic() - t)
        if size == 0:
            rd._line()
            break
        rd._take(size)
        rd._line()
    sock.close()
    assert len(times) == 5
    assert times[0] < 0.1 and times[-1] >= 0.4


def test_stream_dynamic_and_defaults(serve):
    st, h, b = get(serve, "/stream?chunks=3&interval_ms=10&max_delay_ms=20")
    assert st == 200 and len(b) == 3 * 32
    st, h, b = get(serve, "/stream?chunks=0")
    assert st == 200 and b == b""
    assert get(serve, "/stream?chunks=x")[0] == 400
    assert get(serve, "/buffered?size=0")[0] == 400


def test_sse_format(serve):
    st, h, b = get(serve, "/sse?events=3&interval_ms=20")
    assert st == 200
    assert h["Content-Type"] == "text/event-stream"
    events = [e for e in b.decode().split("\n\n") if e]
    assert len(events) == 3
    for i, e in enumerate(events, 1):
        lines = dict(l.split(": ", 1) for l in e.split("\n"))
        assert lines["id"] == str(i)
        assert json.loads(lines["data"])["seq"] == i


def test_openapi(serve):
    st, h, b = get(serve, "/openapi.json")
    assert st == 200 and h["Content-Type"] == "application/json"
    doc = json.loads(b)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ("/health", "/echo", "/bytes/{n}", "/status/{code}", "/delay/{ms}", "/delay",
              "/stream", "/buffered", "/sse", "/openapi.json"):
        assert p in paths, p
    assert "post" in paths["/echo"] and "requestBody" in paths["/echo"]["post"]
    names = [p["name"] for p in paths["/stream"]["get"]["parameters"]]
    assert {"chunks", "interval_ms", "max_delay_ms", "size"} <= set(names)


def test_head(serve):
    for path, length in (("/health", "2"), ("/bytes/1000", "1000"), ("/openapi.json", None)):
        (r,), rd = exchange(serve, ("HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode(), head=True)
        assert r[0] == 200 and r[2] == b""
        if length:
            assert r[1]["content-length"] == length
        # Nothing after the head: the next request gets the next response.
        rd.sock.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        assert rd.response()[2] == b"ok"
        rd.sock.close()


# ---- errors ----

def test_not_found_keeps_connection(serve):
    (r1, r2), rd = exchange(serve, b"GET /nope HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n", 2)
    rd.sock.close()
    assert r1[0] == 404 and b"no such route" in r1[2]
    assert r2[0] == 200


def test_method_not_allowed(serve):
    st, h, b = get(serve, "/health", "DELETE")
    assert st == 405 and h["Allow"] == "GET, HEAD" and b
    st, h, b = get(serve, "/echo", "PUT", b"x")
    assert st == 405 and "POST" in h["Allow"]


@pytest.mark.parametrize("data,status", [
    (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400),
    (b"POST /echo HTTP/1.1\r\nContent-Length: 9000000000\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
], ids=["garbage", "no-colon", "cl-and-te", "bad-chunk-size", "bad-chunk-end", "413", "431",
        "505"])
def test_bad_requests_answer_and_close(serve, data, status):
    (r,), rd = exchange(serve, data)
    assert r[0] == status
    assert r[1]["connection"] == "close"
    assert len(r[2]) > 5 and r[2].startswith(str(status).encode())
    assert rd.closed()
    rd.sock.close()
    assert get(serve, "/health")[0] == 200


def test_chunked_body_over_limit_413(serve):
    sock = raw_sock(serve)
    sock.sendall(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(9):
            sock.sendall(b"100000\r\n" + b"x" * 0x100000 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = Reader(sock).response()
    sock.close()
    assert r[0] == 413


# ---- connections ----

def test_keepalive_many_requests_one_connection(serve):
    c = conn(serve)
    c.connect()
    local = c.sock.getsockname()
    for i in range(20):
        c.request("GET", "/health")
        r = c.getresponse()
        assert r.read() == b"ok"
    assert c.sock.getsockname() == local
    c.close()


def test_http10_closes_without_keepalive(serve):
    (r,), rd = exchange(serve, b"GET /health HTTP/1.0\r\n\r\n")
    assert r[0] == 200 and rd.closed()
    rd.sock.close()
    (r,), rd = exchange(serve, b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert r[1].get("connection") == "keep-alive" and not rd.closed(0.3)
    rd.sock.close()


def test_connection_close_closes_after_response(serve):
    (r,), rd = exchange(serve, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert r[0] == 200 and r[1]["connection"] == "close" and rd.closed()
    rd.sock.close()


def test_pipelining_in_order_with_deferred(serve):
    reqs = (b"GET /delay/200 HTTP/1.1\r\n\r\n"
            b"GET /health HTTP/1.1\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /stream?chunks=2&interval_ms=50&size=3 HTTP/1.1\r\n\r\n"
            b"GET /bytes/100000 HTTP/1.1\r\n\r\n"
            b"GET /status/204 HTTP/1.1\r\n\r\n"
            b"GET /sse?events=1 HTTP/1.1\r\n\r\n"
            b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    t = time.monotonic()
    rs, rd = exchange(serve, reqs, 8)
    assert time.monotonic() - t >= 0.2
    assert [r[0] for r in rs] == [200, 200, 200, 200, 200, 204, 200, 200]
    assert rs[0][2] == b"ok" and rs[1][2] == b"ok" and rs[2][2] == b"abc"
    assert len(rs[3][2]) == 6 and len(rs[4][2]) == 100000
    assert b"data:" in rs[6][2]
    assert rd.closed()
    rd.sock.close()


def test_pipelining_many_in_one_write(serve):
    n = 500
    rs, rd = exchange(serve, b"GET /health HTTP/1.1\r\n\r\n" * n, n)
    rd.sock.close()
    assert all(r[2] == b"ok" for r in rs)


def test_expect_continue(serve):
    sock = raw_sock(serve)
    sock.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    rd = Reader(sock)
    assert rd.response()[0] == 100
    sock.sendall(b"hello")
    assert rd.response()[2] == b"hello"
    sock.close()


@pytest.mark.serial  # close within 0.3..3 s
def test_idle_timeout(serve_factory):
    s = serve_factory("--idle-timeout", "500ms")
    sock = raw_sock(s)
    rd = Reader(sock)
    sock.sendall(b"GET /health HTTP/1.1\r\n\r\n")
    assert rd.response()[2] == b"ok"
    t = time.monotonic()
    assert rd.closed(5)
    assert 0.3 <= time.monotonic() - t < 3
    sock.close()


def test_header_timeout_408(serve_factory):
    s = serve_factory("--header-timeout", "500ms")
    sock = raw_sock(s)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost")
    r = Reader(sock).response()
    assert r[0] == 408
    sock.close()


@pytest.mark.serial  # answers < 500 ms
def test_slowloris_does_not_block_others(serve):
    stop = threading.Event()
    slow = []

    def slowloris():
        sock = raw_sock(serve)
        slow.append(sock)
        req = b"GET /health HTTP/1.1\r\nX-A: " + b"b" * 100
        for ch in req:
            if stop.is_set():
                return
            try:
                sock.send(bytes([ch]))
            except OSError:
                return
            time.sleep(0.05)

    ths = [threading.Thread(target=slowloris) for _ in range(20)]
    [t.start() for t in ths]
    time.sleep(0.3)
    for _ in range(20):
        st, _, dt = timed(serve, "/health")
        assert st == 200 and dt < 0.5
    stop.set()
    [t.join(TIMEOUT) for t in ths]
    for s in slow:
        s.close()


def test_garbage_does_not_crash(serve):
    rnd = __import__("random").Random(7)
    for i in range(200):
        sock = raw_sock(serve)
        n = rnd.randint(1, 3000)
        data = bytes(rnd.getrandbits(8) for _ in range(n))
        if i % 3 == 0:
            data = b"GET /" + data
        if i % 4:
            data += b"\r\n\r\n"
        sock.settimeout(0.5)
        try:
            sock.sendall(data)
            if i % 2:
                sock.recv(100)
        except OSError:
            pass
        sock.close()
    assert serve.alive()
    assert get(serve, "/health")[0] == 200


def test_many_keepalive_clients(serve):
    """1000 connections at once, 5 requests each, all answered."""
    nconn, nreq = 1000, 5
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(nconn):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((serve.host, serve.port))
        socks.append(s)
    state = {}
    for s in socks:
        state[s] = {"sent": 0, "got": 0, "buf": b""}
        sel.register(s, selectors.EVENT_WRITE)
    req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    resp = b"ok"
    done = 0
    deadline = time.monotonic() + 60
    while done < nconn and time.monotonic() < deadline:
        for key, ev in sel.select(1):
            s = key.fileobj
            st = state[s]
            if ev & selectors.EVENT_WRITE:
                s.send(req)
                st["sent"] += 1
                sel.modify(s, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                d = s.recv(4096)
                assert d, "server closed a keep-alive connection"
                st["buf"] += d
                if st["buf"].endswith(b"\r\n\r\n" + resp):
                    st["got"] += 1
                    st["buf"] = b""
                    if st["got"] == nreq:
                        sel.unregister(s)
                        done += 1
                    else:
                        sel.modify(s, selectors.EVENT_WRITE)
    for s in socks:
        s.close()
    assert done == nconn
    assert sum(st["got"] for st in state.values()) == nconn * nreq


@pytest.mark.serial  # waits within stall windows
def test_stall_holds_responses_until_it_ends(serve_factory):
    s = serve_factory("--stall-every", "2s", "--stall-for", "1s")
    # The stall window is [2s, 3s) after the server started, which was a bit
    # before we saw its "listening" line.
    c = conn(s)
    c.request("GET", "/health")
    assert c.getresponse().read() == b"ok"  # outside a stall: at once
    d = s.started + 2.25 - time.monotonic()
    if d > 0:
        time.sleep(d)
    t = time.monotonic()
    c.request("GET", "/health")
    r = c.getresponse()
    assert r.read() == b"ok"
    waited = time.monotonic() - t
    # Answered at the stall's end (~3s after start), not before.
    assert 0.4 <= waited <= 1.2, waited
    c.close()
    # A delayed response falling due inside the next stall waits for its end
    # ([4s, 5s)): requested at ~3.5s with 1s delay -> due 4.5s -> sent at 5s.
    d = s.started + 3.5 - time.monotonic()
    if d > 0:
        time.sleep(d)
    t = time.monotonic()
    st, _, _ = get(s, "/delay/1000")
    waited = time.monotonic() - t
    assert st == 200 and 1.2 <= waited <= 2.0, waited


@pytest.mark.serial  # exit < 2 s after SIGTERM
def test_sigterm_exits_zero_with_open_connections(volley_bin):
    s = start_serve(binary=volley_bin)
    socks = [raw_sock(s) for _ in range(20)]
    socks[0].sendall(b"GET /delay/5000 HTTP/1.1\r\n\r\n")
    socks[1].sendall(b"GET /stream?chunks=100&interval_ms=100 HTTP/1.1\r\n\r\n")
    socks[2].sendall(b"GET /he")
    time.sleep(0.2)
    t = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t < 2
    for x in socks:
        x.close()


def test_duration_flag_exits_by_itself(volley_bin):
    t0 = time.monotonic()
    s = start_serve("--duration", "300ms", binary=volley_bin)
    assert s.proc.wait(5) == 0
    # Not before its time: the 300 ms run from after t0.
    assert time.monotonic() - t0 >= 0.3


def test_listen_refuses_non_loopback(volley_bin):
    p = subprocess.run([volley_bin, "serve", "--listen", "0.0.0.0:0"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2
    assert "loopback" in p.stderr
    assert p.stdout == ""


def test_help_documents_every_flag(volley_bin):
    p = subprocess.run([volley_bin, "serve", "--help"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0
    for flag in ("--listen", "--threads", "--idle-timeout", "--header-timeout",
                 "--stall-every", "--stall-for", "--duration", "--quiet", "--help"):
        assert flag in p.stdout, flag


def test_bad_flags(volley_bin):
    for args in (["--threads", "0"], ["--stall-every", "1s"],
                 ["--stall-every", "1s", "--stall-for", "2s"], ["--bogus"],
                 ["--idle-timeout", "abc"]):
        p = subprocess.run([volley_bin, "serve", *args], capture_output=True, text=True,
                           timeout=10)
        assert p.returncode == 2, args
        assert p.stderr, args


def test_busy_port_is_an_error(serve, volley_bin):
    p = subprocess.run([volley_bin, "serve", "--listen", "127.0.0.1:%d" % serve.port],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "in use" in p.stderr


def _head_then_first_chunk(serve, target):
    """Seconds from the end of the response head to the first body byte."""
    with socket.create_connection((serve.host, serve.port), timeout=10) as c:
        c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += c.recv(4096)
        t_head = time.monotonic()
        rest = data.split(b"\r\n\r\n", 1)[1]
        while not rest:
            rest = c.recv(4096)
        return time.monotonic() - t_head


@pytest.mark.serial  # head-to-body gap < 250 ms
@pytest.mark.parametrize("route", [b"/stream", b"/sse"])
def test_first_ms_delays_the_first_chunk_not_the_head(serve, route):
    gap = _head_then_first_chunk(serve, route + b"?chunks=2&events=2&interval_ms=1&first_ms=300")
    assert gap >= 0.25
    gap = _head_then_first_chunk(serve, route + b"?chunks=2&events=2&interval_ms=1")
    assert gap < 0.25


def test_first_ms_makes_buffered_wait_for_its_first_chunk(serve):
    t0 = time.monotonic()
    st, h, b = get(serve, "/buffered?chunks=2&interval_ms=10&first_ms=300")
    assert st == 200 and len(b) == 64
    assert time.monotonic() - t0 >= 0.3
