"""Failures are failures: a request fails when it got no complete response
(a transport error) or a status outside --ok-status (default 200-399). The
`errors` threshold, results.json (totals, endpoints, series rows) and a
script's http_req_failed all count failed requests; transport_errors names
the socket-level ones alone. Timed-out requests stay in the latency
distribution at the time they were abandoned; latency_ok keeps the requests
that did not fail."""
import json
import subprocess

import pytest


def run(volley_bin, *args, timeout=60):
    return subprocess.run([volley_bin, "run", *args], capture_output=True, text=True,
                          timeout=timeout)


def results(volley_bin, tmp_path, *args, expect_rc=0):
    out = tmp_path / "out"
    p = run(volley_bin, *args, "--out", str(out))
    assert p.returncode == expect_rc, (p.returncode, p.stderr)
    return p, json.loads((out / "results.json").read_text())


def test_5xx_fails_the_errors_threshold(volley_bin, serve, tmp_path):
    p, res = results(volley_bin, tmp_path, serve.url + "/status/500", "-c", "2", "-d", "1s",
                     "--threshold", "errors<1%", expect_rc=99)
    t = res["totals"]
    assert t["requests"] > 0
    assert t["errors"] == t["requests"] == t["responses"]
    assert t["transport_errors"] == 0
    assert res["plan"]["ok_status"] == "200-399"
    cols = res["series"]["columns"]
    assert sum(r[cols.index("errors")] for r in res["series"]["rows"]) == t["errors"]
    assert "FAIL errors<1%" in p.stdout
    assert "unexpected status" in p.stdout and "outside --ok-status 200-399" in p.stdout


def test_ok_status_makes_5xx_expected(volley_bin, serve, tmp_path):
    p, res = results(volley_bin, tmp_path, serve.url + "/status/500", "-c", "2", "-d", "1s",
                     "--threshold", "errors<1%", "--ok-status", "200-599", "-q")
    assert res["totals"]["errors"] == 0
    assert res["plan"]["ok_status"] == "200-599"


def test_ok_status_narrower_than_default_fails_3xx(volley_bin, serve, tmp_path):
    _, res = results(volley_bin, tmp_path, "--endpoint", "ok=" + serve.url + "/health",
                     "--endpoint", "moved=" + serve.url + "/status/301", "-n", "50", "-c", "1",
                     "--ok-status", "200-299", "-q")
    eps = {e["name"]: e["totals"] for e in res["endpoints"]}
    assert eps["ok"]["errors"] == 0
    assert eps["moved"]["errors"] == eps["moved"]["requests"] == 50
    assert res["totals"]["errors"] == 50


def test_bad_ok_status_exits_2_naming_it(volley_bin, serve):
    for bad in ["abc", "99", "300-200", ""]:
        p = run(volley_bin, serve.url + "/health", "-n", "1", "--ok-status", bad, "--no-save")
        assert p.returncode == 2, (bad, p.stderr)
        assert "--ok-status" in p.stderr


SCRIPT = """
options = { vus = 2, iterations = 20, thresholds = { http_req_failed = {"rate<0.01"} } }
function default() http.get(ENV.BASE_URL .. "/status/500") end
"""


def test_script_http_req_failed_counts_5xx(volley_bin, serve, tmp_path):
    f = tmp_path / "failed.lua"
    f.write_text(SCRIPT)
    p, res = results(volley_bin, tmp_path, str(f), "-e", "BASE_URL=" + serve.url, "-q",
                     expect_rc=99)
    assert res["totals"]["errors"] == 20 and res["totals"]["transport_errors"] == 0
    names = res["script"]["names"]
    assert [n["failures"] for n in names.values()] == [20], names
    # The script honours --ok-status too, also in its per-name statistics.
    p = run(volley_bin, str(f), "-e", "BASE_URL=" + serve.url, "-q", "--no-save", "--json",
            "--ok-status", "500")
    assert p.returncode == 0, p.stderr
    names = json.loads(p.stdout)["script"]["names"]
    assert [n["failures"] for n in names.values()] == [0], names


@pytest.mark.serial  # latencies against --timeout
def test_timeouts_stay_in_latency_as_a_lower_bound(volley_bin, serve, tmp_path):
    timeout_ms = 150
    p, res = results(volley_bin, tmp_path, "--endpoint", "fast=" + serve.url + "/delay/5",
                     "--endpoint", "slow=" + serve.url + "/delay/400", "--rate", "20",
                     "-d", "1500ms", "--timeout", "%dms" % timeout_ms)
    t = res["totals"]
    eps = {e["name"]: e for e in res["endpoints"]}
    slow = eps["slow"]
    kinds = slow["totals"]["errors_by_kind"]
    # At the deadline a request may still be connecting: connect_timeout.
    assert kinds["timeout"] + kinds["connect_timeout"] == slow["totals"]["requests"] > 0, kinds
    # Every request is in latency: the responses and the timed-out ones.
    assert res["latency"]["count"] == t["requests"]
    assert slow["latency"]["count"] == slow["totals"]["requests"]
    # A timed-out request counts at the time it was abandoned (>= the timeout).
    assert slow["latency"]["min"] >= timeout_ms - 1
    assert res["latency"]["percentiles"]["p99"] >= timeout_ms - 1
    # latency_ok keeps the successful requests apart.
    assert res["latency_ok"]["count"] == t["requests"] - t["errors"]
    assert res["latency_ok"]["max"] < timeout_ms
    fast = eps["fast"]
    # (on a busy machine a fast request may time out too: it then fails)
    assert fast["latency_ok"]["count"] == fast["totals"]["requests"] - fast["totals"]["errors"] > 0
    assert "timed-out requests at the time they were abandoned" in p.stdout
    assert "latency ok" in p.stdout
