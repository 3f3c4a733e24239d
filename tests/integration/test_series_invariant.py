"""The per-second series adds up: a property checked over a grid of run
shapes (closed, open, ramping VUs, ramping rate, sweeps with cool-down,
warm-up, -n and -d, -t 1..4, several endpoints, Lua scripts). For the run,
for each endpoint and for each sweep step, the sum of the series rows equals
the totals for every counted column (requests, responses, errors, transport
errors, bytes, dropped iterations, retries), the status-class columns add up to the totals' responses by
status (by class) and the error-kind columns to the totals' errors by kind,
and `second` strictly increases; with one endpoint, its rows are the run's
(cpu_pct aside). Each run is short (<= 2 s of
load) so the whole grid stays around a minute and a half."""
import json
import subprocess

import pytest

from badserver import BadServer

# Counted columns of a series row and their name in a totals block.
COUNTED = {"requests": "requests", "responses": "responses", "errors": "errors",
           "transport_errors": "transport_errors", "bytes_in": "bytes_in",
           "bytes_out": "bytes_out", "dropped": "dropped_iterations", "retries": "retries"}

SCRIPT = """
options = { scenarios = {
  a = { executor = "constant-vus", vus = 2, duration = "1500ms", exec = "fa" },
  b = { executor = "constant-arrival-rate", rate = 150, duration = "1500ms",
        preAllocatedVUs = 4, exec = "fb" },
} }
function fa() http.get(ENV.BASE_URL .. "/delay/3") http.get(ENV.BASE_URL .. "/status/404") end
function fb() http.get(ENV.BASE_URL .. "/bytes/100") end
"""

# (id, URL paths, flags); every run's load lasts at most 2 s.
GRID = [
    ("closed-d-t1", ["/delay/2"], ["-c", "4", "-d", "1500ms", "-t", "1"]),
    ("closed-d-t3", ["/delay/2"], ["-c", "6", "-d", "1500ms", "-t", "3"]),
    ("closed-n-t2", ["/bytes/200"], ["-c", "5", "-n", "3000", "-t", "2"]),
    ("closed-n-t4-eps", ["/health", "/delay/3", "/status/503"], ["-c", "4", "-n", "400", "-t", "4"]),
    ("open-t2", ["/delay/5"], ["--rate", "300", "-d", "2s", "-t", "2"]),
    ("open-t4", ["/delay/1"], ["--rate", "400", "-d", "1500ms", "-t", "4"]),
    ("open-n-t3", ["/health"], ["--rate", "500", "-n", "600", "-t", "3"]),
    ("open-eps-mixed", ["/health", "/delay/4"],
     ["--rate", "300", "-d", "1500ms", "-t", "2", "--mode", "mixed"]),
    ("open-eps", ["/health", "/status/500"], ["--rate", "200", "-d", "1500ms", "-t", "3"]),
    ("ramping-vus", ["/delay/2"], ["--stages", "4:1s,1:1s", "-t", "2"]),
    ("ramping-rate", ["/delay/2"],
     ["--stages", "100:1s,400:1s", "--executor", "ramping-arrival-rate", "-t", "2"]),
    ("sweep-cooldown", ["/delay/3"],
     ["--rates", "200,100", "-d", "1s", "--cooldown", "500ms", "-t", "2"]),
    ("sweep-eps", ["/health", "/delay/2"], ["--rates", "100,300", "-d", "1s", "-t", "4"]),
    ("warmup-open", ["/delay/2"], ["--warmup", "500ms", "--rate", "300", "-d", "1500ms", "-t", "2"]),
    ("warmup-closed", ["/health"], ["--warmup", "500ms", "-c", "3", "-d", "1500ms", "-t", "1"]),
    ("timeouts", ["/delay/100"], ["--rate", "100", "-d", "1500ms", "--timeout", "50ms", "-t", "2"]),
]


def sums(rows, cols):
    idx = {c: i for i, c in enumerate(cols)}
    return {c: sum(r[idx[c]] for r in rows) for c in COUNTED if c in idx}


