"""A script's thresholds in k6's grammar: every metric kind volley keeps,
tag filters, malformed or unknown ones refused before any load (exit 2),
"no data" failing, and abortOnFail/delayAbortEval stopping the run."""
import json
import subprocess
import time

import pytest

from badserver import BadServer


def script(tmp_path, thresholds, body="", top="", vus=1, iters=4, duration=None):
    opts = 'vus = %d, %s' % (vus, ('duration = "%s"' % duration) if duration else
                              "iterations = %d" % iters)
    f = tmp_path / "thr.lua"
    f.write_text('%s\noptions = { %s, thresholds = { %s } }\nfunction default()\n%s\nend\n'
                 % (top, opts, thresholds, body))
    return str(f)


def run(volley_bin, path, url, *extra, timeout=60):
    return subprocess.run([volley_bin, "run", path, "-e", "URL=" + url, "--no-save", "--json",
                           *extra], capture_output=True, text=True, timeout=timeout)


def verdicts(p):
    return {t["expr"]: (t["ok"], t["actual_text"] if "actual_text" in t else t.get("actual"))
            for t in json.loads(p.stdout)["thresholds"]}


BODY = '''
  local r = http.get(ENV.URL .. "/delay/5")
  check(r, { ["is 200"] = function(r) return r.status == 200 end })
  group("cart", function() check(r, { ["in cart"] = function() return false end }) end)
  lat:add(120, { kind = "slow" })
  lat:add(10, { kind = "fast" })
  hits:add(2)
  okr:add(true)
  okr:add(false)
  g:add(42)
'''
TOP = ('local lat = metrics.trend("step_ms")\nlocal hits = metrics.counter("hits")\n'
       'local okr = metrics.rate("ok_rate")\nlocal g = metrics.gauge("queue")')


@pytest.mark.parametrize("key,expr,ok", [
    ("http_req_duration", "p(95)<2000", True),
    ("http_req_duration", "avg<1", False),
    ("http_req_duration{scenario:default}", "max<2000", True),
    ("http_req_waiting", "p(50)<2000", True),
    ("http_req_connecting", "max<2000", True),
    ("http_req_failed", "rate<0.01", True),
    ("http_reqs", "count==4", True),
    ("http_reqs{status:200}", "count>=4", True),
    ("http_reqs{status:500}", "count>0", False),
    ("http_reqs", "rate>0", True),
    ("iterations", "count==4", True),
    ("iteration_duration", "p(99)<3000", True),
    ("data_received", "count>100", True),
    ("data_sent", "count<1", False),
    ("checks", "rate>0.6", False),
    ("checks{group:::cart}", "rate==0", True),
    ("step_ms", "p(95)<100", False),
    ("step_ms", "min>=10", True),
    ("step_ms{kind:fast}", "max<11", True),
    ("step_ms{kind:slow}", "avg<100", False),
    ("hits", "count==8", True),
    ("hits", "count>8", False),
    ("ok_rate", "rate==0.5", True),
    ("queue", "value==42", True),
    ("queue", "value<42", False),
])
def test_every_metric_kind(volley_bin, serve, tmp_path, key, expr, ok):
    p = run(volley_bin, script(tmp_path, '["%s"] = {"%s"}' % (key, expr), BODY, TOP), serve.url)
    assert p.returncode == (0 if ok else 99), p.stderr
    v = verdicts(p)
    assert v["%s: %s" % (key, expr)][0] is ok, v


@pytest.mark.parametrize("thr,needle", [
    ('http_req_duration = {"p95<200"}', "'p95<200' is not AGGREGATION OPERATOR NUMBER"),
    ('http_req_durations = {"p(95)<200"}', "no metric 'http_req_durations' (did you mean 'http_req_duration'?)"),
    ('stepms = {"p(95)<200"}', "did you mean 'step_ms'?"),
    ('http_req_blocked = {"p(95)<200"}', "volley does not measure http_req_blocked"),
    ('hits = {"p(95)<5"}', "'hits' is a counter, which has no 'p'"),
    ('checks = {"avg>0.5"}', "'checks' is a rate, which has no 'avg'"),
    ('["http_req_duration{method:GET}"] = {"p(95)<200"}', "not by 'method'"),
    ('http_req_duration = {{threshold = "p(95)<200", abortOnFail = true, bogus = 1}}', "bogus: unknown field"),
    ('step_ms = {{threshold = "p(95)<200", abortOnFail = true}}', "abortOnFail is judged live on"),
])
def test_bad_thresholds_exit_2_before_any_load(volley_bin, tmp_path, thr, needle):
    with BadServer("close_idle", per_conn=1) as bad:
        p = run(volley_bin, script(tmp_path, thr, BODY, TOP), bad.url)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert needle in p.stderr, p.stderr
        assert bad.answered == 0


def test_no_data_fails(volley_bin, serve, tmp_path):
    p = run(volley_bin, script(tmp_path, 'checks = {"rate>0"}, step_ms = {"avg<1"}', "", TOP),
            serve.url)
    assert p.returncode == 99
    v = verdicts(p)
    assert v["checks: rate>0"] == (False, "no data")
    assert v["step_ms: avg<1"] == (False, "no data")


def test_abort_on_fail_stops_the_run(volley_bin, serve, tmp_path):
    thr = 'http_req_duration = {{threshold = "p(95)<1", abortOnFail = true}}'
    body = 'http.get(ENV.URL .. "/delay/20")'
    t0 = time.monotonic()
    p = run(volley_bin, script(tmp_path, thr, body, duration="30s"), serve.url, timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 99, p.stderr
    assert took < 20, took
    res = json.loads(p.stdout)
    assert res["thresholds"][0]["ok"] is False


def test_delay_abort_eval_waits(volley_bin, serve, tmp_path):
    thr = ('http_req_duration = {{threshold = "p(95)<1", abortOnFail = true, '
           'delayAbortEval = "3s"}}')
    body = 'http.get(ENV.URL .. "/delay/20")'
    t0 = time.monotonic()
    p = run(volley_bin, script(tmp_path, thr, body, duration="30s"), serve.url, timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 99, p.stderr
    assert 3 <= took < 25, took
