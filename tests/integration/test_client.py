"""The client reaching real deployments: user:password@ in a URL is Basic
auth (and the password stays out of results files)."""
import base64
import http.server
import json
import subprocess
import threading

import pytest


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def run(volley_bin, *args):
    return subprocess.run([volley_bin, "run", "-q", "--json", "--no-save", *args],
                          capture_output=True, text=True, timeout=60)


def test_userinfo_is_basic_auth_and_the_password_is_not_kept(volley_bin, recorder):
    p = run(volley_bin, "-n", "3", "-c", "1", "http://al%%40ice:s3cr%%3At@127.0.0.1:%d/x" % recorder)
    assert p.returncode == 0, p.stderr
    want = "Basic " + base64.b64encode(b"al@ice:s3cr:t").decode()
    assert [h.get("Authorization") for h in Recorder.seen] == [want] * 3
    r = json.loads(p.stdout)
    assert "s3cr" not in p.stdout
    assert r["endpoints"][0]["url"] == "http://al%%40ice:***@127.0.0.1:%d/x" % recorder


def test_an_authorization_header_wins_over_userinfo(volley_bin, recorder):
    p = run(volley_bin, "-n", "1", "-c", "1", "-H", "Authorization: Bearer t0k",
            "http://u:p@127.0.0.1:%d/x" % recorder)
    assert p.returncode == 0, p.stderr
    assert [h.get("Authorization") for h in Recorder.seen] == ["Bearer t0k"]


def test_bad_percent_escape_in_userinfo_exit_2(volley_bin):
    p = run(volley_bin, "-n", "1", "http://u:%zz@127.0.0.1:1/")
    assert p.returncode == 2 and "bad user:password@" in p.stderr


# ---- reaching real deployments (issue 18): a small HTTP/1.1 server that
# logs what it got, on TCP (IPv4 or IPv6) or a Unix socket ----

import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import socketserver  # noqa: E402
import time  # noqa: E402

from nginxutil import Nginx  # noqa: E402
from ports import free_port  # noqa: E402
from test_engine import NSS_WRAPPER  # noqa: E402
from test_tls import certs, tls_serve  # noqa: E402,F401 (fixtures)


ZEROS = 64 << 20
_gz_zeros = []


def gz_zeros():
    """64 MiB of zeros, gzip: ~64 kB on the wire, tens of ms to decode."""
    if not _gz_zeros:
        import gzip
        _gz_zeros.append(gzip.compress(bytes(ZEROS), compresslevel=9))
    return _gz_zeros[0]


class Hits(http.server.BaseHTTPRequestHandler):
    """/r/N redirects N times (302) then answers 200; POST /p answers 303 to
    /r/0; /gz-bad says gzip but is not; /gz-zeros is 64 MiB of zeros in
    gzip; anything else is 200 "ok"."""
    protocol_version = "HTTP/1.1"

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.server.log.append((self.command, self.path, dict(self.headers)))
        m = re.match(r"^/r/(\d+)$", self.path)
        extra, body, status = {}, b"ok", 200
        if self.command == "POST" and self.path == "/p":
            status, extra = 303, {"Location": "/r/0"}
        elif m and int(m.group(1)) > 0:
            status, extra = 302, {"Location": "/r/%d" % (int(m.group(1)) - 1)}
        elif self.path.startswith("/to?"):
            status, extra = 302, {"Location": self.path[4:]}
        elif self.path == "/gz-bad":
            extra, body = {"Content-Encoding": "gzip"}, b"this is not gzip at all"
        elif self.path == "/gz-zeros":
            extra, body = {"Content-Encoding": "gzip"}, gz_zeros()
        self.send_response(status)
        if self.headers.get("Connection", "").lower() == "close":
            extra["Connection"] = "close"
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *a):
        pass


class TcpHits(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host, port=0):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.log = []
        super().__init__((host, port), Hits)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def server_bind(self):
        # HTTPServer.server_bind looks up the host name: not needed here.
        socketserver.TCPServer.server_bind(self)

    def stop(self):
        self.shutdown()
        self.server_close()


