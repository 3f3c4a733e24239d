"""HTTP/2 in `volley run` (load/exchange_h2.c): h2c with prior knowledge and
h2 by ALPN, against `volley serve --h2`, nginx (`listen ... http2`, with and
without ssl) and h2o, each count compared with the server's own access log
for -n, -d, the open model and --max-streams 1, 10, 100. Also: the protocol
recorded per endpoint, wire bytes beside body bytes, a server's
SETTINGS_MAX_CONCURRENT_STREAMS below --max-streams clamping (and reported),
a timeout cancelling its stream without losing the connection, --http 2
refused by an HTTP/1.1-only server, and Lua's r.proto."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import start_serve, volley_path
from nginxutil import Nginx, free_port

H2O = shutil.which("h2o")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("h2runcert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(d / "k.pem"),
                    "-out", str(d / "c.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return str(d / "c.pem"), str(d / "k.pem")


def run(volley_bin, *args, code=0, timeout=90):
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "--json", "-t", "1", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == code, p.stderr
    return json.loads(p.stdout)


def kinds(t):
    return {k: v for k, v in t["errors_by_kind"].items() if v}


def wait_settled(count, timeout=5.0):
    """The count once it stops changing (servers log after responding)."""
    last, since, deadline = -1, time.time(), time.time() + timeout
    while time.time() < deadline:
        n = count()
        if n != last:
            last, since = n, time.time()
        elif time.time() - since > 0.3:
            break
        time.sleep(0.05)
    return last


# ---- servers ----

@pytest.fixture
def h2serve():
    started = []

    def make(*args):
        s = start_serve("--h2", *args)
        started.append(s)
        return s
    yield make
    for s in started:
        assert s.stop() == 0, s.stderr()


def tls_serve(cert, *args):
    proc = subprocess.Popen([volley_path(), "serve", "--listen", "127.0.0.1:0", "--threads", "1",
                             "--tls-cert", cert[0], "--tls-key", cert[1], *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on https://"), line
    return proc, "https://" + line.split("https://")[1].strip()


@pytest.fixture
def https(cert):
    procs = []

    def make(*args):
        proc, url = tls_serve(cert, *args)
        procs.append(proc)
        return url
    yield make
    for p in procs:
        p.terminate()
        p.wait(10)


class NginxH2:
    """nginx 1.22 (Debian): an h2c listener (`listen P http2`) and an h2
    listener (`listen P ssl http2`) beside the HTTP/1.1 one."""

    def __init__(self, cert, max_streams=128, keepalive_requests=100000):
        self.h2c_port, self.tls_port = free_port(), free_port()
        self.n = Nginx(keepalive_requests=keepalive_requests, http_extra="http2_max_concurrent_streams %d;" % max_streams,
                       server_extra="listen 127.0.0.1:%d http2; listen 127.0.0.1:%d ssl http2; "
                       "ssl_certificate %s; ssl_certificate_key %s; "
                       "location /big { add_header X-Big %s; return 200 \"ok\"; }"
                       % (self.h2c_port, self.tls_port, cert[0], cert[1], "b" * 400))
        self.h2c = "http://127.0.0.1:%d/health" % self.h2c_port
        self.tls = "https://127.0.0.1:%d/health" % self.tls_port

    def logged(self):
        return wait_settled(self.n.logged)

    def reset(self):
        self.n.reset_log()

    def stop(self):
        self.n.stop()


class H2o:
    """h2o (Debian) with its own YAML config in a temp dir: an h2c listener
    and an h2 listener, a static file, an access log with the protocol."""

    def __init__(self, cert):
        self.dir = tempfile.mkdtemp(prefix="volley-h2o-")
        www = os.path.join(self.dir, "www")
        os.mkdir(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("ok")
        self.log = os.path.join(self.dir, "access.log")
        self.h2c_port, self.tls_port = free_port(), free_port()
        conf = f"""user: root
num-threads: 1
pid-file: {self.dir}/pid
error-log: {self.dir}/error.log
access-log:
  path: {self.log}
  format: "%s %H"
