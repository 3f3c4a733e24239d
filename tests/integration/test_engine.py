"""The one exchange (src/load/exchange.c) as URL runs and Lua scripts both
use it: stale keep-alive connections are retried once (or reported as
stale_connection with --no-retry), every resolved address is tried, and
the same server gives the same numbers whichever way the load is written."""
import json
import os
import subprocess

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


# ---- address fallback (issue 11) ----

NSS_WRAPPER = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"


def dual_env(tmp_path, order):
    """A resolver (nss_wrapper, Debian libnss-wrapper) where dual.test has
    the addresses in `order`."""
    if not os.path.exists(NSS_WRAPPER):
        pytest.skip("libnss-wrapper is not installed (scripts/setup-deps.sh test)")
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
    t = totals(run(volley_bin, *load_args(mode, tmp_path, url, 20), env=env))
    assert kinds(t) == {}, kinds(t)
    assert t["responses"] == 20
    # The address that worked is remembered: no new refusals afterwards
    # (2 VUs each open one connection).
    assert t["connections_opened"] <= 4


def test_no_address_answers_is_connect_refused(volley_bin, tmp_path):
    env = dual_env(tmp_path, ["::1", "127.0.0.1"])
    t = totals(run(volley_bin, "-c", "1", "-n", "3", "http://dual.test:%d/" % free_port(), env=env))
    assert kinds(t) == {"connect_refused": 3}
