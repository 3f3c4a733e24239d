"""Script utilities a k6 or Locust user reaches for: table bodies as JSON
or forms, query tables, response headers in any case, encoding and crypto
helpers, uuid() and rand() reproducible with --seed (recorded in
results.json), now() in milliseconds, csv() with a BOM and quoted
newlines, require() beside the script."""
import json
import os
import re
import subprocess
import uuid

import pytest

DATA = os.path.join(os.path.dirname(__file__), "data", "scripting")


def run(volley_bin, serve, *args):
    p = subprocess.run([volley_bin, "run", os.path.join(DATA, "utilities.lua"), "-e",
                        "URL=" + serve.url, "--no-save", "--json", *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    vals = {}
    for line in p.stderr.splitlines():
        m = re.match(r"\[VU \d+\] (\w+)\t(.*)$", line)
        if m:
            vals[m.group(1)] = m.group(2)
    return vals, json.loads(p.stdout)


def vu1_lines(volley_bin, serve, script):
    """Runs script with ENV.URL set to serve; what VU 1 printed, a line each."""
    p = subprocess.run([volley_bin, "run", str(script), "-e", "URL=" + serve.url, "--no-save", "-q"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [l.split("] ", 1)[1] for l in p.stderr.splitlines() if l.startswith("[VU 1]")]


@pytest.fixture
def out(volley_bin, serve):
    return run(volley_bin, serve, "--seed", "42")


def test_table_bodies_queries_and_headers(out):
    v, _ = out
    assert json.loads(v["json_body"]) == {"item": 7, "tags": ["a", "b"]}
    assert v["json_path"] == "/echo?q=a%20b&z=1"
    assert v["ci_header"] == "POST"
    assert v["form_body"] == "n=3&name=al%20ice"


def test_encoding_and_crypto_known_values(out):
    v, _ = out
    assert v["b64"] == "aGVsbG8/" and v["b64rawurl"] == "aGVsbG8_" and v["b64dec"] == "hello?"
    assert v["urlenc"] == "a%20b%26c%2F%C3%A9" and v["urldec"] == "a b&c"
    assert v["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert v["md5"] == "900150983cd24fb0d6963f7d28e17f72"
    # RFC 4231-style check against Python's own HMAC.
    import hashlib
    import hmac
    want = hmac.new(b"key", b"The quick brown fox jumps over the lazy dog",
                    hashlib.sha256).hexdigest()
    assert v["hmac"] == want
    import base64
    assert v["hmac_b64"] == base64.b64encode(
        hmac.new(b"key", b"x", hashlib.sha256).digest()).decode()


def test_random_is_seeded_and_recorded(volley_bin, serve, out):
    v, res = out
    assert uuid.UUID(v["uuid"]).version == 4
    assert 0 <= float(v["rand"]) < 1 and 1 <= int(v["rand10"]) <= 10
    assert v["rand56"] in ("5", "6")
    assert res["script"]["seed"] == 42
    again, _ = run(volley_bin, serve, "--seed", "42")
    for k in ("uuid", "rand", "rand10", "math_random"):
        assert again[k] == v[k], k
    other, res2 = run(volley_bin, serve, "--seed", "43")
    assert other["uuid"] != v["uuid"] and other["rand"] != v["rand"]
    # Without --seed one is chosen and recorded, so the run can be repeated.
    free, res3 = run(volley_bin, serve)
    seed = res3["script"]["seed"]
    assert seed > 0
    repeat, _ = run(volley_bin, serve, "--seed", str(seed))
    assert repeat["uuid"] == free["uuid"]


def test_now_is_milliseconds_of_wall_time(out):
    v, _ = out
    assert 180 <= float(v["slept_ms"]) < 2000
    import time
    assert abs(float(v["wallclock"]) / 1000 - time.time()) < 60


def test_csv_bom_quoted_newlines_and_require(out):
    v, _ = out
    assert v["require"] == "hello vu"
    assert v["csv_rows"] == "3" and v["csv_first_key"] == "1"
    assert v["csv_multiline"] == 'two\\nlines, and a "quote"'
    assert v["csv_empty"] == ""


def test_seed_is_refused_for_url_runs(volley_bin):
    p = subprocess.run([volley_bin, "run", "--seed", "1", "-n", "1", "http://127.0.0.1:1/"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--seed" in p.stderr


@pytest.mark.parametrize("body,needle", [
    ("true", "the body must be a string or a table, not a boolean"),
    ("'x', 5", "params must be a table"),
])
def test_bad_http_arguments_point_at_the_users_line(volley_bin, serve, tmp_path, body, needle):
    f = tmp_path / "bad.lua"
    f.write_text('options = { vus = 1, iterations = 1 }\nfunction default()\n'
                 '  http.post(ENV.URL .. "/echo", %s)\nend\n' % body)
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save",
                        "--json"], capture_output=True, text=True, timeout=30)
    res = json.loads(p.stdout)
    errs = res["script"]["errors"]
    assert errs and needle in errs[0]["message"] and "bad.lua:3:" in errs[0]["message"], errs


def test_first_five_errors_are_logged_per_run_not_per_thread(volley_bin, tmp_path):
    f = tmp_path / "errs.lua"
    f.write_text('options = { vus = 8, iterations = 40 }\n'
                 'function default() error("boom " .. vu.id) end\n')
    p = subprocess.run([volley_bin, "run", str(f), "-t", "2", "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.stderr.count("script error") == 5, p.stderr
    assert "errs.lua:2: boom" in p.stderr
    res = json.loads(p.stdout)
    assert sum(e["count"] for e in res["script"]["errors"]) == 40


def _lines(stderr, tag):
    return [l.split("\t")[1:] for l in stderr.splitlines()
            if re.match(r"\[VU \d+\] " + tag + "\t", l)]


def test_setup_data_reaches_every_vu_and_teardown(volley_bin, serve):
    p = subprocess.run([volley_bin, "run", os.path.join(DATA, "lifecycle.lua"), "-e",
                        "URL=" + serve.url, "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    inits = _lines(p.stderr, "init")
    assert sorted(i[0] for i in inits) == ["1", "2"]
    assert all(i[1] == "tok-123" for i in inits)
    iters = _lines(p.stderr, "iter")
    assert len(iters) == 6
    # Each VU counts its own copy: 1, 2, 3 per VU, never 1..6.
    per_vu = {}
    for vu_id, n, _ in iters:
        per_vu.setdefault(vu_id, []).append(int(n))
    assert all(v == list(range(1, len(v) + 1)) for v in per_vu.values()), per_vu
    # teardown sees setup's data as setup returned it.
    assert _lines(p.stderr, "teardown") == [["tok-123", "0"]]
    res = json.loads(p.stdout)
    s = res["script"]
    assert s["setup"]["requests"] == 1 and s["teardown"]["requests"] == 0
    # The scenarios' numbers hold their own requests only.
    assert res["totals"]["requests"] == 6


def test_setup_that_raises_stops_the_run(volley_bin, serve, tmp_path):
    f = tmp_path / "bad.lua"
    f.write_text('function setup() error("no login") end\nfunction default() '
                 'http.get(ENV.URL .. "/health") end\n')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "setup() failed, so the scenarios did not run: " in p.stderr
    assert "bad.lua:1: no login" in p.stderr


def test_shared_loads_once_and_every_vu_reads_it(volley_bin, tmp_path):
    (tmp_path / "notes.csv").write_bytes(open(os.path.join(DATA, "notes.csv"), "rb").read())
    f = tmp_path / "sh.lua"
    f.write_text('''
local loads = 0
local rows = shared("notes", function() print("loading"); return csv("notes.csv") end)
local objs = shared("objs", function() return { { id = 1, n = "x" }, { id = 2, n = 2.5 } } end)
local list = shared("list", function() return { "a", 7, true } end)
options = { vus = 4, iterations = 8 }
function default()
  local n = 0
  for _, r in ipairs(rows) do n = n + 1 end
  print(table.concat({ "row", #rows, n, rows[2].note:gsub("\\n", "|"), tostring(rows[3].note == ""),
        objs[1].n, tostring(objs[2].n), #list, list[1], tostring(list[2]), tostring(list[3]),
        tostring(rows[99]) }, "\\t"))
  local ok, e = pcall(function() rows[1] = 1 end)
  print("ro\\t" .. tostring(ok) .. "\\t" .. e)
end
''')
    p = subprocess.run([volley_bin, "run", str(f), "-t", "2", "--no-save"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # The loader ran once in the whole process (threads included).
    assert p.stderr.count("loading") == 1, p.stderr
    rows = [l.split("\t")[1:] for l in p.stderr.splitlines() if re.match(r"\[VU \d+\] row\t", l)]
    assert len(rows) == 8
    assert all(r == ["3", "3", 'two|lines, and a "quote"', "true", "x", "2.5", "3", "a", "7",
                     "true", "nil"] for r in rows), rows[0]
    ro = [l for l in p.stderr.splitlines() if "] ro\t" in l]
    assert ro and all("false" in l and "shared data is read-only" in l for l in ro)


def _max_rss_kb(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.stderr.read()
    proc.stderr.close()
    assert os.waitstatus_to_exitcode(status) == 0
    return ru.ru_maxrss


def test_shared_csv_costs_less_than_twice_its_size(volley_bin, tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "w") as f:
        f.write("id,email,name\n")
        i = 0
        while f.tell() < 20 * 1024 * 1024:
            f.write("%d,user%d@example.com,%s\n" % (i, i, "n" * 40))
            i += 1
    size_kb = os.path.getsize(big) / 1024
    body = 'options = { vus = 200, duration = "1s" }\nfunction default() %s sleep(0.05) end\n'
    with_data = tmp_path / "with.lua"
    with_data.write_text('local rows = shared("u", function() return csv("big.csv") end)\n' +
                         body % 'if not rows[rand(#rows)].email then error("x") end')
    without = tmp_path / "without.lua"
    without.write_text(body % "")
    base = _max_rss_kb([volley_bin, "run", str(without), "-t", "2", "--no-save", "-q"])
    used = _max_rss_kb([volley_bin, "run", str(with_data), "-t", "2", "--no-save", "-q"])
    assert used - base < 2 * size_kb, (used, base, size_kb)


def test_statistics_by_name(volley_bin, serve, tmp_path):
    f = tmp_path / "names.lua"
    f.write_text('''
options = { vus = 2, iterations = 10,
  thresholds = { ["http_req_duration{name:item}"] = {"p(95)<5000"},
                 ["http_req_failed{name:" .. ENV.URL .. "/status/500}"] = {"rate==1"},
                 ["http_reqs{name:item}"] = {"count==10"} } }
function default()
  http.get(ENV.URL .. "/delay/2?id=" .. vu.iteration, { name = "item" })
  http.get(ENV.URL .. "/health?x=" .. rand(1000))
  http.get(ENV.URL .. "/status/500")
end
''')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    names = res["script"]["names"]
    # params.name groups the ids; without it, the URL less its query is the name.
    assert set(names) == {"item", serve.url + "/health", serve.url + "/status/500"}
    assert names["item"]["requests"] == 10 and names["item"]["failures"] == 0
    assert names[serve.url + "/status/500"]["failures"] == 10
    assert names["item"]["latency_ms"]["p50"] >= 2
    assert sum(n["requests"] for n in names.values()) == res["totals"]["requests"] == 30
    assert all(t["ok"] for t in res["thresholds"]), res["thresholds"]


def test_names_past_the_limit_fold_into_other(volley_bin, serve, tmp_path):
    f = tmp_path / "many.lua"
    f.write_text('options = { vus = 1, iterations = 1 }\nfunction default()\n'
                 '  for i = 1, 250 do http.get(ENV.URL .. "/bytes/" .. i) end\nend\n')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)["script"]
    assert len(s["names"]) == 201 and s["names"]["other"]["requests"] == 50
    assert s["names_folded"] is True
    assert "more than 200 request names" in p.stderr


def test_ws_round_trip_pairs_by_key_in_a_broadcast_room(volley_bin, serve, tmp_path):
    # Two members of one broadcast room: each message reaches both, so the
    # next message after a send is often the other member's. Keyed round
    # trips pair each send with its own echo, and only with it.
    f = tmp_path / "room.lua"
    f.write_text('''
options = { vus = 2, iterations = 2 }
function setup()
  return { id = http.post(ENV.URL .. "/api/sessions", nil):json().id }
end
function default(data)
  local base = ENV.URL:gsub("^http", "ws")
  local s = assert(ws.open(base .. "/ws/sessions/" .. data.id .. "?broadcast=1"))
  for i = 1, 10 do
    local key = "vu" .. vu.id .. "-" .. vu.iteration .. "-" .. i
    s:send(key, { rtt = key })
    sleep(0.005)
  end
  s:send("never-echoed", { rtt = "zzz-not-a-reply" })
  sleep(0.3)
  s:close()
end
''')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    sc = json.loads(p.stdout)["script"]["scenarios"]["default"]
    # Two iterations in all (shared), 10 keyed sends each: every one answered
    # by its own echo, the unmatched key never, other members' copies not.
    assert sc["ws"]["messages_sent"] == 22
    assert sc["ws"]["rtt"]["count"] == 20, sc["ws"]
    assert sc["ws"]["messages_received"] > 22


def test_driver_cookie_jar_and_errors_between_iterations(volley_bin, tmp_path):
    """The VU driver runs a scenario's iterations under one xpcall: cookies a
    VU got in vu_init reach its first iteration, the jar is emptied before
    every later one (after an iteration that raised too), an error ends only
    its own iteration, and error(msg, 2) in the VU function adds no position
    of the driver's."""
    from test_flags import Rec
    rec = Rec(extra=b"Set-Cookie: sid=abc; Path=/\r\n")
    try:
        f = tmp_path / "jar.lua"
        f.write_text('''options = { vus = 1, iterations = 4 }
function vu_init() http.get(ENV.URL .. "/init") end
local n = 0
function default()
  n = n + 1
  http.get(ENV.URL .. "/it" .. n)
  if n == 2 then error("second", 2) end
end
''')
        p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + rec.url, "--no-save",
                            "--json"], capture_output=True, text=True, timeout=60)
        res = json.loads(p.stdout)
        got = {h.split(" ")[1]: "\r\nCookie: sid=abc" in h for h in rec.heads}
        # vu_init's cookie is sent in iteration 1; 2, 3 and 4 start with an empty jar
        assert got == {"/init": False, "/it1": True, "/it2": False, "/it3": False,
                       "/it4": False}, rec.heads
        errs = res["script"]["errors"]
        assert [(e["message"], e["count"]) for e in errs] == [("second", 1)], errs
        assert res["totals"]["requests"] == 5
    finally:
        rec.stop()


def test_response_fields_read_from_the_raw_string(volley_bin, serve, tmp_path):
    """A response table holds status, body and _r; url, proto, method (like
    timings and headers) are read from _r on first use, the same for
    http.get's C path, http.post and a failed call; a field the script
    sets wins."""
    f = tmp_path / "fields.lua"
    f.write_text('''options = { vus = 1, iterations = 1 }
function default()
  local r = http.get(ENV.URL .. "/status/201")
  print("get", r.status, r.url, r.proto, r.method, r.error, r.error_code, r.truncated, r.redirects)
  local p = http.post(ENV.URL .. "/echo", "x")
  print("post", p.status, p.body, p.url, p.proto, p.method, p.error)
  local e = http.get("http://127.0.0.1:1/")
  print("err", e.status, e.proto, e.error_code, e.url, e.error ~= nil)
  r.url = "mine"; print("set", r.url)
end
''')
    u = serve.url
    want = ["get\t201\t%s/status/201\tHTTP/1.1\tGET\tnil\tnil\tnil\t0" % u,
            "post\t200\tx\t%s/echo\tHTTP/1.1\tPOST\tnil" % u,
            "err\t0\tnil\tconnect_refused\thttp://127.0.0.1:1/\ttrue",
            "set\tmine"]
    assert vu1_lines(volley_bin, serve, f) == want


def test_timings_read_like_a_table_of_their_own(volley_bin, serve, tmp_path):
    """res.timings (a userdata since the third speed pass) reads like the
    table of seven numbers it was: each response keeps its own values after
    the next request, pairs() lists the seven names and what the script
    set, a write or a nil reads back, json.encode gives an object, # is 0,
    the same object on every read."""
    f = tmp_path / "timings.lua"
    f.write_text('''options = { vus = 1, iterations = 1 }
local names = { "duration", "connecting", "sending", "waiting", "receiving", "first_body", "decoding" }
function default()
  local slow = http.get(ENV.URL .. "/delay/150")
  local t = slow.timings
  local fast = http.get(ENV.URL .. "/status/200")
  local u = fast.timings
  print("kept", t.waiting >= 140, u.waiting < 100, t.duration >= t.waiting, rawequal(t, slow.timings))
  local seen = {}
  for k, v in pairs(u) do seen[#seen + 1] = k .. "=" .. type(v) end
  table.sort(seen)
  print("pairs", table.concat(seen, " "))
  local all = true
  for _, n in ipairs(names) do all = all and type(u[n]) == "number" and u[n] >= 0 end
  print("fields", all, u.nope, #u)
  u.mine = "x"; u.waiting = nil; u.sending = 5
  seen = {}
  for k, v in pairs(u) do seen[#seen + 1] = k end
  table.sort(seen)
  print("set", u.mine, u.waiting, u.sending, table.concat(seen, " "))
  local j = json.decode(json.encode(u))
  print("json", j.mine, j.waiting, j.sending, type(j.duration))
  print("other", t.mine, t.sending == 0, fast.timings.mine)
end
''')
    assert vu1_lines(volley_bin, serve, f) == [
        "kept\ttrue\ttrue\ttrue\ttrue",
        "pairs\tconnecting=number decoding=number duration=number first_body=number "
        "receiving=number sending=number waiting=number",
        "fields\ttrue\tnil\t0",
        "set\tx\tnil\t5\tconnecting decoding duration first_body mine receiving sending",
        "json\tx\tnil\t5\tnumber",
        "other\tnil\ttrue\tx",
    ]


def test_a_response_encodes_to_json_and_setup_may_return_one(volley_bin, serve, tmp_path):
    """json.encode(res) gives what a script reads from the response (its
    status, body, headers, url, timings...) and not the raw string it is
    made from; setup() may return a response (its data is JSON); bytes that
    are not UTF-8 (a binary body) become U+FFFD, as Go's encoding/json
    writes them, instead of failing the encode."""
    f = tmp_path / "enc.lua"
    f.write_text('''options = { vus = 1, iterations = 1 }
function setup() return http.get(ENV.URL .. "/status/201") end
function default(data)
  print("setup", data.status, data.url, data.method, data.proto, type(data.timings.duration),
        data._r, data.headers["Content-Length"] ~= nil)
  local r = http.get(ENV.URL .. "/health")
  r.mine = "x"
  local j = json.decode(json.encode(r))
  local keys = {}
  for k in pairs(j) do keys[#keys + 1] = k end
  table.sort(keys)
  print("keys", table.concat(keys, " "))
  print("read", r.status, r.body == j.body, r.method)
  local e = json.decode(json.encode(http.get("http://127.0.0.1:1/")))
  print("error", e.status, e.error_code)
  print("bytes", json.encode("a\\xff\\xc0\\x80b\\xe2\\x82\\xac"), json.encode({ k = "\\xed\\xa0\\x80" }))
end
''')
    assert vu1_lines(volley_bin, serve, f) == [
        "setup\t201\t%s/status/201\tGET\tHTTP/1.1\tnumber\tnil\ttrue" % serve.url,
        "keys\tbody headers method mine proto redirects status timings url",
        "read\t200\ttrue\tGET",
        "error\t0\tconnect_refused",
        'bytes\t"a\ufffd\ufffd\ufffdb\u20ac"\t{"k":"\ufffd\ufffd\ufffd"}',
    ]


def test_metric_add_on_its_object_and_on_another(volley_bin, serve, tmp_path):
    """m:add(v) (the object's own C add), m:add(v, tags), add called on
    another metric object (Metric.add on that one), add() with no value (0)
    and booleans count as they did through the Lua method."""
    f = tmp_path / "metrics.lua"
    f.write_text('''options = { vus = 1, iterations = 2 }
local a = metrics.counter("a")
local b = metrics.counter("b")
local g = metrics.gauge("g")
local r = metrics.rate("r")
function default()
  a:add(2)
  a:add(1, { k = "v" })
  a.add(b, 10)
  b:add()
  g:add(7)
  r:add(true)
  r:add(false)
end
''')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save",
                        "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)["script"]["metrics"]
    assert (m["a"]["count"], m["a"]["adds"]) == (6, 4), m
    assert (m["a{k:v}"]["count"], m["a{k:v}"]["adds"]) == (2, 2), m
    assert (m["b"]["count"], m["b"]["adds"]) == (20, 4), m
    assert m["g"]["value"] == 7, m
    assert (m["r"]["passes"], m["r"]["fails"]) == (2, 2), m


def test_check_names_carry_the_group_only_inside_it(volley_bin, serve, tmp_path):
    """check() looks up the VU's group only while a group() runs; before,
    after, nested, and after an error in a group the names are right."""
    f = tmp_path / "groups.lua"
    f.write_text('''options = { vus = 2, iterations = 4 }
function default()
  check(1, { before = function() return true end })
  group("g", function()
    check(1, { inside = true })
    group("h", function() check(1, { nested = true }) end)
    http.get(ENV.URL .. "/status/200")
    check(1, { after_wait = true })
  end)
  pcall(group, "bad", function() error("x") end)
  check(1, { after = true })
end
''')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save",
                        "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    checks = {c["name"]: (c["passes"], c["fails"]) for c in json.loads(p.stdout)["script"]["checks"]}
    assert checks == {"before": (4, 0), "g::inside": (4, 0), "g::h::nested": (4, 0),
                      "g::after_wait": (4, 0), "after": (4, 0)}, checks
