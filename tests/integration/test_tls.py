"""HTTPS: `volley serve --tls-cert/--tls-key` and `volley run` against it with
--cacert / --insecure / --cert / --key. A throw-away CA and certificates
(for 127.0.0.1 and localhost) are made with the openssl CLI once per
session. The server's own count of handshakes and resumed sessions (printed
at exit) is the oracle for session resumption."""
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import volley_path

# scripts/setup-deps.sh installs the openssl CLI: missing, the tests fail.
assert shutil.which("openssl"), "the openssl CLI is missing: run scripts/setup-deps.sh test"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_cert(d, name, cn, san, ca="ca", usage="serverAuth"):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n" % usage)
        if san:
            f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext, cwd=d)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=volley test CA", cwd=d)
    make_cert(d, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    make_cert(d, "client", "volley client", None, usage="clientAuth")
    return {k: os.path.join(d, k) for k in
            ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"]}


class TlsServe:
    def __init__(self, proc, errfile, host, port):
        self.proc, self.errfile, self.host, self.port = proc, errfile, host, port
        self.url = "https://%s:%d" % (host, port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr(self):
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")

    def handshakes(self):
        """(handshakes, resumed) from the exit line; stops the server."""
        assert self.stop() == 0, self.stderr()
        m = re.search(r"TLS handshakes: (\d+), resumed: (\d+)", self.stderr())
        assert m, self.stderr()
        return int(m.group(1)), int(m.group(2))


def start_tls_serve(certs, *args, listen="127.0.0.1:0"):
    errfile = tempfile.TemporaryFile()
    cmd = [volley_path(), "serve", "--listen", listen, "--threads", "2",
           "--tls-cert", certs["server.pem"], "--tls-key", certs["server.key"], *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile)
    line = b""
    deadline = time.monotonic() + 10
    while not line.endswith(b"\n") and time.monotonic() < deadline and proc.poll() is None:
        r, _, _ = select.select([proc.stdout], [], [], 0.5)
        if r:
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
    text = line.decode().strip()
    if not text.startswith("listening on https://"):
        proc.kill()
        proc.wait()
        errfile.seek(0)
        raise AssertionError("volley serve --tls-cert did not start (%r): %s"
                             % (text, errfile.read().decode(errors="replace")))
    host, _, port = text[len("listening on https://"):].rpartition(":")
    return TlsServe(proc, errfile, host, int(port))


@pytest.fixture
def tls_serve(certs):
    started = []

    def make(*args, **kw):
        s = start_tls_serve(certs, *args, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        assert s.stop() == 0, s.stderr()


def run(volley_bin, *args, timeout=60):
    return subprocess.run([volley_bin, "run", *args], capture_output=True, text=True,
                          timeout=timeout)


def run_json(volley_bin, *args, timeout=60):
    p = run(volley_bin, "--no-save", "-q", "--json", *args, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def check_counts(t):
    assert t["requests"] == t["responses"] + t["transport_errors"]
    assert t["transport_errors"] == sum(t["errors_by_kind"].values())


def client_ctx(certs, **kw):
    ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


# ---- the server side, with Python's ssl as the client ----

def test_serve_https_routes_keepalive_and_alpn(certs, tls_serve):
    s = tls_serve()
    ctx = client_ctx(certs)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    c = http.client.HTTPSConnection(s.host, s.port, context=ctx, timeout=10)
    try:
        for path, status, size in [("/health", 200, 2), ("/bytes/1000000", 200, 1000000),
                                   ("/status/404", 404, None), ("/health", 200, 2)]:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            assert r.status == status
            if size is not None:
                assert len(body) == size
        c.request("POST", "/echo", body=b"z" * 100000)
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"z" * 100000
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        c.request("GET", "/stream?chunks=3&interval_ms=10")
        r = c.getresponse()
        assert r.status == 200 and len(r.read()) == 3 * 32
    finally:
        c.close()


def read_responses(t, n):
    """Reads n Content-Length responses from a TLS socket; returns bodies."""
    buf = b""
    bodies = []
    while len(bodies) < n:
        while b"\r\n\r\n" not in buf:
            d = t.recv(65536)
            assert d, "closed after %d responses" % len(bodies)
            buf += d
        head, _, buf = buf.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(buf) < length:
            d = t.recv(65536)
            assert d
            buf += d
            time.sleep(0.001)  # a slow reader: the server's writes back up
        bodies.append(buf[:length])
        buf = buf[length:]
    return bodies


def test_serve_https_pipelining_and_backpressure(certs, tls_serve):
    # 30 pipelined requests in one TLS write, big responses among them, read
    # slowly: partial SSL_writes resumed from a moved buffer must keep the
    # byte stream intact and in order.
    s = tls_serve()
    ctx = client_ctx(certs)
    paths = ["/bytes/%d" % (1 << 20) if i % 5 == 0 else "/health" for i in range(30)]
    req = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths)
    with socket.create_connection((s.host, s.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            t.sendall(req)
            bodies = read_responses(t, len(paths))
    for p, b in zip(paths, bodies):
        assert len(b) == (1 << 20 if p.startswith("/bytes") else 2)
    assert bodies[1] == b"ok"


def test_serve_https_resumes_sessions_of_python_clients(certs, tls_serve):
    s = tls_serve()
    ctx = client_ctx(certs)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # sessions right after the handshake
    session = None
    reused = 0
    for _ in range(5):
        with socket.create_connection((s.host, s.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as t:
                t.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    d = t.recv(4096)
                    if not d:
                        break
                    data += d
                assert data.startswith(b"HTTP/1.1 200")
                reused += t.session_reused
                session = t.session
    assert reused == 4
    assert s.handshakes() == (5, 4)


def test_serve_https_survives_garbage_and_plain_http(certs, tls_serve):
    s = tls_serve()
    for junk in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b""]:
        with socket.create_connection((s.host, s.port), timeout=10) as raw:
            # The server may reset the connection at any point of this
            # exchange (while we still send, or before we read): what
            # matters is that it goes on serving others.
            try:
                raw.sendall(junk)
                raw.shutdown(socket.SHUT_WR)
                raw.settimeout(5)
                while raw.recv(4096):
                    pass
            except OSError:
                # ConnectionError, a timeout, or ENOTCONN from shutdown()
                # when the reset arrived before it: all are the server
                # dropping a bad client, which is what it should do.
                pass
    c = http.client.HTTPSConnection(s.host, s.port, context=client_ctx(certs), timeout=10)
    c.request("GET", "/health")
    assert c.getresponse().status == 200
    c.close()


def test_serve_refuses_missing_certificate_file(certs, tmp_path):
    p = subprocess.run([volley_path(), "serve", "--listen", "127.0.0.1:0", "--tls-cert",
                        str(tmp_path / "nope.pem")], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "--tls-cert" in p.stderr and "nope.pem" in p.stderr


def test_serve_requires_client_certificate_when_asked(certs, tls_serve):
    s = tls_serve("--tls-client-ca", certs["ca.pem"])
    ctx = client_ctx(certs)
    ctx.load_cert_chain(certs["client.pem"], certs["client.key"])
    c = http.client.HTTPSConnection(s.host, s.port, context=ctx, timeout=10)
    c.request("GET", "/health")
    assert c.getresponse().status == 200
    c.close()
    c = http.client.HTTPSConnection(s.host, s.port, context=client_ctx(certs), timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        c.request("GET", "/health")
        c.getresponse()
    c.close()


# ---- volley run over HTTPS (flags --cacert, --insecure, --cert, --key) ----

def test_https_run_with_cacert_counts_exactly(volley_bin, certs, tls_serve):
    s = tls_serve()
    res = run_json(volley_bin, "--cacert", certs["ca.pem"], "-n", "3000", "-c", "8",
                   s.url + "/health")
    t = res["totals"]
    check_counts(t)
    assert t["responses_by_status"] == {"200": 3000}
    assert t["errors"] == 0
    assert t["connections_opened"] == 8
    hs, resumed = s.handshakes()
    assert hs == 8


def test_https_run_by_host_name(volley_bin, certs, tls_serve):
    # The name "localhost" is checked against the certificate's DNS name
    # (and sent as SNI); skipped where localhost is not 127.0.0.1 first.
    first = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0]
    if first[0] != socket.AF_INET:
        pytest.skip("localhost resolves to IPv6 first here")
    s = tls_serve()
    res = run_json(volley_bin, "--cacert", certs["ca.pem"], "-n", "200", "-c", "2",
                   "https://localhost:%d/health" % s.port)
    assert res["totals"]["responses_by_status"] == {"200": 200}


def test_https_without_cacert_is_a_tls_error_with_the_reason(volley_bin, tls_serve):
    s = tls_serve()
    p = run(volley_bin, "--no-save", "--json", "-n", "50", "-c", "2", s.url + "/health")
    assert p.returncode == 0, p.stderr
    t = json.loads(p.stdout)["totals"]
    check_counts(t)
    assert t["responses"] == 0
    assert t["errors_by_kind"]["tls_error"] == t["requests"] == 50
    assert "certificate verify failed" in p.stderr


def test_https_wrong_address_is_a_tls_error(volley_bin, certs, tls_serve):
    # The certificate is for 127.0.0.1 and localhost, not 127.0.0.2.
    s = tls_serve(listen="127.0.0.2:0")
    p = run(volley_bin, "--no-save", "--json", "-n", "10", "-c", "1",
            "--cacert", certs["ca.pem"], s.url + "/health")
    assert p.returncode == 0, p.stderr
    t = json.loads(p.stdout)["totals"]
    assert t["errors_by_kind"]["tls_error"] == 10
    assert "IP address mismatch" in p.stderr


def test_https_insecure_skips_verification(volley_bin, tls_serve):
    s = tls_serve()
    res = run_json(volley_bin, "--insecure", "-n", "500", "-c", "4", s.url + "/health")
    assert res["totals"]["responses_by_status"] == {"200": 500}


def test_https_to_a_plain_http_server_is_a_tls_error(volley_bin, serve):
    url = serve.url.replace("http://", "https://") + "/health"
    p = run(volley_bin, "--no-save", "--json", "--insecure", "-n", "20", "-c", "2", url)
    assert p.returncode == 0, p.stderr
    t = json.loads(p.stdout)["totals"]
    assert t["errors_by_kind"]["tls_error"] == 20


def test_https_reconnects_resume_sessions(volley_bin, certs, tls_serve):
    s = tls_serve()
    res = run_json(volley_bin, "--cacert", certs["ca.pem"], "--no-keepalive", "-n", "400",
                   "-c", "4", s.url + "/health")
    t = res["totals"]
    assert t["responses_by_status"] == {"200": 400}
    assert t["connections_opened"] == 400
    hs, resumed = s.handshakes()
    assert hs == 400
    # Only each connection's first handshake is a full one.
    assert resumed >= 400 - 4 * 2, (hs, resumed)


def test_https_client_certificate(volley_bin, certs, tls_serve):
    s = tls_serve("--tls-client-ca", certs["ca.pem"])
    res = run_json(volley_bin, "--cacert", certs["ca.pem"], "--cert", certs["client.pem"],
                   "--key", certs["client.key"], "-n", "100", "-c", "2", s.url + "/health")
    assert res["totals"]["responses_by_status"] == {"200": 100}
    # Without one, TLS 1.3 lets the client finish its handshake before the
    # server refuses it: the refusal arrives with the response. Every
    # request still fails, counted once.
    res = run_json(volley_bin, "--cacert", certs["ca.pem"], "-n", "20", "-c", "2",
                   s.url + "/health")
    t = res["totals"]
    check_counts(t)
    assert t["responses"] == 0 and t["errors"] == 20


def test_run_names_a_missing_cacert_file(volley_bin, tmp_path):
    p = run(volley_bin, "--no-save", "-n", "1", "--cacert", str(tmp_path / "missing.pem"),
            "https://127.0.0.1:1/")
    assert p.returncode == 2
    assert "missing.pem" in p.stderr


def test_more_connections_than_handshake_slots_all_connect(volley_bin, certs, tls_serve):
    # 400 connections at once on one thread, 256 handshake slots (net/conn's
    # gate): the others wait their turn, and every one connects, handshakes
    # once and gets its responses.
    s = tls_serve()
    d = run_json(volley_bin, "--cacert", certs["ca.pem"], "-c", "400", "-t", "1", "-n", "800",
                 "--connect-timeout", "60s", s.url + "/health", timeout=180)
    t = d["totals"]
    check_counts(t)
    assert t["responses"] == 800 and t["transport_errors"] == 0, t
    assert t["connections_opened"] == 400, t
    assert d["tls_handshake"]["count"] == 400, d["tls_handshake"]
    assert s.handshakes() == (400, 0)


# ---- scripts: wss:// through the exchange ----

def test_wss_handshake_records_connect_and_tls_times(volley_bin, certs, serve, tmp_path):
    """A ws.open over TLS connects through load/exchange: its TCP connect and
    TLS handshake land in results.json's connect and tls_handshake
    distributions, as an https request's do, while the 101 itself is not an
    HTTP request in the totals (the ws block counts the session). nginx
    terminates TLS in front of volley serve's /ws echo."""
    from nginxutil import Nginx, free_port as nginx_port
    port = nginx_port()
    tls_server = (
        "server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;"
        " location /ws { proxy_pass http://127.0.0.1:%d; proxy_http_version 1.1;"
        " proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; } }"
        % (port, certs["server.pem"], certs["server.key"], serve.port))
    ng = Nginx(http_extra=tls_server)
    try:
        script = tmp_path / "wss.lua"
        script.write_text("""
options = { vus = 2, iterations = 6 }
function default()
  local s, err = ws.open("wss://127.0.0.1:%d/ws")
  if not s then error(err) end
  s:send("hello")
  local m = s:recv(5)
  check(m, { ["echoed"] = function(x) return x == "hello" end })
  s:close()
end
""" % port)
        res = run_json(volley_bin, "--cacert", certs["ca.pem"], str(script))
    finally:
        ng.stop()
    ws = res["script"]["scenarios"]["default"]["ws"]
    assert ws["sessions"] == 6 and ws["errors"] == 0, (ws, res["script"]["errors"])
    assert res["script"]["checks"][0]["passes"] == 6
    assert res["connect"]["count"] == 6 and res["connect"]["max"] > 0
    assert res["tls_handshake"]["count"] == 6 and res["tls_handshake"]["max"] > 0
    assert res["totals"]["connections_opened"] == 6
    assert res["totals"]["requests"] == 0


def test_wss_refused_certificate_is_an_open_error(volley_bin, serve, certs, tmp_path):
    """Without --cacert the handshake fails verification in the exchange's
    TLS code: ws.open returns the reason and nothing counts as a session."""
    from nginxutil import Nginx, free_port as nginx_port
    port = nginx_port()
    tls_server = ("server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;"
                  " location /ws { return 404; } }"
                  % (port, certs["server.pem"], certs["server.key"]))
    ng = Nginx(http_extra=tls_server)
    try:
        script = tmp_path / "wss.lua"
        script.write_text("""
options = { vus = 1, iterations = 2 }
function default()
  local s, err = ws.open("wss://127.0.0.1:%d/ws")
  check(err, { ["verify"] = function(e) return e ~= nil and e:find("certificate verify failed", 1, true) ~= nil end })
end
""" % port)
        res = run_json(volley_bin, str(script))
    finally:
        ng.stop()
    ws = res["script"]["scenarios"]["default"]["ws"]
    assert ws["sessions"] == 0 and ws["errors"] == 2, ws
    assert res["script"]["checks"][0]["passes"] == 2, res["script"]["checks"]
    assert res["totals"]["requests"] == 0