class UnixHits(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        self.log = []
        super().__init__(path, Hits)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


@pytest.fixture
def hits():
    s = TcpHits("127.0.0.1")
    yield s
    s.stop()


def run_json(volley_bin, *args, code=0, env=None):
    p = subprocess.run([volley_bin, "run", "-q", "--json", "--no-save", *args],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == code, p.stderr
    return json.loads(p.stdout), p.stderr


def kinds(t):
    return {k: v for k, v in t["errors_by_kind"].items() if v}


def lua(tmp_path, body):
    f = tmp_path / "flow.lua"
    f.write_text(body)
    return str(f)


GZ_SIZE = 120_000


@pytest.fixture(scope="module")
def gz_nginx():
    """nginx with gzip on, a text file and redirects, on TCP and a Unix socket."""
    import pathlib
    import tempfile
    root = pathlib.Path(tempfile.mkdtemp(prefix="volley-www-"))
    root.chmod(0o755)  # nginx's workers run as another user
    (root / "big.txt").write_bytes((b"volley decodes this line again and again\n" * 3000)[:GZ_SIZE])
    ng = Nginx(http_extra="gzip on; gzip_min_length 1; gzip_types text/plain;",
               server_extra="listen unix:{prefix}/ng.sock; location /f/ { alias %s/; } "
                            "location /r1 { return 302 /r2; } location /r2 { return 301 /f/big.txt; }"
                            % root)
    ng.sock = os.path.join(ng.prefix, "ng.sock")
    yield ng
    ng.stop()
    shutil.rmtree(root, ignore_errors=True)


# ---- --compressed ----

@pytest.mark.parametrize("mode", ["url", "script"])
def test_compressed_decodes_nginx_gzip_and_counts_both_sizes(volley_bin, gz_nginx, tmp_path, mode):
    url = gz_nginx.url + "/f/big.txt"
    if mode == "url":
        args = [url, "-n", "10", "-c", "2", "-t", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  local r = http.get(ENV.U)\n'
                    '  check(r, {size = function(x) return #x.body == %d end})\nend\n' % GZ_SIZE),
                "-e", "U=" + url, "-n", "10", "-c", "2", "-t", "1"]
    gz_nginx.reset_log()
    r, _ = run_json(volley_bin, *args, "--compressed")
    t = r["totals"]
    assert t["responses_by_status"] == {"200": 10}, t
    assert t["bytes_decoded"] == 10 * GZ_SIZE          # every body decoded to the file
    assert t["bytes_in"] < GZ_SIZE                     # what came over the wire: gzip
    assert r["decode"]["count"] == 10                  # decoding timed apart
    assert r["endpoints"][0]["totals"]["bytes_decoded"] == 10 * GZ_SIZE
    assert r["plan"]["compressed"] is True and r["plan"]["route"] == ""
    if mode == "script":
        assert r["script"]["checks"][0]["passes"] == 10, r["script"]["checks"]
    # Without --compressed nginx sends the file as it is.
    r2, _ = run_json(volley_bin, *args)
    assert r2["totals"]["bytes_in"] > 10 * GZ_SIZE and r2["totals"]["bytes_decoded"] == 0


@pytest.mark.serial  # latency p99 below the decoding time p50
@pytest.mark.parametrize("mode", ["url", "script"])
def test_decoding_time_is_measured_apart_and_kept_out_of_latency(volley_bin, hits, tmp_path,
                                                                 mode):
    """A small gzip body that takes tens of ms to decode (64 MiB of zeros):
    the decoding is in `decode`, and latency and service time stay the
    server's and the network's (k6 counts decoding in http_req_duration,
    k6#2685)."""
    gz_zeros()  # made before the run, not inside the first request
    url = "http://127.0.0.1:%d/gz-zeros" % hits.port
    if mode == "url":
        args = [url, "-n", "6", "-c", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  local r = http.get(ENV.U)\n'
                    '  check(r, {decoded = function(x) return #x.body == %d and '
                    'x.timings.decoding > 0 end})\nend\n' % ZEROS),
                "-e", "U=" + url, "-n", "6", "-c", "1"]
    r, _ = run_json(volley_bin, *args, "--compressed")
    assert r["totals"]["responses_by_status"] == {"200": 6}, r["totals"]
    assert r["totals"]["bytes_decoded"] == 6 * ZEROS
    assert r["totals"]["bytes_in"] < 6 * ZEROS // 100
    dec = r["decode"]["percentiles"]["p50"]
    assert r["decode"]["count"] == 6 and dec >= 10, r["decode"]
    for m in ("latency", "service_time"):
        assert r[m]["percentiles"]["p99"] < dec, (m, r[m]["percentiles"], dec)
    if mode == "script":
        assert r["script"]["checks"][0]["passes"] == 6, r["script"]["checks"]