def status_class(code):
    code = int(code)
    return "status_%dxx" % (code // 100) if 100 <= code < 600 else "status_other"


def check_breakdown(where, cols, rows, tot):
    """Status-class and error-kind columns per row sum to the totals."""
    idx = {c: i for i, c in enumerate(cols)}
    want = {"status_%s" % c: 0 for c in ("other", "1xx", "2xx", "3xx", "4xx", "5xx")}
    for code, n in tot["responses_by_status"].items():
        want[status_class(code)] += n
    for kind, n in tot["errors_by_kind"].items():
        want["errors_" + kind] = n
    for col, n in want.items():
        assert col in idx, (where, "series has no column", col, cols)
        assert sum(r[idx[col]] for r in rows) == n, (where, col, n)
    for r in rows:  # each row: classes add up to responses, kinds to transport errors
        assert sum(r[idx[c]] for c in cols if c.startswith("status_")) == r[idx["responses"]]
        assert (sum(r[idx[c]] for c in cols if c.startswith("errors_"))
                == r[idx["transport_errors"]])


def check_block(where, block):
    ser = block["series"]
    cols, rows = ser["columns"], ser["rows"]
    secs = [r[cols.index("second")] for r in rows]
    assert all(a < b for a, b in zip(secs, secs[1:])), (where, secs)
    tot = block["totals"]
    got = sums(rows, cols)
    for c, total_name in COUNTED.items():
        assert c in got, (where, "series has no column", c, cols)
        assert got[c] == tot[total_name], (where, c, got[c], tot[total_name], secs)
    check_breakdown(where, cols, rows, tot)
    return tot["requests"]


def check_one_endpoint(where, block):
    """A block with one endpoint: the endpoint's rows are the block's, but
    for cpu_pct (the run's rows only). The engine copies them when a shape
    ends instead of keeping both series while it runs."""
    eps = block.get("endpoints") or []
    if len(eps) != 1:
        return
    run, ep = block["series"], eps[0]["series"]
    assert ep["columns"] == run["columns"], where
    cpu = run["columns"].index("cpu_pct")
    strip = lambda rows: [r[:cpu] + r[cpu + 1:] for r in rows]
    assert strip(ep["rows"]) == strip(run["rows"]), where
    assert all(r[cpu] == 0 for r in ep["rows"]), where


def check_results(res):
    n = check_block("run", res)
    assert n > 0
    for ep in res["endpoints"]:
        check_block("endpoint " + ep["name"], ep)
    check_one_endpoint("run", res)
    for k, st in enumerate(res.get("steps") or []):
        check_block("step %d" % k, st)
        for ep in st.get("endpoints") or []:
            check_block("step %d endpoint %s" % (k, ep["name"]), ep)
        check_one_endpoint("step %d" % k, st)
    if res.get("steps"):
        secs = [r[0] for st in res["steps"] for r in st["series"]["rows"]]
        assert all(a < b for a, b in zip(secs, secs[1:])), secs


def run(volley_bin, tmp_path, args):
    out = tmp_path / "out"
    p = subprocess.run([volley_bin, "run", *args, "--out", str(out), "-q"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("paths,flags", [g[1:] for g in GRID], ids=[g[0] for g in GRID])
def test_series_rows_add_up_to_totals(volley_bin, serve, tmp_path, paths, flags):
    if len(paths) == 1:
        target = [serve.url + paths[0]]
    else:
        target = []
        for i, pth in enumerate(paths):
            target += ["--endpoint", "e%d=%s%s" % (i, serve.url, pth)]
    check_results(run(volley_bin, tmp_path, target + flags))


@pytest.mark.parametrize("threads", ["1", "3"])
def test_script_series_rows_add_up(volley_bin, serve, tmp_path, threads):
    f = tmp_path / "mix.lua"
    f.write_text(SCRIPT)
    res = run(volley_bin, tmp_path, [str(f), "-e", "BASE_URL=" + serve.url, "-t", threads])
    check_results(res)
    assert len(res["endpoints"]) == 2


@pytest.mark.serial  # retries spread over seconds
@pytest.mark.parametrize("mode", ["url", "script"])
def test_retries_are_counted_in_the_second_they_happen(volley_bin, tmp_path, mode):
    # Five responses per connection, then a silent close: a closed-model
    # client reuses the connection at once, meets the close and retries;
    # each retry is counted in that second's row.
    with BadServer("close_idle", per_conn=5) as bad:
        if mode == "url":
            args = [bad.url, "-c", "2", "-d", "2500ms", "-t", "2"]
        else:
            f = tmp_path / "retry.lua"
            f.write_text('options = { vus = 2, duration = "2500ms" }\n'
                         'function default() http.get(%r) end\n' % bad.url)
            args = [str(f), "-t", "2"]
        res = run(volley_bin, tmp_path, args)
    check_results(res)
    ser = res["series"]
    col = ser["columns"].index("retries")
    per_sec = [r[col] for r in ser["rows"]]
    assert res["totals"]["retries"] > 0
    # Spread over the run, not put in one row at the end.
    assert len([n for n in per_sec if n > 0]) >= 2, per_sec


WS_SCRIPT = """
options = { scenarios = {
  chat = { executor = "constant-vus", vus = 3, duration = "1500ms", exec = "chat" },
  hold = { executor = "per-vu-iterations", vus = 2, iterations = 1, exec = "hold" },
  api = { executor = "constant-vus", vus = 1, duration = "1s", exec = "api" },
} }
function chat()
  local s = ws.open(ENV.WS_URL)
  for i = 1, 3 do s:send("m" .. i, { rtt = true }); s:recv(2) end
  sleep(0.15)
  s:close()
end
function hold()  -- a socket open over several seconds' rows
  local s = ws.open(ENV.WS_URL)
  for i = 1, 20 do s:send("h" .. i); s:recv(2); sleep(0.1) end
  s:close()
end
function api() http.get(ENV.BASE_URL .. "/delay/5") end
"""

# series column -> key of a scenario's script.scenarios.NAME.ws block
WS_COUNTED = {"ws_sessions": ("sessions",), "ws_msgs_sent": ("messages_sent",),
              "ws_msgs_received": ("messages_received",), "ws_rtts": ("rtt", "count"),
              "ws_closed": ("session_duration", "count")}


def ws_total(ws, key):
    v = ws
    for k in key:
        v = (v or {}).get(k, 0) if isinstance(v, dict) else 0
    return v or 0


def check_ws_block(where, block, wsblocks):
    cols, rows = block["series"]["columns"], block["series"]["rows"]
    idx = {c: i for i, c in enumerate(cols)}
    for col, key in WS_COUNTED.items():
        want = sum(ws_total(w, key) for w in wsblocks)
        got = sum(r[idx[col]] for r in rows) if col in idx else 0
        assert got == want, (where, col, got, want)
    if "ws_open" in idx:  # sockets open at each second's end: opened - ended so far
        opened = closed = 0
        for r in rows:
            opened += r[idx["ws_sessions"]]
            closed += r[idx["ws_closed"]]
            assert r[idx["ws_open"]] == opened - closed, (where, r[0], opened, closed)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_ws_series_rows_add_up(volley_bin, serve, tmp_path, threads):
    """WebSocket sessions, messages and round trips per second add up to the
    script's WebSocket totals, per scenario (endpoint) and for the run."""
    f = tmp_path / "ws.lua"
    f.write_text(WS_SCRIPT)
    ws_url = serve.url.replace("http://", "ws://") + "/ws"
    res = run(volley_bin, tmp_path, [str(f), "-e", "BASE_URL=" + serve.url,
                                     "-e", "WS_URL=" + ws_url, "-t", threads])
    check_results(res)  # the HTTP columns too
    scen = res["script"]["scenarios"]
    assert scen["chat"]["ws"]["sessions"] > 0 and scen["hold"]["ws"]["messages_sent"] == 40
    assert scen["chat"]["ws"]["rtt"]["count"] > 0
    check_ws_block("run", res, [s.get("ws") for s in scen.values()])
    for ep in res["endpoints"]:
        check_ws_block("endpoint " + ep["name"], ep, [scen[ep["name"]].get("ws")])
    cols = res["series"]["columns"]
    rows = res["series"]["rows"]
    # the held sockets show as open over more than one row
    assert len([r for r in rows if r[cols.index("ws_open")] > 0]) >= 2, rows