http2-max-concurrent-requests-per-connection: 100
hosts:
  "plain":
    listen: {{host: 127.0.0.1, port: {self.h2c_port}}}
    paths: {{"/": {{file.dir: {www}}}}}
  "tls":
    listen:
      host: 127.0.0.1
      port: {self.tls_port}
      ssl: {{certificate-file: {cert[0]}, key-file: {cert[1]}, ocsp-update-interval: 0}}
    paths: {{"/": {{file.dir: {www}}}}}
"""
        path = os.path.join(self.dir, "h2o.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([H2O, "-c", path], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        for port in (self.h2c_port, self.tls_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.time() > deadline:
                        self.stop()
                        raise RuntimeError("h2o did not start")
                    time.sleep(0.05)
        self.h2c = "http://127.0.0.1:%d/" % self.h2c_port
        self.tls = "https://127.0.0.1:%d/" % self.tls_port

    def lines(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def logged(self):
        n = wait_settled(lambda: len(self.lines()))
        assert all(line == "200 HTTP/2" for line in self.lines()), self.lines()[:3]
        return n

    def reset(self):
        open(self.log, "w").close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def nginx_h2(cert):
    n = NginxH2(cert)
    yield n
    n.stop()


@pytest.fixture(scope="module")
def h2o(cert):
    if not H2O:
        pytest.fail("h2o is not installed (scripts/setup-deps.sh installs it)")
    h = H2o(cert)
    yield h
    h.stop()


# ---- volley serve --h2 ----

def test_h2c_exact_counts_and_protocol(volley_bin, h2serve):
    s = h2serve()
    r = run(volley_bin, "--h2c", "-n", "1000", "-c", "4", "--max-streams", "10",
            s.url + "/health")
    t = r["totals"]
    assert t["requests"] == t["responses"] == t["h2_responses"] == 1000, t
    assert t["responses_by_status"] == {"200": 1000} and not kinds(t)
    assert t["protocol"] == "HTTP/2" and t["connections_opened"] == t["h2_connections"] == 4
    assert t["h2_streams_per_connection"] == 250
    assert r["endpoints"][0]["totals"]["protocol"] == "HTTP/2"
    # HPACK: the repeated response heads cost fewer wire bytes than they carry.
    assert 0 < t["wire_bytes_in"] < t["bytes_in"]


def test_plain_http_stays_http11_without_h2c(volley_bin, h2serve):
    s = h2serve()
    t = run(volley_bin, "-n", "50", "-c", "2", s.url + "/health")["totals"]
    assert t["protocol"] == "HTTP/1.1" and t["h2_responses"] == 0 and t["responses"] == 50
    assert t["wire_bytes_in"] == t["bytes_in"]


def test_alpn_auto_picks_h2_or_http11_and_http_flag_forces(volley_bin, https):
    h2, h1 = https("--h2"), https()
    ins = "--insecure"
    t = run(volley_bin, ins, "-n", "200", "-c", "2", "--max-streams", "5", h2 + "/health")["totals"]
    assert t["protocol"] == "HTTP/2" and t["h2_responses"] == 200, t
    t = run(volley_bin, ins, "-n", "200", "-c", "2", h1 + "/health")["totals"]
    assert t["protocol"] == "HTTP/1.1" and t["responses"] == 200, t
    t = run(volley_bin, ins, "--http", "1.1", "-n", "200", "-c", "2", h2 + "/health")["totals"]
    assert t["protocol"] == "HTTP/1.1" and t["responses"] == 200, t
    t = run(volley_bin, ins, "--http", "2", "-n", "200", "-c", "2", h2 + "/health")["totals"]
    assert t["protocol"] == "HTTP/2" and t["h2_responses"] == 200, t


def test_http2_required_but_server_speaks_http11_is_tls_error(volley_bin, https):
    h1 = https()
    r = run(volley_bin, "--insecure", "--http", "2", "-n", "4", "-c", "1", h1 + "/health")
    t = r["totals"]
    assert t["responses"] == 0 and kinds(t) == {"tls_error": 4}, t
    assert "did not choose h2" in r["warning"]


def test_server_stream_limit_clamps_and_is_reported(volley_bin, h2serve):
    s = h2serve("--h2-max-streams", "4")
    t = run(volley_bin, "--h2c", "-n", "400", "-c", "2", "--max-streams", "16",
            s.url + "/delay/5")["totals"]
    assert t["responses"] == 400 and not kinds(t), t
    assert t["h2_max_streams_clamp"] == 4
    # Within the limit nothing is clamped.
    t = run(volley_bin, "--h2c", "-n", "40", "-c", "1", "--max-streams", "4",
            s.url + "/health")["totals"]
    assert t["h2_max_streams_clamp"] == 0 and t["responses"] == 40


def test_timeout_cancels_its_stream_and_keeps_the_connection(volley_bin, h2serve):
    s = h2serve()
    t = run(volley_bin, "--h2c", "-n", "8", "-c", "1", "--max-streams", "8", "--timeout",
            "300ms", s.url + "/delay/3000")["totals"]
    assert kinds(t) == {"timeout": 8} and t["connections_opened"] == 1, t


@pytest.mark.serial  # no dropped iteration at 400/s
def test_many_streams_in_the_open_model(volley_bin, h2serve):
    s = h2serve()
    t = run(volley_bin, "--h2c", "--rate", "400", "-d", "1s", "--max-connections", "2",
            "--max-streams", "50", s.url + "/delay/20")["totals"]
    assert t["requests"] == 400 and t["responses"] == 400 and not kinds(t), t
    assert t["connections_opened"] <= 2 and t["dropped_iterations"] == 0


def test_lua_http_speaks_h2_and_says_so(volley_bin, h2serve, tmp_path):
    s = h2serve()
    f = tmp_path / "p.lua"
    f.write_text("""