@pytest.mark.parametrize("mode", ["url", "script"])
def test_a_corrupt_gzip_body_is_a_decode_error(volley_bin, hits, tmp_path, mode):
    url = "http://127.0.0.1:%d/gz-bad" % hits.port
    if mode == "url":
        args = [url, "-n", "5", "-c", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  local r = http.get(ENV.U)\n'
                    '  check(r, {code = function(x) return x.error_code == "decode_error" end})\nend\n'),
                "-e", "U=" + url, "-n", "5", "-c", "1"]
    r, _ = run_json(volley_bin, *args, "--compressed")
    assert kinds(r["totals"]) == {"decode_error": 5}, r["totals"]
    assert all(h[2].get("Accept-Encoding") == "gzip, deflate, br, zstd" for h in hits.log)
    if mode == "script":
        assert r["script"]["checks"][0]["passes"] == 5
    # Without the flag the body is not looked at: five good responses.
    r, _ = run_json(volley_bin, *args)
    assert r["totals"]["responses_by_status"] == {"200": 5}


def test_an_accept_encoding_header_wins_over_compressed(volley_bin, hits):
    run_json(volley_bin, "-n", "1", "--compressed", "-H", "Accept-Encoding: br",
             "http://127.0.0.1:%d/x" % hits.port)
    assert hits.log[0][2]["Accept-Encoding"] == "br"


# ---- --redirects ----

def test_redirects_url_run_follows_nginx_hops_each_counted(volley_bin, gz_nginx):
    url = gz_nginx.url + "/r1"
    gz_nginx.reset_log()
    r, _ = run_json(volley_bin, url, "-n", "10", "-c", "1", "-t", "1", "--redirects", "5")
    t = r["totals"]
    assert t["responses_by_status"] == {"200": 10, "301": 10, "302": 10}, t
    assert t["redirects"] == 20 and t["requests"] == 30
    assert r["plan"]["redirects"] == 5
    assert gz_nginx.logged_settled() == 30
    # Default 0: the URL given is what is measured.
    r, _ = run_json(volley_bin, url, "-n", "10", "-c", "1")
    assert r["totals"]["responses_by_status"] == {"302": 10} and r["totals"]["redirects"] == 0
    # At most N hops: the last redirect is the answer.
    r, _ = run_json(volley_bin, url, "-n", "10", "-c", "1", "--redirects", "1")
    assert r["totals"]["responses_by_status"] == {"301": 10, "302": 10}


@pytest.mark.parametrize("mode", ["url", "script"])
def test_redirect_303_after_post_becomes_get(volley_bin, hits, tmp_path, mode):
    url = "http://127.0.0.1:%d/p" % hits.port
    if mode == "url":
        args = ["-m", "POST", "-b", "payload", url, "-n", "3", "-c", "1", "--redirects", "3"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.post(ENV.U, "payload")\nend\n'),
                "-e", "U=" + url, "-n", "3", "-c", "1"]
    r, _ = run_json(volley_bin, *args)
    assert [(m, p) for m, p, _ in hits.log] == [("POST", "/p"), ("GET", "/r/0")] * 3
    assert r["totals"]["redirects"] == 3


def test_script_redirects_flag_is_the_default_of_params(volley_bin, hits, tmp_path):
    f = lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n')
    url = "http://127.0.0.1:%d/r/4" % hits.port
    r, _ = run_json(volley_bin, f, "-e", "U=" + url, "-n", "1", "-c", "1")
    assert len(hits.log) == 5 and r["totals"]["redirects"] == 4          # k6's 10
    hits.log.clear()
    r, _ = run_json(volley_bin, f, "-e", "U=" + url, "-n", "1", "-c", "1", "--redirects", "2")
    assert len(hits.log) == 3 and r["totals"]["redirects"] == 2


