"""The one exchange (src/load/exchange.c) as URL runs and Lua scripts both
use it: stale keep-alive connections are retried once (or reported as
stale_connection with --no-retry), every resolved address is tried, and
the same server gives the same numbers whichever way the load is written."""
import json
import os
import subprocess
import time

import pytest

from badserver import BadServer
from conftest import free_port


def run(volley_bin, *args, env=None, timeout=60):
    p = subprocess.run([volley_bin, "run", "--no-save", "-q", "--json", *args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    return p


def totals(p):
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["totals"]


def kinds(t):
    return {k: v for k, v in t["errors_by_kind"].items() if v}


def script(tmp_path, url, vus=2, duration=None, iterations=None, method="get"):
    """The minimal Lua equivalent of `volley run -c vus (-d|-n) URL`."""
    opts = "vus = %d, " % vus
    opts += 'duration = "%s"' % duration if duration else "iterations = %d" % iterations
    f = tmp_path / "min.lua"
    f.write_text("options = { %s }\nfunction default()\n  http.%s(%r)\nend\n"
                 % (opts, method, url))
    return str(f)


def load_args(mode, tmp_path, url, n):
    if mode == "url":
        return ["-c", "2", "-n", str(n), url]
    return [script(tmp_path, url, vus=2, iterations=n)]


# ---- stale keep-alive connections (issue 11) ----

@pytest.mark.parametrize("mode", ["url", "script"])
@pytest.mark.parametrize("rst", [False, True])
def test_stale_connection_is_retried_on_a_new_one(volley_bin, tmp_path, mode, rst):
    # The server answers one request per connection and closes it without
    # saying so: every reuse meets a closed connection before any byte.
    with BadServer("close_idle", per_conn=1, rst=rst) as bad:
        t = totals(run(volley_bin, *load_args(mode, tmp_path, bad.url, 200)))
        answered = bad.answered
    assert not bad.errors, bad.errors
    assert kinds(t) == {}, kinds(t)
    assert t["responses"] == 200 == t["requests"]
    assert t["retries"] > 0
    # Each request reached the server exactly once.
    assert answered == 200


@pytest.mark.parametrize("mode", ["url", "script"])
def test_no_retry_reports_stale_connection(volley_bin, tmp_path, mode):
    with BadServer("close_idle", per_conn=1) as bad:
        t = totals(run(volley_bin, "--no-retry", *load_args(mode, tmp_path, bad.url, 200)))
        answered = bad.answered
    assert t["retries"] == 0
    assert set(kinds(t)) == {"stale_connection"}, kinds(t)
    assert t["errors"] > 0
    assert t["responses"] == answered
    assert t["requests"] == 200


def test_post_is_not_retried(volley_bin):
    # Not idempotent: the server might have acted on it, so no second try.
    with BadServer("close_idle", per_conn=1) as bad:
        t = totals(run(volley_bin, "-m", "POST", "-c", "1", "-n", "50", bad.url))
    assert t["retries"] == 0
    assert t["errors_by_kind"]["stale_connection"] > 0


def test_keepalive_limit_serves_every_request_once(volley_bin):
    # Five requests per connection, then a silent close: the retry makes
    # the run clean and the server's count equal to volley's.
    with BadServer("close_idle", per_conn=5) as bad:
        t = totals(run(volley_bin, "-c", "4", "-n", "400", bad.url))
        answered = bad.answered
    assert kinds(t) == {}
    assert t["responses"] == 400 == answered
    assert 0 < t["retries"] <= 400 // 5


@pytest.mark.serial  # latencies against the server's hold
def test_retry_keeps_the_intended_start_in_the_open_model(volley_bin):
    # One connection, 2 requests/s; the server answers one request per
    # connection and closes the next one 300 ms after reading it: every
    # request after the first is stale, then retried on a new connection.
    # Latency counts from the intended start, so the stale attempt is in it;
    # send lag is the first attempt's (one sample per request, not per send).
    hold = 300
    with BadServer("close_idle", per_conn=1, hold_ms=hold) as bad:
        p = run(volley_bin, "--rate", "2", "-d", "3s", "-c", "1", "-t", "1", bad.url)
        answered = bad.answered
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    t = res["totals"]
    assert kinds(t) == {} and t["responses"] == t["requests"] == 6 == answered, t
    assert t["retries"] >= 4, t["retries"]  # a slow second may find a fresh connection
    assert res["latency"]["count"] == 6
    assert res["latency"]["percentiles"]["p50"] >= hold, res["latency"]
    assert res["send_lag"]["count"] == 6, res["send_lag"]


# ---- address fallback (issue 11) ----

NSS_WRAPPER = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"


def dual_env(tmp_path, order):
    """A resolver (nss_wrapper, Debian libnss-wrapper) where dual.test has
    the addresses in `order`."""
    if not os.path.exists(NSS_WRAPPER):
        pytest.skip("libnss-wrapper is not installed (scripts/setup-deps.sh test)")
    if os.environ.get("VOLLEY_SANITIZED"):
        # nss_wrapper dlopens libc with RTLD_DEEPBIND, which ASan refuses;
        # tests/unit/test_exchange.c covers the fallback under ASan.
        pytest.skip("nss_wrapper cannot run under the sanitizers")
    hosts = tmp_path / "hosts"
    hosts.write_text("".join("%s dual.test\n" % a for a in order))
    env = dict(os.environ, LD_PRELOAD=NSS_WRAPPER, NSS_WRAPPER_HOSTS=str(hosts),
               NSS_WRAPPER_PASSWD="/etc/passwd", NSS_WRAPPER_GROUP="/etc/group")
    return env


@pytest.mark.parametrize("mode", ["url", "script"])
def test_every_resolved_address_is_tried(volley_bin, serve, tmp_path, mode):
    # ::1 first (as Debian lists localhost) but the server listens only on
    # 127.0.0.1: the first address is refused, the second one serves.
    env = dual_env(tmp_path, ["::1", "127.0.0.1"])
    url = "http://dual.test:%d/health" % serve.port
    # One worker thread: nss_wrapper (the test's resolver, not volley's) is
    # not safe for lookups from two threads at once, which a script's VUs on
    # two threads make (11 runs in 30 lost a lookup; 0 in 30 on one thread).
    t = totals(run(volley_bin, "-t", "1", *load_args(mode, tmp_path, url, 20), env=env))
    assert kinds(t) == {}, kinds(t)
    assert t["responses"] == 20
    # The address that worked is remembered: no new refusals afterwards
    # (2 VUs each open one connection).
    assert t["connections_opened"] <= 4


def test_no_address_answers_is_connect_refused(volley_bin, tmp_path):
    env = dual_env(tmp_path, ["::1", "127.0.0.1"])
    t = totals(run(volley_bin, "-c", "1", "-n", "3", "http://dual.test:%d/" % free_port(), env=env))
    assert kinds(t) == {"connect_refused": 3}


# ---- differential: a URL run and the equivalent minimal script (issue 12) ----
#
# Both go through the one exchange, so the same server must give the same
# error kinds, the same counts and the same set of distributions. Counts
# use -n (shared iterations), so they are exact whatever the timing.

import socket
import ssl
import threading

import test_hostile
from nginxutil import Nginx
from test_tls import certs, tls_serve  # noqa: F401 (fixtures)

DISTS = ["latency", "service_time", "ttfb", "connect", "chunk_gap", "send_lag",
         "tls_handshake"]
# Kinds a race may swap between two runs of the same case (see test_hostile).
RACES = {"close_before_read": {"reset": "reset|closed", "closed_early": "reset|closed"}}


def script_for(tmp_path, url, n, c, timeout, headers=None):
    params = 'timeout = "%s"' % timeout
    if headers:
        params += ", headers = {%s}" % ", ".join('[%r] = %r' % kv for kv in headers.items())
    f = tmp_path / "diff.lua"
    f.write_text("options = { vus = %d, iterations = %d }\nfunction default()\n"
                 "  http.get(%r, { %s })\nend\n" % (c, n, url, params))
    return str(f)


def both(volley_bin, tmp_path, url, n, c=4, timeout="1s", url_flags=(), headers=None,
         flags=()):
    u = run(volley_bin, *flags, *url_flags, "-c", str(c), "-n", str(n), "--timeout", timeout, url)
    s = run(volley_bin, *flags, script_for(tmp_path, url, n, c, timeout, headers))
    assert u.returncode == 0, u.stderr
    assert s.returncode == 0, s.stderr
    return json.loads(u.stdout), json.loads(s.stdout)


def shape(res, case=None):
    """What must agree: kinds with counts, statuses, and which distributions
    have samples."""
    t = res["totals"]
    ks = {}
    for k, v in kinds(t).items():
        k = RACES.get(case, {}).get(k, k)
        ks[k] = ks.get(k, 0) + v
    return {"requests": t["requests"], "responses": t["responses"], "errors": t["errors"],
            "kinds": ks, "statuses": t["responses_by_status"],
            "dists": sorted(d for d in DISTS if res[d]["count"] > 0)}


HOSTILE = sorted(test_hostile.CASES) + ["cl_smaller", "unsolicited"]


@pytest.mark.parametrize("case", HOSTILE)
def test_url_run_and_script_agree_on_a_hostile_server(volley_bin, tmp_path, case):
    slow = case in test_hostile.SLOW
    # Fast cases get a long timeout, so a busy machine adds no timeouts.
    n, timeout = (4, "1s") if slow else (40, "10s")
    with BadServer(case) as bad:
        u, s = both(volley_bin, tmp_path, bad.url, n, timeout=timeout)
    assert shape(u, case) == shape(s, case)
    assert u["totals"]["requests"] == n


@pytest.mark.parametrize("k", [None, 7], ids=["keepalive", "close-every-7"])
def test_url_run_and_script_agree_with_nginx_counts(volley_bin, tmp_path, k):
    n = 3000
    ng = Nginx(keepalive_requests=k) if k else Nginx()
    try:
        u, s = both(volley_bin, tmp_path, ng.url + "/", n, c=10)
        logged = ng.logged_settled()
    finally:
        ng.stop()
    assert shape(u) == shape(s)
    assert shape(u)["statuses"] == {"200": n}
    assert logged == 2 * n


def test_url_run_and_script_agree_without_keepalive(volley_bin, tmp_path):
    ng = Nginx()
    try:
        u, s = both(volley_bin, tmp_path, ng.url + "/", 500, url_flags=["--no-keepalive"],
                    headers={"Connection": "close"})
        logged = ng.logged_settled()
    finally:
        ng.stop()
    assert shape(u) == shape(s)
    assert u["totals"]["connections_opened"] == s["totals"]["connections_opened"] == 500
    assert logged == 1000


def test_url_run_and_script_agree_on_chunked_streams(volley_bin, serve, tmp_path):
    u, s = both(volley_bin, tmp_path, serve.url + "/stream", 20, timeout="30s")
    assert shape(u) == shape(s)
    assert "chunk_gap" in shape(s)["dists"]


def test_url_run_and_script_agree_over_tls(volley_bin, tmp_path, certs, tls_serve):  # noqa: F811
    srv = tls_serve()
    u, s = both(volley_bin, tmp_path, srv.url + "/health", 40, flags=["--cacert", certs["ca.pem"]])
    assert shape(u) == shape(s)
    assert "tls_handshake" in shape(s)["dists"]
    assert u["totals"]["tls_resumed"] == s["totals"]["tls_resumed"]


class TlsGarbage:
    """A TLS server that completes the handshake, reads the request, then
    writes bytes that are no TLS record: a record-layer error."""

    def __init__(self, certs):  # noqa: F811
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs["server.pem"], certs["server.key"])
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = "https://127.0.0.1:%d/" % self.sock.getsockname()[1]
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(5)
            s = self.ctx.wrap_socket(c, server_side=True)
            s.recv(4096)
            os.write(s.fileno(), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 4)
            time.sleep(0.2)
            s.close()
        except OSError:
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(2)
        self.sock.close()


def test_url_run_and_script_agree_on_tls_record_errors(volley_bin, tmp_path, certs):  # noqa: F811
    srv = TlsGarbage(certs)
    try:
        u, s = both(volley_bin, tmp_path, srv.url, 8, c=2, flags=["--cacert", certs["ca.pem"]])
    finally:
        srv.stop()
    assert shape(u) == shape(s)
    assert set(shape(s)["kinds"]) == {"tls_error"}


# ---- absurd rates and thread counts (issue 11) ----

@pytest.mark.serial  # CPU seconds < 2.5
def test_absurd_rate_is_dropped_not_blamed_on_the_server(volley_bin, serve):
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = run(volley_bin, "--rate", "300000000", "-d", "1s", "-t", "1", serve.url + "/health",
            timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = totals(p)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Every scheduled iteration is either a request or dropped, exactly.
    assert t["requests"] + t["dropped_iterations"] == 300000000
    assert t["dropped_iterations"] > 299000000
    # The generator's own overload is not the server's fault: no
    # connect_timeout (before: ~9,000) and no timeouts.
    assert t["errors_by_kind"]["connect_timeout"] == 0, kinds(t)
    assert t["errors_by_kind"]["timeout"] == 0, kinds(t)
    # Scheduling work is bounded per loop turn (before: 5.5 s of CPU).
    assert cpu < 2.5, cpu


def test_threads_are_capped_with_a_message(volley_bin, serve):
    p = run(volley_bin, "-t", "1000", "-n", "20", serve.url + "/health")
    t = totals(p)
    assert t["requests"] == 20
    cap = min(4 * os.cpu_count(), 256)
    assert "-t 1000: capped at %d threads" % cap in p.stderr
    assert json.loads(p.stdout)["plan"]["threads"] == cap