options = { scenarios = { t = { executor = "per-vu-iterations", vus = 2, iterations = 5 } } }
function default()
  local r = http.get(ENV.URL .. "/health")
  if r.status ~= 200 or r.proto ~= ENV.PROTO then error("got " .. tostring(r.proto)) end
end
""")
    for extra, proto in ((["--h2c"], "HTTP/2"), ([], "HTTP/1.1")):
        r = run(volley_bin, str(f), *extra, "-e", "URL=" + s.url, "-e", "PROTO=" + proto)
        assert r["script"]["iterations"] == 10 and r["script"]["iteration_errors"] == 0, r["script"]
        assert r["totals"]["protocol"] == proto


def test_flag_conflicts_exit_2(volley_bin):
    for args, flag in ((["--h2c", "--http", "1.1"], "--h2c"), (["--http", "3"], "--http"),
                       (["--h2c", "--insecure", "https://127.0.0.1:1/"], "--h2c")):
        if not any(a.startswith("https") for a in args):
            args = args + ["http://127.0.0.1:1/"]
        p = subprocess.run([volley_bin, "run", "-n", "1", *args], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2 and flag in p.stderr, (args, p.stderr)


# ---- real servers: exact counts against their access logs ----

SHAPES = [
    ("n-m1", ["-n", "300", "-c", "3", "--max-streams", "1"]),
    ("n-m10", ["-n", "3000", "-c", "3", "--max-streams", "10"]),
    ("n-m100", ["-n", "5000", "-c", "2", "--max-streams", "100"]),
    ("duration", ["-d", "1s", "-c", "2", "--max-streams", "10"]),
    ("open", ["--rate", "500", "-d", "1s", "--max-connections", "4", "--max-streams", "10"]),
]


def counted(volley_bin, srv, url, args, extra):
    srv.reset()
    t = run(volley_bin, *extra, *args, url)["totals"]
    assert t["protocol"] == "HTTP/2" and not kinds(t), t
    assert t["responses_by_status"] == {"200": t["requests"]}
    assert srv.logged() == t["requests"] == t["h2_responses"]
    if args[0] == "-n":
        assert t["requests"] == int(args[1])
    if args[0] == "--rate":
        # Every start sent or dropped; a busy machine that slows the TLS
        # handshakes fills the 40 streams and drops some (load average 12:
        # 191 of 500), which the log still matches exactly.
        assert t["requests"] + t["dropped_iterations"] == 500 and t["requests"] >= 250
    return t


@pytest.mark.parametrize("shape", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_nginx_counts_match_its_log(volley_bin, nginx_h2, shape, tls):
    url = nginx_h2.tls if tls else nginx_h2.h2c
    counted(volley_bin, nginx_h2, url, shape, ["--insecure"] if tls else ["--h2c"])


@pytest.mark.parametrize("shape", [s[1] for s in SHAPES], ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_h2o_counts_match_its_log(volley_bin, h2o, shape, tls):
    url = h2o.tls if tls else h2o.h2c
    counted(volley_bin, h2o, url, shape, ["--insecure"] if tls else ["--h2c"])


def test_nginx_stream_limit_clamps(volley_bin, cert):
    n = NginxH2(cert, max_streams=8)
    try:
        t = counted(volley_bin, n, n.h2c, ["-n", "2000", "-c", "2", "--max-streams", "32"],
                    ["--h2c"])
        assert t["h2_max_streams_clamp"] == 8, t
    finally:
        n.stop()


def test_nginx_goaway_after_keepalive_requests_loses_nothing(volley_bin, cert):
    """nginx ends a connection with GOAWAY after keepalive_requests: the
    streams it did not take are sent again on a new connection (retries),
    the others finish; the count still matches the log exactly."""
    n = NginxH2(cert, keepalive_requests=50)
    try:
        for url, extra in ((n.h2c, ["--h2c"]), (n.tls, ["--insecure"])):
            t = counted(volley_bin, n, url, ["-n", "2000", "-c", "2", "--max-streams", "20"],
                        extra)
            assert t["connections_opened"] >= 2000 // 50, t
    finally:
        n.stop()


def test_wss_stays_http11_beside_h2_requests(volley_bin, https, tmp_path):
    """The server offers h2: http.* gets HTTP/2, and wss:// still speaks
    HTTP/1.1 (its ALPN offers only http/1.1; RFC 8441 is out of scope).
    volley serve has no WebSocket routes over TLS (server.c), so its
    HTTP/1.1 answer to the upgrade is a 404: proof the handshake was read
    as HTTP/1.1. Had ALPN picked h2, the bytes would be HTTP/2 frames."""
    url = https("--h2")
    f = tmp_path / "w.lua"
    f.write_text("""
