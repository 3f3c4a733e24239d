"""HTTP/1.1 pipelining (--pipeline N, alias --max-streams N): N requests in
flight per connection. Counts are exact against nginx's access log at
depths 1, 4 and 16 (-n, -d, the open model); a server that only answers
once several requests have arrived proves the requests really are in flight
together; a server that closes mid-pipeline leaves every request counted
once; responses are matched to the requests they answer."""
import json
import subprocess

import pytest

from badserver import BadServer
from nginxutil import Nginx
from test_tls import certs, tls_serve  # noqa: F401 (fixtures)


def run(volley_bin, *args, code=0, timeout=90):
    p = subprocess.run([volley_bin, "run", "--json", "-q", "--no-save", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == code, p.stderr
    return json.loads(p.stdout) if code == 0 else p


def check_totals(res):
    t = res["totals"]
    k = t["errors_by_kind"]
    assert t["requests"] == t["responses"] + t["transport_errors"]
    assert t["transport_errors"] == sum(k.values())
    assert t["responses"] == sum(t["responses_by_status"].values())
    # timeouts stay in latency at the time they were abandoned
    assert res["latency"]["count"] == t["responses"] + k["timeout"] + k["connect_timeout"]
    return t


@pytest.fixture(scope="module")
def nginx():
    n = Nginx()
    yield n
    n.stop()


@pytest.mark.parametrize("depth", [1, 4, 16])
def test_pipelined_request_count_matches_nginx_log(volley_bin, nginx, depth):
    nginx.reset_log()
    n = 20000
    res = run(volley_bin, "-n", str(n), "-c", "4", "-t", "2", "--pipeline", str(depth),
              nginx.url + "/")
    t = check_totals(res)
    assert t["responses_by_status"] == {"200": n}
    assert t["connections_opened"] == 4  # -c connections, each with depth VUs
    assert res["plan"]["pipeline"] == depth
    assert nginx.logged_settled() == n


@pytest.mark.parametrize("depth", [1, 4, 16])
def test_pipelined_duration_run_matches_nginx_log(volley_bin, nginx, depth):
    nginx.reset_log()
    res = run(volley_bin, "-d", "2s", "-c", "2", "-t", "2", "--max-streams", str(depth),
              nginx.url + "/")
    t = check_totals(res)
    assert t["transport_errors"] == 0 and t["responses"] > 0
    assert nginx.logged_settled() == t["responses"]


@pytest.mark.parametrize("depth", [1, 4, 16])
def test_pipelined_open_model_matches_nginx_log(volley_bin, nginx, depth):
    nginx.reset_log()
    res = run(volley_bin, "--rate", "2000", "-d", "2s", "-t", "1", "--max-connections", "2",
              "--pipeline", str(depth), nginx.url + "/")
    t = check_totals(res)
    assert t["requests"] + t["dropped_iterations"] == 4000
    assert t["transport_errors"] == 0
    assert t["connections_opened"] <= 2
    assert nginx.logged_settled() == t["responses"]


def test_requests_are_in_flight_together(volley_bin):
    # The server answers only when 4 requests have arrived: without
    # pipelining the first request would wait for its timeout.
    with BadServer("batch", k=4) as srv:
        res = run(volley_bin, "-n", "40", "-c", "1", "--pipeline", "4",
                  "--timeout", "5s", srv.url)
        t = check_totals(res)
        assert t["responses_by_status"] == {"200": 40}
        assert t["connections_opened"] == 1
        assert srv.answered == 40


def test_without_pipeline_the_batch_server_times_out(volley_bin):
    with BadServer("batch", k=2) as srv:
        res = run(volley_bin, "-n", "2", "-c", "1", "--timeout", "300ms", srv.url)
        assert res["totals"]["errors_by_kind"]["timeout"] >= 1


def test_server_closing_mid_pipeline_counts_each_unanswered_request_once(volley_bin):
    # 3 answers per connection, then FIN: with --no-retry the head of what
    # is left is stale_connection and every request behind it closed_early.
    with BadServer("answer_k_then_fin", k=3) as srv:
        res = run(volley_bin, "-n", "40", "-c", "1", "--pipeline", "8",
                  "--no-retry", "--timeout", "5s", srv.url, timeout=30)
        t = check_totals(res)
        assert t["requests"] == 40
        assert t["responses"] == srv.answered
        kinds = {k: v for k, v in t["errors_by_kind"].items() if v}
        assert set(kinds) <= {"stale_connection", "closed_early"}
        assert t["transport_errors"] == 40 - srv.answered
        assert kinds["closed_early"] > 0


def test_server_closing_mid_pipeline_retries_are_counted_and_reconcile(volley_bin):
    with BadServer("answer_k_then_fin", k=3) as srv:
        res = run(volley_bin, "-n", "40", "-c", "1", "--pipeline", "8",
                  "--timeout", "5s", srv.url, timeout=30)
        t = check_totals(res)
        assert t["requests"] == 40
        assert t["responses"] == srv.answered
        assert t["retries"] > 0
        assert t["transport_errors"] == 40 - srv.answered


def test_timeout_mid_pipeline_head_is_timeout_rest_closed_early(volley_bin):
    with BadServer("never_answer") as srv:
        res = run(volley_bin, "-n", "4", "-c", "1", "--pipeline", "4",
                  "--timeout", "300ms", srv.url, timeout=30)
        t = check_totals(res)
        kinds = {k: v for k, v in t["errors_by_kind"].items() if v}
        assert kinds == {"timeout": 1, "closed_early": 3}


def test_pipelined_responses_are_matched_to_their_requests(volley_bin):
    # Each path gets its own status and body size; mixed endpoints share
    # the connections, so a response given to the wrong request shows.
    with BadServer("by_path") as srv:
        base = srv.url.rstrip("/")
        res = run(volley_bin, "-n", "600", "-c", "2", "--pipeline", "8",
                  "--mode", "mixed", "--endpoint", f"a={base}/s/201",
                  "--endpoint", f"b={base}/s/404", "--endpoint", f"c={base}/s/299",
                  "--timeout", "5s", timeout=60)
        check_totals(res)
        for e in res["endpoints"]:
            code = {"a": "201", "b": "404", "c": "299"}[e["name"]]
            tot = e["totals"]
            assert tot["transport_errors"] == 0
            assert tot["responses_by_status"] == {code: tot["responses"]}, e["name"]
            assert tot["responses"] > 0


def test_pipeline_with_no_keepalive_is_refused(volley_bin):
    p = run(volley_bin, "--pipeline", "4", "--no-keepalive", "-n", "1",
            "http://127.0.0.1:1/", code=2)
    assert "--pipeline" in p.stderr


def test_pipelining_over_tls_and_against_volley_serve(volley_bin, serve, certs, tls_serve):  # noqa: F811
    s = tls_serve()
    for url, extra in [(serve.url + "/health", []),
                       (s.url + "/health", ["--cacert", certs["ca.pem"]])]:
        res = run(volley_bin, "-n", "3000", "-c", "2", "--pipeline", "16", *extra, url)
        t = check_totals(res)
        assert t["responses_by_status"] == {"200": 3000}, url
        assert t["connections_opened"] == 2, url


def test_open_model_takes_free_slots_on_the_open_connection(volley_bin):
    # One connection, a server that answers only 4 requests at a time: the
    # schedule goes through only if scheduled requests share the connection.
    with BadServer("batch", k=4) as srv:
        res = run(volley_bin, "--rate", "200", "-d", "1s", "-t", "1", "--max-connections", "1",
                  "--pipeline", "4", "--timeout", "2s", srv.url, timeout=30)
        t = check_totals(res)
        assert t["requests"] + t["dropped_iterations"] == 200
        assert t["responses"] >= 196  # the last batch may be short of 4
        assert t["responses"] == srv.answered
