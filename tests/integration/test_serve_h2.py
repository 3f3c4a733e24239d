"""volley serve --h2: HTTP/2 with prior knowledge (h2c) and by ALPN over
TLS, every route answered as over HTTP/1.1, streamed routes one DATA frame
per chunk, checked with real HTTP/2 clients (curl, nghttp, h2load)."""
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import start_serve

pytestmark = pytest.mark.skipif(not (shutil.which("nghttp") and shutil.which("h2load")),
                                reason="nghttp2-client is installed by scripts/setup-deps.sh")


def curl(*args):
    p = subprocess.run(["curl", "-s", "--max-time", "20", *args], capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def h2get(url, *extra):
    """(http_version, status, body) of one request over h2c."""
    out = curl("--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", *extra, url)
    body, _, tail = out.rpartition(b"\n")
    ver, code = tail.decode().split()
    return ver, int(code), body


@pytest.fixture(scope="module")
def h2srv():
    s = start_serve("--h2")
    yield s
    assert s.stop() == 0


@pytest.mark.parametrize("path,status,body", [
    ("/health", 200, b"ok"),
    ("/bytes/1000", 200, None),
    ("/status/503", 503, b"503 Service Unavailable\n"),
    ("/status/204", 204, b""),
    ("/delay/30", 200, b"ok"),
    ("/stream?chunks=3&interval_ms=10", 200, None),
    ("/buffered?chunks=3&interval_ms=10", 200, None),
    ("/nope", 404, None),
])
def test_h2c_routes(h2srv, path, status, body):
    ver, code, got = h2get(h2srv.url + path)
    assert ver == "2" and code == status
    if body is not None:
        assert got == body
    if path.startswith("/bytes"):
        assert len(got) == 1000
    if path.startswith(("/stream", "/buffered")):
        assert len(got) == 3 * 32


def test_h2c_echo_and_headers(h2srv):
    out = curl("--http2-prior-knowledge", "-D", "-", "--data-binary", "hello h2",
               h2srv.url + "/echo?x=1").decode()
    assert out.startswith("HTTP/2 200")
    assert "x-echo-method: POST" in out and "x-echo-path: /echo?x=1" in out
    assert out.endswith("hello h2")


@pytest.mark.serial  # gaps between DATA frames
def test_h2c_streams_one_data_frame_per_chunk_on_time(h2srv):
    p = subprocess.run(["nghttp", "-nv", h2srv.url + "/stream?chunks=4&interval_ms=40"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    times = [float(m.group(1)) for m in
             re.finditer(r"\[\s*([\d.]+)\] recv DATA frame <length=32", p.stdout)]
    assert len(times) == 4, p.stdout
    # Each chunk about 40 ms after the previous one (a busy machine only
    # makes the gaps longer, never shorter).
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.030 for g in gaps), gaps


def test_h2load_many_streams_all_succeed(h2srv):
    p = subprocess.run(["h2load", "-n", "3000", "-c", "4", "-m", "20", h2srv.url + "/health"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "3000 succeeded, 0 failed, 0 errored" in p.stdout, p.stdout
    assert "3000 2xx" in p.stdout


def test_max_concurrent_streams_setting_is_sent_and_honoured():
    s = start_serve("--h2", "--h2-max-streams", "1")
    try:
        p = subprocess.run(["nghttp", "-nv", s.url + "/health"], capture_output=True, text=True,
                           timeout=30)
        assert "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):1" in p.stdout, p.stdout
        p = subprocess.run(["h2load", "-n", "200", "-c", "2", "-m", "1", s.url + "/delay/1"],
                           capture_output=True, text=True, timeout=60)
        assert "200 succeeded" in p.stdout, p.stdout
        # A client that opens 10 streams before it has read the SETTINGS gets
        # the excess refused (REFUSED_STREAM), at most 9 per connection, and
        # every later request succeeds.
        p = subprocess.run(["h2load", "-n", "200", "-c", "2", "-m", "10", s.url + "/delay/1"],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"200 done, (\d+) succeeded, (\d+) failed", p.stdout)
        assert m and int(m.group(2)) <= 18 and int(m.group(1)) + int(m.group(2)) == 200, p.stdout
    finally:
        assert s.stop() == 0


def test_http11_still_served_beside_h2(h2srv):
    out = curl("-w", " %{http_version}", h2srv.url + "/health")
    assert out == b"ok 1.1"


def test_request_body_over_the_cap_is_413():
    s = start_serve("--h2", "--max-body", "16")
    try:
        ver, code, body = h2get(s.url + "/echo", "--data-binary", "x" * 100)
        assert ver == "2" and code == 413
    finally:
        assert s.stop() == 0


def test_garbage_after_the_preface_closes_without_a_hang(h2srv):
    with socket.create_connection((h2srv.host, h2srv.port), timeout=10) as c:
        c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00garbage, not a frame" * 50)
        got = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            d = c.recv(65536)
            if not d:
                break
            got += d
        # The server's SETTINGS, then a GOAWAY frame (type 0x7), then close.
        assert b"\x07\x00\x00\x00\x00\x00" in got
    assert h2get(h2srv.url + "/health")[1] == 200


def test_without_h2_the_preface_is_not_http2():
    s = start_serve()
    try:
        p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--max-time", "10",
                            s.url + "/health"], capture_output=True, timeout=30)
        assert p.returncode != 0
    finally:
        assert s.stop() == 0


def test_h2_max_streams_needs_h2(volley_bin):
    p = subprocess.run([volley_bin, "serve", "--h2-max-streams", "4"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2 and "--h2-max-streams needs --h2" in p.stderr


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("h2cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(d / "k.pem"),
                    "-out", str(d / "c.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return d / "c.pem", d / "k.pem"


def start_https(volley_bin, cert):
    proc = subprocess.Popen([volley_bin, "serve", "--listen", "127.0.0.1:0", "--threads", "1",
                             "--h2", "--tls-cert", str(cert[0]), "--tls-key", str(cert[1])],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on https://"), line
    return proc, line.split("https://")[1].strip()


def test_tls_alpn_chooses_h2_and_http11(volley_bin, cert):
    proc, hostport = start_https(volley_bin, cert)
    try:
        url = "https://" + hostport
        out = curl("-k", "--http2", "-w", " %{http_version}", url + "/bytes/10")
        assert out.endswith(b" 2") and len(out) == 12
        out = curl("-k", "--http1.1", "-w", " %{http_version}", url + "/health")
        assert out == b"ok 1.1"
        p = subprocess.run(["h2load", "-n", "500", "-c", "2", "-m", "10", url + "/health"],
                           capture_output=True, text=True, timeout=60)
        assert "500 succeeded" in p.stdout and "Application protocol: h2" in p.stdout, p.stdout
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


@pytest.mark.serial  # HEADERS-to-DATA timing
def test_h2_first_ms_head_at_once_first_data_later(h2srv):
    p = subprocess.run(["nghttp", "-nv", h2srv.url + "/stream?chunks=2&interval_ms=1&first_ms=300"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    head = float(re.search(r"\[\s*([\d.]+)\] recv HEADERS frame", p.stdout).group(1))
    data = float(re.search(r"\[\s*([\d.]+)\] recv DATA frame", p.stdout).group(1))
    assert head < 0.25 and data - head >= 0.25, p.stdout