options = { scenarios = { t = { executor = "per-vu-iterations", vus = 1, iterations = 3 } } }
function default()
  local r = http.get(ENV.URL .. "/health")
  if r.proto ~= "HTTP/2" then error("http.get spoke " .. tostring(r.proto)) end
  local s, err = ws.open(ENV.URL:gsub("^https", "wss") .. "/ws")
  if s or not tostring(err):find("answered 404", 1, true) then
    error("ws: " .. tostring(err))
  end
end
""")
    r = run(volley_bin, str(f), "--insecure", "-e", "URL=" + url)
    assert r["script"]["iterations"] == 3 and r["script"]["iteration_errors"] == 0, r["script"]
    # The handshakes connect through the exchange (script/lua_ws), so their
    # HTTP/1.1 connections are counted beside the one HTTP/2 connection of
    # http.get: "mixed". The refused upgrades are not HTTP requests.
    t = r["totals"]
    assert t["protocol"] == "mixed" and t["h2_responses"] == 3, t
    assert t["h2_connections"] == 1 and t["connections_opened"] == 4, t
    assert t["requests"] == 3, t


@pytest.mark.serial  # latency max < 400 ms
def test_responses_are_matched_by_stream_not_order(volley_bin, h2serve):
    """Two streams on one connection, a slow and a fast endpoint mixed: the
    fast responses overtake the slow ones and each is matched to its own
    request, so the fast endpoint's latency stays far below the slow
    one's delay (matched in FIFO order, it would inherit it)."""
    s = h2serve()
    r = run(volley_bin, "--h2c", "--mode", "mixed", "--endpoint",
            "slow=" + s.url + "/delay/600", "--endpoint", "fast=" + s.url + "/health",
            "-c", "1", "--max-streams", "2", "-d", "3s")
    eps = {e["name"]: e for e in r["endpoints"]}
    assert r["totals"]["connections_opened"] == 1 and not kinds(r["totals"])
    assert eps["fast"]["totals"]["responses"] > 0 and eps["slow"]["totals"]["responses"] > 0
    assert eps["fast"]["latency"]["max"] < 400, eps["fast"]["latency"]
    assert eps["slow"]["latency"]["percentiles"]["p50"] >= 600