def test_redirects_with_pipeline_exit_2(volley_bin):
    p = subprocess.run([volley_bin, "run", "--redirects", "2", "--pipeline", "2",
                        "http://127.0.0.1:1/"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--redirects" in p.stderr


# ---- --proxy: a real proxy (Debian tinyproxy) on loopback ----

class Tinyproxy:
    def __init__(self, tmp):
        exe = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        if not os.path.exists(exe):
            pytest.fail("tinyproxy is missing: run scripts/setup-deps.sh test")
        self.port = free_port()
        self.log = tmp / "tinyproxy.log"
        conf = tmp / "tinyproxy.conf"
        # No ConnectPort line: CONNECT to any port (the test's TLS server).
        conf.write_text("Port %d\nListen 127.0.0.1\nTimeout 30\nMaxClients 100\n"
                        "LogLevel Connect\nLogFile \"%s\"\nPidFile \"%s\"\nAllow 127.0.0.1\n"
                        "DisableViaHeader Yes\n" % (self.port, self.log, tmp / "tinyproxy.pid"))
        self.proc = subprocess.Popen([exe, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                assert self.proc.poll() is None, "tinyproxy exited"
                time.sleep(0.05)
        self.url = "http://127.0.0.1:%d" % self.port

    def connects(self):
        """CONNECT requests the proxy received."""
        text = self.log.read_text() if self.log.exists() else ""
        return len(re.findall(r"Request \(file descriptor \d+\): CONNECT ", text))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def tinyproxy(tmp_path):
    tp = Tinyproxy(tmp_path)
    yield tp
    tp.stop()


@pytest.mark.parametrize("mode", ["url", "script"])
def test_proxy_http_absolute_form_counts_equal_nginx_log(volley_bin, gz_nginx, tinyproxy,
                                                         tmp_path, mode):
    url = gz_nginx.url + "/health"
    if mode == "url":
        args = [url, "-n", "25", "-c", "2", "-t", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "25", "-c", "2", "-t", "1"]
    gz_nginx.reset_log()
    r, _ = run_json(volley_bin, *args, "--proxy", tinyproxy.url)
    assert r["totals"]["responses_by_status"] == {"200": 25}, r["totals"]
    assert gz_nginx.logged_settled() == 25
    assert r["plan"]["route"] == "proxy " + tinyproxy.url


def test_proxy_sends_absolute_form(volley_bin, hits, tinyproxy):
    # The proxy is the recorder itself: what volley writes to a proxy.
    run_json(volley_bin, "http://made.up.test:8080/a?b=1", "-n", "1", "--proxy",
             "127.0.0.1:%d" % hits.port)
    assert hits.log[0][1] == "http://made.up.test:8080/a?b=1"
    assert hits.log[0][2]["Host"] == "made.up.test:8080"


@pytest.mark.parametrize("mode", ["url", "script"])
def test_proxy_https_goes_through_a_connect_tunnel(volley_bin, tls_serve, certs, tinyproxy,
                                                   tmp_path, mode):
    srv = tls_serve()
    url = "https://127.0.0.1:%d/health" % srv.port
    if mode == "url":
        args = [url, "-n", "20", "-c", "2", "-t", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "20", "-c", "2", "-t", "1"]
    r, _ = run_json(volley_bin, *args, "--proxy", tinyproxy.url, "--cacert", certs["ca.pem"])
    t = r["totals"]
    assert t["responses_by_status"] == {"200": 20}, t
    handshakes, _ = srv.handshakes()
    assert handshakes == t["connections_opened"] == tinyproxy.connects()


@pytest.mark.parametrize("mode", ["url", "script"])
def test_unreachable_proxy_is_a_proxy_error(volley_bin, tmp_path, mode):
    dead = free_port()
    url = "http://127.0.0.1:1/health"
    if mode == "url":
        args = [url, "-n", "3", "-c", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "3", "-c", "1"]
    r, err = run_json(volley_bin, *args, "--proxy", "http://127.0.0.1:%d" % dead)
    assert kinds(r["totals"]) == {"proxy_error": 3}, r["totals"]
    if mode == "url":
        assert "proxy unreachable" in err


def test_proxy_refusing_the_tunnel_is_a_proxy_error(volley_bin, hits):
    # A server that is no proxy answers CONNECT with 501 (http.server).
    r, _ = run_json(volley_bin, "https://127.0.0.1:1/", "-n", "2", "-c", "1", "--insecure",
                    "--proxy", "http://127.0.0.1:%d" % hits.port)
    assert kinds(r["totals"]) == {"proxy_error": 2}, r["totals"]


# ---- --resolve, --connect-to: a made-up name; Host and TLS name stay ----

@pytest.mark.parametrize("mode", ["url", "script"])
def test_resolve_a_made_up_name_keeps_the_host_header(volley_bin, hits, tmp_path, mode):
    url = "http://volley-made-up.test:%d/x" % hits.port
    flag = ["--resolve", "volley-made-up.test:%d:127.0.0.1" % hits.port]
    if mode == "url":
        args = [url, "-n", "4", "-c", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "4", "-c", "1"]
    r, _ = run_json(volley_bin, *args, *flag)
    assert r["totals"]["responses_by_status"] == {"200": 4}
    assert {h[2]["Host"] for h in hits.log} == {"volley-made-up.test:%d" % hits.port}
    # Another port of the name is not covered: it does not resolve.
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "-n", "1", url.replace(
        str(hits.port), "1"), *flag], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "volley-made-up.test" in p.stderr


@pytest.mark.parametrize("mode", ["url", "script"])
def test_connect_to_sends_a_name_and_port_elsewhere(volley_bin, hits, tmp_path, mode):
    url = "http://volley-made-up.test/y"
    flag = ["--connect-to", "volley-made-up.test:80:127.0.0.1:%d" % hits.port]
    if mode == "url":
        args = [url, "-n", "3", "-c", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "3", "-c", "1"]
    r, _ = run_json(volley_bin, *args, *flag)
    assert r["totals"]["responses_by_status"] == {"200": 3}
    assert [h[2]["Host"] for h in hits.log] == ["volley-made-up.test"] * 3


def test_tls_name_stays_the_urls_with_resolve_and_connect_to(volley_bin, tls_serve, certs):
    srv = tls_serve()
    # The certificate is for localhost and 127.0.0.1: reached by another
    # name, the check must fail (the URL's name is the one verified)...
    r, _ = run_json(volley_bin, "https://volley-made-up.test:%d/health" % srv.port, "-n", "2",
                    "-c", "1", "--cacert", certs["ca.pem"],
                    "--resolve", "volley-made-up.test:%d:127.0.0.1" % srv.port)
    assert kinds(r["totals"]) == {"tls_error": 2}, r["totals"]
    # ... and with the certificate's name in the URL it passes.
    r, _ = run_json(volley_bin, "https://localhost/health", "-n", "2", "-c", "1",
                    "--cacert", certs["ca.pem"],
                    "--connect-to", "localhost:443:127.0.0.1:%d" % srv.port)
    assert r["totals"]["responses_by_status"] == {"200": 2}, r["totals"]


@pytest.mark.parametrize("spec", ["nohost", "h:1:", "h:x:127.0.0.1", "h:1:not-an-address"])
def test_bad_resolve_exit_2(volley_bin, spec):
    p = subprocess.run([volley_bin, "run", "--resolve", spec, "http://127.0.0.1:1/"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--resolve" in p.stderr, p.stderr


# ---- --unix-socket ----

@pytest.mark.parametrize("mode", ["url", "script"])
def test_unix_socket_nginx_counts_equal_its_log(volley_bin, gz_nginx, tmp_path, mode):
    url = "http://volley-made-up.test/health"
    if mode == "url":
        args = [url, "-n", "30", "-c", "3", "-t", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "30", "-c", "3", "-t", "1"]
    gz_nginx.reset_log()
    r, _ = run_json(volley_bin, *args, "--unix-socket", gz_nginx.sock)
    assert r["totals"]["responses_by_status"] == {"200": 30}, r["totals"]
    assert gz_nginx.logged_settled() == 30


def test_unix_socket_host_header_is_the_urls(volley_bin, tmp_path):
    path = str(tmp_path / "h.sock")
    srv = UnixHits(path)
    try:
        run_json(volley_bin, "http://api.internal/v1?q=1", "-n", "2", "-c", "1",
                 "--unix-socket", path)
    finally:
        srv.stop()
    assert [(h[1], h[2]["Host"]) for h in srv.log] == [("/v1?q=1", "api.internal")] * 2


def test_unix_socket_missing_is_a_connect_error(volley_bin, tmp_path):
    r, _ = run_json(volley_bin, "http://x/", "-n", "2", "-c", "1", "--unix-socket",
                    str(tmp_path / "none.sock"))
    assert r["totals"]["transport_errors"] == 2, r["totals"]


# ---- --dns-spread: a name with 127.0.0.1 and ::1 (nss_wrapper) ----

def dual_env(tmp_path):
    if not os.path.exists(NSS_WRAPPER):
        pytest.skip("libnss-wrapper is not installed (scripts/setup-deps.sh test)")
    if os.environ.get("VOLLEY_SANITIZED"):
        pytest.skip("nss_wrapper cannot run under the sanitizers")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 dual.test\n::1 dual.test\n")
    return dict(os.environ, LD_PRELOAD=NSS_WRAPPER, NSS_WRAPPER_HOSTS=str(hosts),
                NSS_WRAPPER_PASSWD="/etc/passwd", NSS_WRAPPER_GROUP="/etc/group")


@pytest.fixture
def dual_hits():
    for _ in range(20):
        v4 = TcpHits("127.0.0.1")
        try:
            v6 = TcpHits("::1", v4.port)
            break
        except OSError:
            v4.stop()
    else:
        pytest.fail("no port free on both 127.0.0.1 and ::1")
    yield v4, v6
    v4.stop()
    v6.stop()


@pytest.mark.parametrize("mode", ["url", "script"])
def test_dns_spread_uses_every_address(volley_bin, dual_hits, tmp_path, mode):
    v4, v6 = dual_hits
    env = dual_env(tmp_path)
    url = "http://dual.test:%d/health" % v4.port
    if mode == "url":
        args = [url, "-n", "40", "-c", "4", "-t", "1", "--no-keepalive"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U, {headers = '
                    '{Connection = "close"}})\nend\n'), "-e", "U=" + url, "-n", "40", "-c", "4",
                "-t", "1"]
    r, _ = run_json(volley_bin, *args, env=env)
    assert r["totals"]["responses_by_status"] == {"200": 40}
    assert (len(v4.log), len(v6.log)) == (40, 0)       # the first address that works
    v4.log.clear()
    r, _ = run_json(volley_bin, *args, "--dns-spread", env=env)
    assert r["totals"]["responses_by_status"] == {"200": 40}
    assert len(v4.log) + len(v6.log) == 40 and len(v4.log) >= 10 and len(v6.log) >= 10, \
        (len(v4.log), len(v6.log))


# ---- time to the first body byte (client side) ----

@pytest.mark.serial  # ttfb p50 < 100 ms
@pytest.mark.parametrize("mode", ["url", "script"])
def test_first_body_byte_is_measured_apart_from_ttfb(volley_bin, serve, tmp_path, mode):
    url = serve.url + "/stream?chunks=2&interval_ms=10&first_ms=150"
    if mode == "url":
        args = [url, "-n", "4", "-c", "1"]
    else:
        args = [lua(tmp_path, 'function default()\n  http.get(ENV.U)\nend\n'), "-e", "U=" + url,
                "-n", "4", "-c", "1"]
    r, _ = run_json(volley_bin, *args)
    fb, ttfb = r["first_body"], r["ttfb"]
    assert fb["count"] == 4
    assert fb["percentiles"]["p50"] >= 145 and ttfb["percentiles"]["p50"] < 100, (fb, ttfb)


@pytest.mark.serial  # first body p50 >= 145 ms, TTFB < 100 ms
def test_first_body_byte_per_endpoint_in_the_text_summary(volley_bin, serve):
    """With streamed bodies the per-endpoint table has a "1st body p50"
    column beside TTFB; a buffered endpoint's first body byte is its TTFB."""
    p = subprocess.run([volley_bin, "run", "--no-save", "-n", "4", "-c", "1",
                        "--endpoint", "late-first-chunk=" + serve.url +
                        "/stream?chunks=2&interval_ms=10&first_ms=150",
                        "--endpoint", "plain=" + serve.url + "/health"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if "1st body p50" in line)
    cols = lines[head].split()
    assert cols[-3:] == ["1st", "body", "p50"] and cols[-5:-3] == ["ttfb", "p99"], cols

    def ms(v):
        return float(v[:-2]) / (1000 if v.endswith("us") else 1)

    row = lines[head + 1].split()
    assert row[0] == "late-first-chunk"
    assert ms(row[-3]) < 100 and ms(row[-1]) >= 145, row  # ttfb p50, 1st body p50
    plain = lines[head + 2].split()
    assert plain[0] == "plain" and plain[-1] == plain[-3], plain
    # Nothing streamed: no such column.
    q = subprocess.run([volley_bin, "run", "--no-save", "-n", "4", "-c", "1",
                        "--endpoint", "a=" + serve.url + "/health",
                        "--endpoint", "b=" + serve.url + "/health"],
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0 and "per endpoint" in q.stdout and "1st body" not in q.stdout


def test_script_timings_first_body_and_decoding(volley_bin, serve, gz_nginx, tmp_path):
    f = lua(tmp_path, 'function default()\n'
            '  local s = http.get(ENV.S .. "/stream?chunks=2&interval_ms=10&first_ms=150")\n'
            '  local g = http.get(ENV.G)\n'
            '  check(s, {fb = function(x) return x.timings.first_body >= 145 and '
            'x.timings.waiting < 100 end})\n'
            '  check(g, {dec = function(x) return x.timings.decoding > 0 and '
            'x.timings.duration > 0 end})\nend\n')
    r, _ = run_json(volley_bin, f, "-e", "S=" + serve.url, "-e", "G=" + gz_nginx.url +
                    "/f/big.txt", "-n", "2", "-c", "1", "--compressed")
    assert {c["name"]: c["passes"] for c in r["script"]["checks"]} == {"fb": 2, "dec": 2}, \
        r["script"]["checks"]


def test_websocket_through_the_proxy_tunnel(volley_bin, serve, tinyproxy, tmp_path):
    f = lua(tmp_path, 'function default()\n  local s = assert(ws.open(ENV.U))\n'
            '  s:send("hi")\n  local m = s:recv(5)\n  check(m, {echo = function(x) return x == "hi" end})\n'
            '  s:close()\nend\n')
    r, _ = run_json(volley_bin, f, "-e", "U=ws://127.0.0.1:%d/ws" % serve.port, "-n", "3", "-c",
                    "1", "--proxy", tinyproxy.url)
    assert r["script"]["checks"][0]["passes"] == 3, r["script"]
    assert tinyproxy.connects() == 3


def test_redirect_from_http_to_https_on_another_port(volley_bin, hits, tls_serve, certs):
    srv = tls_serve()
    url = "http://127.0.0.1:%d/to?https://127.0.0.1:%d/health" % (hits.port, srv.port)
    r, _ = run_json(volley_bin, url, "-n", "4", "-c", "1", "--redirects", "2", "--cacert",
                    certs["ca.pem"])
    assert r["totals"]["responses_by_status"] == {"200": 4, "302": 4}, r["totals"]
    handshakes, _ = srv.handshakes()
    assert handshakes == 4   # each chain goes back to the http host, then reconnects


def test_volley_serve_on_a_unix_socket(volley_bin, tmp_path):
    path = str(tmp_path / "serve.sock")
    srv = subprocess.Popen([volley_bin, "serve", "--listen", "unix:" + path, "--threads", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening on http://unix:" + path
        r, _ = run_json(volley_bin, "http://api.internal/health", "-n", "500", "-c", "4", "-t",
                        "2", "--unix-socket", path)
        assert r["totals"]["responses_by_status"] == {"200": 500}, r["totals"]
        # A second server on the same path is refused (the file is not taken over).
        p = subprocess.run([volley_bin, "serve", "--listen", "unix:" + path, "-d", "1s"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "cannot listen" in p.stderr
        assert os.path.exists(path)
    finally:
        srv.terminate()
        assert srv.wait(10) == 0
    assert not os.path.exists(path)   # removed by the server that made it


def test_redirect_keeps_basic_auth_on_the_same_origin_only(volley_bin, hits):
    other = TcpHits("127.0.0.1")
    try:
        url = "http://u:p@127.0.0.1:%d/to?/to?http://127.0.0.1:%d/x" % (hits.port, other.port)
        run_json(volley_bin, url, "-n", "1", "-c", "1", "--redirects", "3")
    finally:
        other.stop()
    assert [h[2].get("Authorization", "") for h in hits.log] == ["Basic dTpw"] * 2
    assert [h[2].get("Authorization", "") for h in other.log] == [""]


@pytest.mark.parametrize("args,needle", [
    (["--proxy", "https://127.0.0.1:1"], "--proxy"),
    (["--proxy", "http://u:p@127.0.0.1:1"], "--proxy"),
    (["--proxy", "http://127.0.0.1:1", "--unix-socket", "/tmp/x.sock"], "--unix-socket"),
    (["--unix-socket", "/" + "x" * 200], "--unix-socket"),
    (["--connect-to", "a:1"], "--connect-to"),
    (["--redirects", "101"], "--redirects"),
    (["--compressed", "--h2c"], "--compressed"),
    (["--compressed", "--http", "2"], "--compressed"),
    (["--proxy", "http://127.0.0.1:1", "--h2c"], "--proxy"),
    (["--cold", "--exec", "true", "--proxy", "http://127.0.0.1:1"], "--cold"),
])
def test_bad_client_flags_exit_2(volley_bin, args, needle):
    url = "https://127.0.0.1:1/" if "--cold" in args else "http://127.0.0.1:1/"
    p = subprocess.run([volley_bin, "run", "--no-save", "-n", "1", *args, url],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and needle in p.stderr, (p.returncode, p.stderr)


def test_resolve_against_volley_serve_host_header_seen_by_the_server(volley_bin, serve, tmp_path):
    # volley serve's /echo?headers=1 says what Host it got.
    f = lua(tmp_path, 'function default()\n  local r = http.get(ENV.U)\n'
            '  check(r, {host = function(x) return string.find(x.headers["X-Echo-Header"] or "", '
            '"Host: volley-made-up.test:" .. ENV.P, 1, true) ~= nil end})\nend\n')
    url = "http://volley-made-up.test:%d/echo?headers=1" % serve.port
    r, _ = run_json(volley_bin, f, "-e", "U=" + url, "-e", "P=%d" % serve.port, "-n", "3", "-c",
                    "1", "--resolve", "volley-made-up.test:%d:127.0.0.1" % serve.port)
    assert r["script"]["checks"][0]["passes"] == 3, r["script"]["checks"]
    r, _ = run_json(volley_bin, url, "-n", "3", "-c", "1",
                    "--connect-to", "volley-made-up.test::127.0.0.1:")
    assert r["totals"]["responses_by_status"] == {"200": 3}


def test_compressed_over_https_speaks_http_1_1(volley_bin, tls_serve, certs):
    # The decoder is in the HTTP/1.1 driver: an h2 server is offered http/1.1 only.
    srv = tls_serve("--h2")
    url = "https://127.0.0.1:%d/health" % srv.port
    r, _ = run_json(volley_bin, url, "-n", "3", "-c", "1", "--cacert", certs["ca.pem"])
    assert r["totals"]["protocol"] == "HTTP/2"
    r, _ = run_json(volley_bin, url, "-n", "3", "-c", "1", "--cacert", certs["ca.pem"],
                    "--compressed")
    assert r["totals"]["protocol"] == "HTTP/1.1" and r["totals"]["bytes_decoded"] == 6
