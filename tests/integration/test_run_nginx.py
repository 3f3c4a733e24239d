"""volley run against nginx: counts are exact.

nginx writes one access-log line per request it answered. For every way a
run can end (request count, duration, keep-alive or not, server closing
connections every k requests) volley's responses must equal nginx's lines.
"""
import json
import subprocess

import pytest

from conftest import volley_path
from nginxutil import Nginx

VOLLEY = volley_path()


def volley_run(*args, timeout=60):
    p = subprocess.run([VOLLEY, "run", "--json", "-q", *args], capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture
def nginx():
    n = Nginx()
    yield n
    n.stop()


@pytest.fixture
def nginx_k7():
    n = Nginx(keepalive_requests=7)
    yield n
    n.stop()


def check_totals(res):
    t = res["totals"]
    assert t["requests"] == t["responses"] + t["transport_errors"]
    assert t["responses"] == sum(t["responses_by_status"].values())
    assert t["transport_errors"] == sum(t["errors_by_kind"].values())
    assert res["latency"]["count"] == t["responses"]


@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "no-keepalive"])
def test_exact_request_count_matches_nginx_log(nginx, keepalive):
    n = 100000
    args = ["-n", str(n), "-c", "20", "-t", "2", nginx.url + "/"]
    if not keepalive:
        args.insert(0, "--no-keepalive")
    res = volley_run(*args)
    check_totals(res)
    assert res["totals"]["requests"] == n
    assert res["totals"]["responses_by_status"] == {"200": n}
    assert nginx.logged_settled() == n
    if keepalive:
        assert res["totals"]["connections_opened"] == 20
    else:
        assert res["totals"]["connections_opened"] == n


@pytest.mark.serial  # duration within 4.9..6 s
@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "no-keepalive"])
def test_duration_run_responses_match_nginx_log(nginx, keepalive):
    args = ["-d", "5s", "-c", "20", "-t", "2", nginx.url + "/"]
    if not keepalive:
        args.insert(0, "--no-keepalive")
    res = volley_run(*args)
    check_totals(res)
    assert res["totals"]["errors"] == 0
    assert res["totals"]["responses"] > 1000
    assert nginx.logged_settled() == res["totals"]["responses"]
    assert 4.9 < res["duration_s"] < 6.0
    # One row per second of the run (the last may be a partial second).
    rows = res["series"]["rows"]
    assert 5 <= len(rows) <= 6
    assert sum(r[1] for r in rows) == res["totals"]["requests"]


def test_server_closing_every_k_requests_is_followed_exactly(nginx_k7):
    n = 30000
    res = volley_run("-n", str(n), "-c", "10", "-t", "2", nginx_k7.url + "/")
    check_totals(res)
    assert res["totals"]["responses_by_status"] == {"200": n}
    assert nginx_k7.logged_settled() == n
    # nginx closes after every 7th request on a connection.
    assert res["totals"]["connections_opened"] >= n // 7


def test_duration_with_server_closing_every_k(nginx_k7):
    res = volley_run("-d", "3s", "-c", "10", "-t", "2", nginx_k7.url + "/")
    check_totals(res)
    assert res["totals"]["errors"] == 0
    assert nginx_k7.logged_settled() == res["totals"]["responses"]
