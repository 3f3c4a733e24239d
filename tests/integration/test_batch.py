"""http.batch({...}): a VU's requests in parallel, each on a connection of
its own (as k6's batch), responses in the order given (or by the names
given), counted as ordinary requests, with the VU's cookie jar."""
import json
import subprocess

import pytest

from test_flags import Rec


def run(volley_bin, tmp_path, body, url, *args, code=0):
    s = tmp_path / "b.lua"
    s.write_text(body)
    p = subprocess.run([volley_bin, "run", str(s), "-e", "URL=" + url, "--no-save", "--json",
                        *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == code, p.stderr
    return json.loads(p.stdout), p.stderr


@pytest.mark.serial  # batch time < 600 ms
def test_batch_runs_in_parallel(volley_bin, serve, tmp_path):
    res, _ = run(volley_bin, tmp_path, '''
options = { iterations = 3 }
local took = metrics.trend("batch_ms")
function default()
  local t0 = now()
  local rs = http.batch({ ENV.URL .. "/delay/200", ENV.URL .. "/delay/200",
                          ENV.URL .. "/delay/200", ENV.URL .. "/delay/200" })
  took:add(now() - t0)
  assert(#rs == 4 and rs[4].status == 200)
end
''', serve.url)
    t = res["script"]["metrics"]["batch_ms"]
    # 4 x 200 ms in sequence would be 800 ms; in parallel about 200.
    assert 195 <= t["min"] and t["max"] < 600, t
    assert res["totals"]["requests"] == 12 and res["totals"]["errors"] == 0


def test_batch_forms_order_names_and_counts(volley_bin, serve, tmp_path):
    res, err = run(volley_bin, tmp_path, '''
options = { iterations = 1 }
function default()
  local U = ENV.URL
  local rs = http.batch({
    U .. "/status/201",
    { "POST", U .. "/echo", "hello", { name = "echo" } },
    { method = "post", url = U .. "/echo", body = "put-body" },
    { "GET", U .. "/status/404" },
  })
  print("list", rs[1].status, rs[2].status, rs[2].body, rs[3].body, rs[4].status)
  local m = http.batch({ one = U .. "/status/202", two = { "GET", U .. "/status/203" } })
  print("named", m.one.status, m.two.status)
end
''', serve.url)
    assert "list\t201\t200\thello\tput-body\t404" in err, err
    assert "named\t202\t203" in err, err
    assert res["totals"]["requests"] == 6
    assert res["totals"]["responses_by_status"] == {"200": 2, "201": 1, "202": 1, "203": 1, "404": 1}
    assert res["script"]["names"]["echo"]["requests"] == 1, res["script"]["names"]


def test_batch_own_connections_kept_and_cookie_jar(volley_bin, tmp_path):
    rec = Rec(extra=b"Set-Cookie: sid=abc; Path=/\r\n")
    try:
        res, _ = run(volley_bin, tmp_path, '''
options = { iterations = 2 }
function default()
  http.get(ENV.URL .. "/login")
  http.batch({ ENV.URL .. "/a", ENV.URL .. "/b", ENV.URL .. "/c" })
end
''', rec.url)
        # one connection for the VU, three for the batch helpers; kept for
        # the second iteration
        assert rec.srv.accepted == 4, rec.srv.accepted
        batch = [h for h in rec.heads if h.split(" ")[1] in ("/a", "/b", "/c")]
        assert len(batch) == 6 and all("\r\nCookie: sid=abc" in h for h in batch), batch
        assert res["totals"]["requests"] == 8
    finally:
        rec.stop()


@pytest.mark.serial  # batch time < 1.5 s
def test_batch_beyond_parallel_limit(volley_bin, serve, tmp_path):
    res, _ = run(volley_bin, tmp_path, '''
options = { iterations = 1 }
local took = metrics.trend("batch_ms")
function default()
  local reqs = {}
  for i = 1, 25 do reqs[i] = ENV.URL .. "/delay/150" end
  local t0 = now()
  local rs = http.batch(reqs)
  took:add(now() - t0)
  for i = 1, 25 do assert(rs[i].status == 200, i) end
end
''', serve.url)
    t = res["script"]["metrics"]["batch_ms"]
    # 20 at a time: two rounds of 150 ms, not 25
    assert 295 <= t["min"] < 1500, t
    assert res["totals"]["requests"] == 25 and res["script"]["iteration_errors"] == 0


def test_batch_bad_request_raises_naming_it(volley_bin, serve, tmp_path):
    res, _ = run(volley_bin, tmp_path, '''
options = { iterations = 1 }
function default()
  http.batch({ ENV.URL .. "/health", "not a url" })
end
''', serve.url)
    errs = res["script"]["errors"]
    assert res["script"]["iteration_errors"] == 1
    assert any("http.batch: request 2" in e["message"] for e in errs), errs


def test_batch_in_flight_when_the_scenario_ends_is_cancelled(volley_bin, serve, tmp_path):
    import time
    t0 = time.monotonic()
    res, _ = run(volley_bin, tmp_path, '''
options = { scenarios = { s = { executor = "constant-vus", vus = 1, duration = "300ms",
                                gracefulStop = "300ms" } } }
function default()
  http.batch({ ENV.URL .. "/delay/20000", ENV.URL .. "/delay/20000", ENV.URL .. "/delay/20000" })
end
''', serve.url)
    assert time.monotonic() - t0 < 8
    # the three helpers' requests are dropped with the iteration, each counted
    assert res["totals"]["errors_by_kind"].get("cancelled", 0) == 3, res["totals"]
    assert res["script"]["scenarios"]["s"]["iterations"] == 0