class OneThenClose:
    """An h2c server (python3-h2) that answers the first stream of each
    connection, then closes the connection, with no GOAWAY, as soon as the
    next request arrives: a reused connection closed before any byte of its
    response, which HTTP/2 calls stale as HTTP/1.1 does."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = "http://127.0.0.1:%d/" % self.sock.getsockname()[1]
        self.accepted, self.stop_ev = 0, threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            try:
                self.one(c)
            except OSError:
                pass
            c.close()

    def one(self, c):
        import h2.config
        import h2.connection
        import h2.events
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        c.settimeout(5)
        answered = 0
        while True:
            data = c.recv(65536)
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    if answered:
                        return  # the next request: close, no GOAWAY
                    answered += 1
                    conn.send_headers(ev.stream_id, [(":status", "200")])
                    conn.send_data(ev.stream_id, b"ok", end_stream=True)
            c.sendall(conn.data_to_send())

    def stop(self):
        self.stop_ev.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("retry", [True, False], ids=["retried", "no-retry"])
def test_stale_h2_connection_is_retried_like_http11(volley_bin, retry):
    srv = OneThenClose()
    try:
        args = [] if retry else ["--no-retry"]
        t = run(volley_bin, "--h2c", "-c", "1", "-n", "4", "--timeout", "5s", *args,
                srv.url)["totals"]
    finally:
        srv.stop()
    if retry:
        assert t["responses_by_status"] == {"200": 4} and not kinds(t), t
        assert t["retries"] == 3 and t["connections_opened"] == 4
    else:
        assert t["responses"] == 2 and kinds(t) == {"stale_connection": 2}, t
        assert t["retries"] == 0


def test_http2_on_plain_http_is_h2c(volley_bin, h2serve):
    s = h2serve()
    t = run(volley_bin, "--http", "2", "-n", "20", "-c", "2", s.url + "/health")["totals"]
    assert t["protocol"] == "HTTP/2" and t["h2_responses"] == 20, t


@pytest.mark.serial  # chunk-gap p50 bounds
def test_streamed_response_chunk_gaps_over_h2(volley_bin, h2serve):
    """volley serve --h2 sends /stream as a DATA frame per chunk, 50 ms
    apart: each later piece is a chunk and its gap is recorded, as for a
    chunked HTTP/1.1 body; TTFB is the head, long before the last chunk."""
    s = h2serve()
    r = run(volley_bin, "--h2c", "-c", "2", "-n", "10",
            s.url + "/stream?chunks=5&interval_ms=50")
    assert r["totals"]["h2_responses"] == 10 and r["totals"]["chunks"] >= 40, r["totals"]
    gap = r["chunk_gap"]
    assert gap["count"] >= 30 and 40 <= gap["percentiles"]["p50"] < 250, gap
    assert r["ttfb"]["percentiles"]["p50"] < r["latency"]["percentiles"]["p50"] / 2


def test_url_run_and_script_agree_over_h2(volley_bin, h2serve, tmp_path):
    """One exchange for both: the same h2c load as a URL run and as the
    equivalent minimal script gives the same counts, kinds, protocol and
    set of distributions (timeouts included: /delay past --timeout)."""
    s = h2serve()
    f = tmp_path / "m.lua"
    f.write_text('local u = ENV.URL\nfunction default()\n  http.get(u)\nend\n')
    url = s.url + "/delay/400"
    common = ["--h2c", "-c", "2", "-n", "6", "--timeout", "200ms"]
    a = run(volley_bin, *common, url)
    b = run(volley_bin, str(f), *common, "-e", "URL=" + url)
    for r in (a, b):
        t = r["totals"]
        assert t["requests"] == 6 and kinds(t) == {"timeout": 6}, t
        assert t["protocol"] == "HTTP/2" and t["h2_connections"] == 2, t
    a = run(volley_bin, "--h2c", "-c", "2", "-n", "40", s.url + "/health")
    f.write_text('local u = ENV.URL\nfunction default()\n  http.get(u)\nend\n')
    b = run(volley_bin, str(f), "--h2c", "-c", "2", "-n", "40", "-e", "URL=" + s.url + "/health")
    for key in ("requests", "responses", "h2_responses", "protocol", "connections_opened"):
        assert a["totals"][key] == b["totals"][key], key
    dists = lambda r: {k for k in ("latency", "service_time", "ttfb", "connect")  # noqa: E731
                       if r[k]["count"]}
    assert dists(a) == dists(b) == {"latency", "service_time", "ttfb", "connect"}


def test_report_and_summary_show_http2(volley_bin, h2serve, tmp_path):
    s = h2serve("--h2-max-streams", "4")
    out = tmp_path / "o"
    p = subprocess.run([volley_bin, "run", "-t", "1", "--h2c", "-n", "200", "-c", "2",
                        "--max-streams", "8", "--out", str(out), s.url + "/delay/2"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "http/2       2 of 2 connections, 100.0 streams each" in p.stdout, p.stdout
    assert "the server allowed only 4 streams per connection" in p.stdout
    html = (out / "report.html").read_text()
    assert "HTTP/2 streams per connection" in html and "server stream limit" in html


def test_max_header_size_applies_to_http2_heads(volley_bin, nginx_h2):
    """A response head over --max-header-size ends its stream as a
    parse_error, as over HTTP/1.1; the connection serves the next one."""
    big = nginx_h2.h2c.replace("/health", "/big")
    t = run(volley_bin, "--h2c", "-n", "5", "-c", "1", "--max-header-size", "256", big)["totals"]
    assert kinds(t) == {"parse_error": 5} and t["connections_opened"] == 1, t
    t = run(volley_bin, "--h2c", "-n", "5", "-c", "1", "--max-header-size", "1k", big)["totals"]
    assert t["responses_by_status"] == {"200": 5}, t
    t = run(volley_bin, "-n", "5", "-c", "1", "--max-header-size", "256",
            "http://127.0.0.1:%d/big" % nginx_h2.n.port)["totals"]
    assert kinds(t) == {"parse_error": 5}, t  # the same over HTTP/1.1


def test_script_headers_the_same_over_h2c_http11_and_compressed(volley_bin, h2serve, tmp_path):
    """A script's res.headers are kept as the head's bytes and split when
    read (HTTP/2 fields written as such lines): the same table over
    HTTP/1.1, h2c and --compressed (whose decoder sits between the parser
    and the script)."""
    s = h2serve()
    f = tmp_path / "h.lua"
    f.write_text('''options = { vus = 1, iterations = 1 }
function default()
  local r = http.get(ENV.URL .. "/bytes/10")
  local keys = {}
  for k, v in pairs(r.headers) do
    if k ~= "Date" then keys[#keys + 1] = k .. "=" .. tostring(v) end
  end
  table.sort(keys)
  print("hdrs", r.headers["content-type"], table.concat(keys, "|"))
end
''')
    got = {}
    for mode in ([], ["--h2c"], ["--compressed"]):
        p = subprocess.run([volley_bin, "run", "-q", "--no-save", "-t", "1", str(f), "-e",
                            "URL=" + s.url, *mode], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        got[" ".join(mode)] = [l.split("\t", 1)[1] for l in p.stderr.splitlines() if "] hdrs\t" in l]
    want = ["application/octet-stream\tContent-Length=10|Content-Type=application/octet-stream"]
    assert got == {"": want, "--h2c": want, "--compressed": want}, got
