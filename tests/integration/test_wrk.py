"""wrk scripts run unchanged: `volley run -s script.lua URL` with wrk's
command line (-c -t -d -H --timeout --latency, init args after --). Each
part of wrk's scripting API (wrk's SCRIPTING document) is used by a script
of its own here or in examples/wrk/: the wrk table and wrk.format, request()
rotating paths (counted by the server), response() counting statuses and
stopping its thread, delay() spacing requests, setup(thread) with
thread:set/get and thread.addr, wrk.lookup/wrk.connect, init(args), and
done(summary, latency, requests) against results.json."""
import json
import os
import re
import socket
import struct
import subprocess
import time

import pytest

from badserver import BadServer
from nginxutil import Nginx
from test_flags import Rec
from test_tls import certs, tls_serve  # noqa: F401 (fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = os.path.join(ROOT, "examples", "wrk")


def wrk(volley_bin, script, url, *args, code=0, timeout=60):
    p = subprocess.run([volley_bin, "run", "-s", script, url, "--no-save", "--json", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == code, p.stderr
    return p


def res_of(p):
    """results.json from stdout; done()'s own lines come before it."""
    i = p.stdout.index("\n{") + 1 if not p.stdout.startswith("{") else 0
    return p.stdout[:i], json.loads(p.stdout[i:])


@pytest.fixture
def rec():
    r = Rec()
    yield r
    r.stop()


def paths(rec):
    return [h.split(" ")[1] for h in rec.heads]


def test_request_rotates_paths_counted_by_the_server(volley_bin, rec):
    p = wrk(volley_bin, os.path.join(EX, "rotate.lua"), rec.url + "/", "-c", "1", "-t", "1",
            "-d", "500ms")
    _, res = res_of(p)
    seen = paths(rec)
    assert len(seen) == res["totals"]["requests"] > 6
    counts = {q: seen.count(q) for q in set(seen)}
    assert set(counts) == {"/health", "/echo", "/bytes/64"}
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert seen[:3] == ["/health", "/echo", "/bytes/64"]


def test_wrk_table_method_body_headers_and_cli_header(volley_bin, rec):
    wrk(volley_bin, os.path.join(EX, "post.lua"), rec.url + "/items?x=1", "-c", "1", "-t", "1",
        "-d", "300ms", "-H", "X-From-Cli: 1")
    head = rec.heads[0]
    assert head.startswith("POST /items?x=1 HTTP/1.1\r\n"), head
    assert "Content-Type: application/json" in head and "X-From-Cli: 1" in head
    assert rec.bodies[0] == b'{"item": 7}'
    assert len(re.findall(r"(?im)^content-length:", head)) == 1


def test_format_fields_and_pipelined_requests(volley_bin, rec, tmp_path):
    s = tmp_path / "fmt.lua"
    s.write_text('''
assert(wrk.scheme == "http" and wrk.host == "127.0.0.1" and wrk.path == "/base")
assert(tonumber(wrk.port) > 0 and wrk.method == "GET")
local r = wrk.format("PUT", "/p", {["X-K"] = "v"}, "abc")
assert(r:find("^PUT /p HTTP/1.1\\r\\n"), r)
assert(r:find("\\r\\nContent%-Length: 3\\r\\n"), r)
assert(r:find("\\r\\n\\r\\nabc$"), r)
-- two requests in one string (wrk's pipeline example): both are sent
request = function() return wrk.format(nil, "/one") .. wrk.format("DELETE", "/two") end
''')
    wrk(volley_bin, str(s), rec.url + "/base", "-c", "1", "-t", "1", "-d", "300ms")
    heads = rec.heads
    assert heads[0].startswith("GET /one ") and heads[1].startswith("DELETE /two "), heads[:2]
    assert len(heads) % 2 == 0 or len(heads) > 4


def test_response_counts_statuses_stops_thread_and_done_reads_threads(volley_bin, serve):
    t0 = time.monotonic()
    p = wrk(volley_bin, os.path.join(EX, "report.lua"), serve.url + "/status/201", "-c", "1",
            "-t", "1", "-d", "20s", "--", "25", timeout=30)
    took = time.monotonic() - t0
    out, res = res_of(p)
    # thread:stop() ended the 20 s run after 25 responses.
    assert took < 15, took
    assert res["totals"]["requests"] == 25
    m = re.search(r"thread 1: (\d+) responses, (\d+) x 200", out)
    assert m and m.group(1) == "25" and m.group(2) == "0", out
    m = re.search(r"requests (\d+) in [\d.]+s, (\d+) bytes, errors: connect 0 read 0 status 0 timeout 0", out)
    assert m and int(m.group(1)) == 25 and int(m.group(2)) == res["totals"]["bytes_in"], out


def test_response_status_errors_and_status_counts(volley_bin, serve, tmp_path):
    s = tmp_path / "st.lua"
    s.write_text('''
function init(args) seen = {} end
function response(status, headers, body)
  seen[status] = (seen[status] or 0) + 1
  ctype = headers["Content-Type"] or headers["content-type"]
end
local threads = {}
function setup(t) threads[#threads + 1] = t end
function done(summary)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("seen")[503] or 0) end
  print("503s " .. n .. " status_errors " .. summary.errors.status)
end
''')
    p = wrk(volley_bin, str(s), serve.url + "/status/503", "-c", "2", "-t", "2", "-d", "300ms")
    out, res = res_of(p)
    n = res["totals"]["requests"]
    assert n > 0 and ("503s %d status_errors %d" % (n, n)) in out, out


def test_done_percentiles_match_results_json(volley_bin, serve):
    p = wrk(volley_bin, os.path.join(EX, "report.lua"), serve.url + "/delay/2", "-c", "2",
            "-t", "2", "-d", "700ms")
    out, res = res_of(p)
    # done() gets wrk's latency: corrected for coordinated omission in the
    # closed model, results.json's latency_corrected
    lat = res["latency_corrected"]
    for q, key in [("50", "p50"), ("90", "p90"), ("99", "p99"), ("99.9", "p99.9")]:
        us = float(re.search(r"^p%s ([\d.]+)us$" % re.escape(q), out, re.M).group(1))
        assert abs(us / 1000 - lat["percentiles"][key]) <= 0.002 + 1e-3 * us / 1000, (q, us, lat)
    m = re.search(r"min ([\d.]+)us mean ([\d.]+)us stdev ([\d.]+)us max ([\d.]+)us", out)
    assert abs(float(m.group(1)) / 1000 - lat["min"]) < 0.002
    assert abs(float(m.group(2)) / 1000 - lat["mean"]) < 0.002
    assert abs(float(m.group(4)) / 1000 - lat["max"]) < 0.002
    assert float(m.group(1)) >= 2000  # the route waits 2 ms
    got = int(re.search(r"requests (\d+) in", out).group(1))
    assert got == res["totals"]["requests"]


@pytest.mark.serial  # requests paced by delay()
def test_delay_spaces_requests(volley_bin, rec):
    p = wrk(volley_bin, os.path.join(EX, "delay.lua"), rec.url + "/", "-c", "1", "-t", "1",
            "-d", "1s")
    _, res = res_of(p)
    # 100 ms before each request: about 10 in a second, never 20.
    assert 4 <= res["totals"]["requests"] <= 11, res["totals"]["requests"]


def test_setup_addr_lookup_connect_and_init_args(volley_bin, serve, tmp_path):
    s = tmp_path / "a.lua"
    s.write_text('''
local threads = {}
function setup(thread)
  local addrs = wrk.lookup(wrk.host, wrk.port)
  assert(#addrs >= 1 and wrk.connect(addrs[1]), "lookup/connect")
  assert(not wrk.connect("127.0.0.1:1"), "port 1 is closed")
  thread:set("who", "t" .. (#threads + 1))
  thread.addr = addrs[1]
  threads[#threads + 1] = thread
end
function init(args) mine = who .. ":" .. table.concat(args, ",") .. ":" .. args[0]:match("[^/]*$") end
function done()
  for _, t in ipairs(threads) do print("got " .. t:get("mine") .. " at " .. tostring(t.addr)) end
end
''')
    p = wrk(volley_bin, str(s), "http://localhost:%d/health" % serve.port, "-c", "2", "-t", "2",
            "-d", "300ms", "--", "x", "y")
    out, res = res_of(p)
    assert "got t1:x,y:a.lua at 127.0.0.1:%d" % serve.port in out, out
    assert "got t2:x,y:a.lua at 127.0.0.1:%d" % serve.port in out, out
    assert res["plan"]["threads"] == 2 and res["totals"]["errors"] == 0


def test_thread_addr_moves_a_thread_to_another_server(volley_bin, rec, serve, tmp_path):
    s = tmp_path / "m.lua"
    s.write_text('function setup(thread) thread.addr = "%s" end\n' % rec.url.split("//")[1])
    wrk(volley_bin, str(s), serve.url + "/from-url", "-c", "1", "-t", "1", "-d", "300ms")
    assert rec.heads and rec.heads[0].startswith("GET /from-url ")


def test_latency_flag_prints_the_distribution(volley_bin, serve, tmp_path):
    s = tmp_path / "plain.lua"
    s.write_text("-- no hooks: wrk's default request\n")
    p = subprocess.run([volley_bin, "run", "-s", str(s), serve.url + "/delay/3", "-c", "2",
                        "-t", "1", "-d", "500ms", "--latency", "--no-save"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)$", p.stdout, re.M)
    assert [x[0] for x in lines] == ["50", "75", "90", "99"], p.stdout
    ms = {"us": 1e-3, "ms": 1, "s": 1e3}
    assert all(float(v) * ms[u] >= 3 for _, v, u in lines), lines
    p2 = subprocess.run([volley_bin, "run", "-s", str(s), serve.url + "/", "-c", "1", "-d",
                         "200ms", "--no-save"], capture_output=True, text=True, timeout=60)
    assert "Latency Distribution" not in p2.stdout


def test_wrk_defaults_and_cli(volley_bin, serve, tmp_path):
    s = tmp_path / "plain.lua"
    s.write_text("")
    _, res = res_of(wrk(volley_bin, str(s), serve.url + "/", "-d", "300ms"))
    assert res["plan"]["connections"] == 10 and res["plan"]["threads"] == 2
    _, res = res_of(wrk(volley_bin, str(s), serve.url + "/delay/300", "-c", "1", "-t", "1",
                        "-d", "500ms", "--timeout", "100ms"))
    assert res["totals"]["errors_by_kind"].get("timeout", 0) >= 1


def test_hook_errors_are_named(volley_bin, serve, tmp_path):
    s = tmp_path / "bad.lua"
    for body, hook, code in [('function setup(thread) error("no way") end', "setup(thread)", 2),
                             ('function init(args) error("no way") end', "init(args)", 2),
                             ('function done(s, l, r) error("no way") end', "done(summary", 1)]:
        s.write_text(body + "\n")
        out = tmp_path / ("o" + str(code) + hook[:4])
        p = subprocess.run([volley_bin, "run", "-s", str(s), serve.url + "/", "-d", "300ms",
                            "-c", "1", "-q", "--out", str(out)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == code and hook in p.stderr and "no way" in p.stderr, (hook, p.stderr)
        # before any load for setup and init; done's run keeps its results
        assert (out / "results.json").exists() == (code == 1), hook


@pytest.mark.serial  # a rate's count within 2
def test_rate_with_a_wrk_script(volley_bin, rec):
    p = wrk(volley_bin, os.path.join(EX, "rotate.lua"), rec.url + "/", "--rate", "40", "-d", "1s")
    _, res = res_of(p)
    assert 38 <= res["totals"]["requests"] <= 42 and len(rec.heads) == res["totals"]["requests"]


@pytest.mark.parametrize("args,flag", [
    (["-s", "x.lua"], "--script"),
    (["-s", "x.lua", "other.lua"], "--script"),
    (["-s", "x.lua", "URL", "--rates", "1,2"], "--rates"),
])
def test_refused(volley_bin, serve, tmp_path, args, flag):
    (tmp_path / "x.lua").write_text("")
    (tmp_path / "flow.lua").write_text("function default() end\n")
    args = [a.replace("FLOW", "flow.lua").replace("URL", serve.url + "/") for a in args]
    p = subprocess.run([volley_bin, "run", *args, "--no-save"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=30)
    assert p.returncode == 2 and flag in p.stderr, (p.returncode, p.stderr)


def test_response_gets_headers_and_body(volley_bin, serve, tmp_path):
    s = tmp_path / "body.lua"
    s.write_text('''
local threads = {}
function setup(t) threads[#threads + 1] = t end
function response(status, headers, body)
  last_len, ctype = #body, headers["Content-Type"] or headers["content-type"]
end
function done()
  print("len " .. threads[1]:get("last_len") .. " type " .. tostring(threads[1]:get("ctype")))
end
''')
    out, _ = res_of(wrk(volley_bin, str(s), serve.url + "/bytes/100", "-c", "1", "-t", "1",
                        "-d", "200ms"))
    assert re.search(r"^len 100 type \S+", out, re.M), out


def test_thread_values_copied_with_tables_and_cycles(volley_bin, serve, tmp_path):
    s = tmp_path / "cyc.lua"
    s.write_text('''
local threads = {}
function setup(t)
  t:set("conf", { name = "c", list = { 1, 2, 3 }, nested = { deep = { x = true } } })
  threads[#threads + 1] = t
end
function init()
  assert(conf.list[3] == 3 and conf.nested.deep.x == true and conf.name == "c")
  ring = { n = 7 }; ring.self = ring; ring.pair = { back = ring }
  f = function() end  -- functions stay in the thread
end
function done()
  local r = threads[1]:get("ring")
  print("ring " .. r.n .. " " .. tostring(r.self == r) .. " " .. tostring(r.pair.back == r)
        .. " " .. tostring(threads[1]:get("f")))
end
''')
    out, _ = res_of(wrk(volley_bin, str(s), serve.url + "/health", "-c", "1", "-t", "1",
                        "-d", "200ms"))
    assert "ring 7 true true nil" in out, out


def test_lookup_example_spreads_threads_over_addresses(volley_bin, serve):
    """examples/wrk/lookup.lua: wrk.lookup of the URL's host name, the
    addresses that accept a connection, one per thread in turn."""
    _, res = res_of(wrk(volley_bin, os.path.join(EX, "lookup.lua"),
                        "http://localhost:%d/health" % serve.port, "-c", "2", "-t", "2",
                        "-d", "300ms"))
    assert res["totals"]["requests"] > 0 and res["totals"]["errors"] == 0


@pytest.mark.serial  # requests per thread per second
def test_done_requests_are_per_thread_per_second(volley_bin, serve, tmp_path):
    s = tmp_path / "rq.lua"
    s.write_text('function delay() return 10 end\n'
                 'function done(summary, latency, requests)\n'
                 '  print(string.format("rq %.1f %.1f", requests.mean, requests.max))\n'
                 'end\n')
    out, res = res_of(wrk(volley_bin, str(s), serve.url + "/health", "-c", "4", "-t", "2",
                          "-d", "2s"))
    mean = float(re.search(r"^rq ([\d.]+) ([\d.]+)", out, re.M).group(1))
    # 4 connections, one request per ~10 ms: ~400/s in all, ~200/s per thread
    per_thread = res["totals"]["requests"] / res["duration_s"] / 2
    assert 0.6 * per_thread <= mean <= 1.4 * per_thread, (mean, per_thread)


def test_https_with_cacert(volley_bin, certs, tls_serve, tmp_path):  # noqa: F811
    """wrk.scheme https: the TLS flags apply; an unknown CA fails each request."""
    s = tls_serve()
    script = tmp_path / "t.lua"
    script.write_text('assert(wrk.scheme == "https")\n')
    url = "https://127.0.0.1:%d/health" % s.port
    _, res = res_of(wrk(volley_bin, str(script), url, "-c", "1", "-t", "1", "-d", "300ms",
                        "--cacert", certs["ca.pem"]))
    assert res["totals"]["responses"] > 0 and res["totals"]["errors"] == 0
    _, bad = res_of(wrk(volley_bin, str(script), url, "-c", "1", "-t", "1", "-d", "300ms"))
    assert bad["totals"]["responses"] == 0 and bad["totals"]["errors_by_kind"].get("tls_error", 0) > 0


WALK = '''
function done(summary, latency, requests)
  local n, c, prev, ordered = #latency, 0, -1, true
  for i = 1, n do
    local v, k = latency(i)
    c = c + k
    ordered = ordered and v > prev
    prev = v
  end
  local past_v, past_k = latency(n + 1)
  print(string.format("p99 %.3f raw_requests %d buckets %d count %d ordered %s past %d %d",
                      latency:percentile(99), summary.requests, n, c, tostring(ordered),
                      past_v, past_k))
end
'''


def walked(out):
    m = re.search(r"^p99 ([\d.]+) raw_requests (\d+) buckets (\d+) count (\d+) ordered (\w+) "
                  r"past (\d+) (\d+)$", out, re.M)
    assert m, out
    return (float(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
            m.group(5) == "true", (int(m.group(6)), int(m.group(7))))


def test_done_latency_is_corrected_on_a_stalling_server(volley_bin, serve_factory, tmp_path):
    """done()'s latency is wrk's: corrected for coordinated omission (as
    results.json's latency_corrected), not the raw one whose p99 misses a
    stall the connections sat through; latency(i) walks its buckets."""
    s = serve_factory("--stall-every", "1s", "--stall-for", "300ms", "--threads", "1")
    script = tmp_path / "walk.lua"
    script.write_text(WALK)
    out, res = res_of(wrk(volley_bin, str(script), f"http://{s.host}:{s.port}/health",
                          "-c", "4", "-t", "1", "-d", "2500ms"))
    p99_us, reqs, n, count, ordered, past = walked(out)
    cor, raw = res["latency_corrected"], res["latency"]
    # the stall shows in the corrected p99 and not in the raw one
    assert raw["max"] >= 250 and raw["percentiles"]["p99"] < 0.5 * cor["percentiles"]["p99"], res
    assert abs(p99_us / 1000 - cor["percentiles"]["p99"]) <= 0.002 + 1e-3 * cor["percentiles"]["p99"]
    # the buckets: ordered, and their counts are the corrected count (the
    # raw requests plus the ones the correction adds), as wrk's stats
    assert reqs == res["totals"]["requests"] and count == cor["count"] > reqs, (count, cor, reqs)
    assert ordered and n > 1 and past == (0, 0)


def test_latency_buckets_add_up_to_the_requests_in_the_open_model(volley_bin, serve, tmp_path):
    """--rate: no correction (latency is from each intended start); the
    buckets of done()'s latency count every request once."""
    script = tmp_path / "walk.lua"
    script.write_text(WALK)
    out, res = res_of(wrk(volley_bin, str(script), serve.url + "/health", "--rate", "200",
                          "-d", "1s", "-c", "2", "-t", "1"))
    p99_us, reqs, n, count, ordered, _ = walked(out)
    assert "latency_corrected" not in res
    assert count == reqs == res["totals"]["requests"] > 150 and ordered
    assert abs(p99_us / 1000 - res["latency"]["percentiles"]["p99"]) <= 0.002 + 1e-3 * p99_us / 1000


def test_pipeline_example_counts_exactly_against_nginx(volley_bin):
    """wrk's pipeline example (three wrk.format calls in one request()
    string): the three requests leave in one write on one connection and
    come back as three requests, each counted; nginx's access log agrees."""
    n = Nginx()
    try:
        s = os.path.join(EX, "pipeline.lua")
        p = wrk(volley_bin, s, n.url + "/", "-c", "2", "-t", "1", "-d", "1s")
        out, res = res_of(p)
        t = res["totals"]
        assert t["requests"] == t["responses"] > 30 and t["errors"] == 0, t
        assert t["requests"] % 3 == 0 and t["connections_opened"] >= 2, t
        assert n.logged_settled() == t["requests"]
        # each its own latency; the iterations are a third of the requests
        assert res["latency"]["count"] == t["requests"]
        m = re.search(r"^pipelined (\d+) responses in (\d+) batches$", out, re.M)
        assert m and int(m.group(1)) == t["requests"] and int(m.group(2)) * 3 == t["requests"], out
    finally:
        n.stop()


def test_pipeline_is_one_write_answered_in_order(volley_bin, tmp_path):
    """A server that answers only once all three requests of a batch have
    arrived: sent one after the other, the first would wait for its
    timeout. Each response goes to response() in order."""
    with BadServer("batch", k=3) as srv:
        s = tmp_path / "p.lua"
        s.write_text('''
function init() req = wrk.format(nil, "/a") .. wrk.format(nil, "/b") .. wrk.format(nil, "/c") end
function request() return req end
function response(status) seen = (seen or 0) + 1 end
local threads = {}
function setup(t) threads[#threads + 1] = t end
function done() print("seen " .. threads[1]:get("seen")) end
''')
        out, res = res_of(wrk(volley_bin, str(s), srv.url, "-c", "1", "-t", "1", "-d", "500ms",
                              "--timeout", "5s"))
        t = res["totals"]
        assert t["transport_errors"] == 0 and t["responses"] == srv.answered > 0, t
        assert t["responses"] % 3 == 0 and "seen %d" % t["responses"] in out, out


def reset_before_reading(server, sock):
    """Reads nothing: waits, then resets the connection (SO_LINGER 0)."""
    time.sleep(0.05)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_write_errors_are_counted_apart_and_reconcile(volley_bin, tmp_path):
    """An 8 MiB POST to a server that resets before reading it: the write
    fails (the body does not fit in the socket buffers). summary.errors.write
    counts them, read does not, and results.json's kinds still add up."""
    s = tmp_path / "big.lua"
    s.write_text('''
wrk.method = "POST"
wrk.body = string.rep("x", 8 * 1024 * 1024)
function done(summary)
  local e = summary.errors
  print(string.format("errors connect %d read %d write %d status %d timeout %d",
                      e.connect, e.read, e.write, e.status, e.timeout))
end
''')
    with BadServer(reset_before_reading) as srv:
        out, res = res_of(wrk(volley_bin, str(s), srv.url, "-c", "2", "-t", "1", "-d", "600ms"))
    t = res["totals"]
    m = re.search(r"errors connect (\d+) read (\d+) write (\d+) status (\d+) timeout (\d+)", out)
    connect, read, write, status, timeout = map(int, m.groups())
    assert write > 0 and write == t["write_errors"], (out, t)
    assert sum(t["errors_by_kind"].values()) == t["transport_errors"] == t["requests"]
    assert connect + read + write + timeout == t["transport_errors"], (out, t)
    assert status == 0


def test_lookup_returns_address_objects(volley_bin, serve, tmp_path):
    """wrk.lookup gives address objects (tostring "ip:port") that
    wrk.connect takes and thread.addr accepts; strings still work."""
    s = tmp_path / "addr.lua"
    s.write_text('''
local threads = {}
function setup(thread)
  local addrs = wrk.lookup("127.0.0.1", wrk.port)
  local a = addrs[1]
  assert(type(a) == "userdata", type(a))
  assert(tostring(a) == "127.0.0.1:" .. wrk.port, tostring(a))
  assert(wrk.connect(a) and wrk.connect(tostring(a)))
  assert(type(thread.addr) == "userdata" and tostring(thread.addr) == tostring(a))
  assert(not pcall(wrk.connect, {}), "a table is no address")
  thread.addr = a
  threads[#threads + 1] = thread
end
function init() where = tostring(wrk.thread.addr) end
function done() print("at " .. threads[1]:get("where")) end
''')
    out, res = res_of(wrk(volley_bin, str(s), "http://localhost:%d/health" % serve.port,
                          "-c", "1", "-t", "1", "-d", "200ms"))
    assert "at 127.0.0.1:%d" % serve.port in out and res["totals"]["errors"] == 0, out


def test_pipeline_longer_than_the_limit_is_an_error_naming_it(volley_bin, serve, tmp_path):
    s = tmp_path / "long.lua"
    s.write_text('local r = {}\nfor i = 1, 1025 do r[i] = wrk.format(nil, "/") end\n'
                 'req = table.concat(r)\nfunction request() return req end\n')
    p = wrk(volley_bin, str(s), serve.url + "/health", "-c", "1", "-t", "1", "-d", "200ms")
    _, res = res_of(p)
    assert res["totals"]["requests"] == 0
    assert "1025 requests in one string (a pipeline holds 1 to 1024)" in p.stderr, p.stderr
    # the error names the script's request() and its line, not volley's own code
    assert "request() (%s:4)" % s in p.stderr and "wrk:" not in p.stderr, p.stderr


@pytest.mark.parametrize("body, what", [
    ("return 42", "returned number, not a string"),
    ('return "GET /\\r\\nHost: x\\r\\n"', "not an HTTP request (no blank line after the headers)"),
    ('return " \\r\\n\\r\\n"', "bad request line"),
])
def test_bad_request_string_names_the_scripts_line(volley_bin, serve, tmp_path, body, what):
    s = tmp_path / "bad_req.lua"
    s.write_text("-- a request() that does not make an HTTP request\n\nfunction request()\n  %s\nend\n" % body)
    p = wrk(volley_bin, str(s), serve.url + "/health", "-c", "1", "-t", "1", "-d", "200ms")
    _, res = res_of(p)
    assert res["totals"]["requests"] == 0
    assert ("request() (%s:3)" % s) in p.stderr and what in p.stderr, p.stderr
    assert "wrk:" not in p.stderr, p.stderr


def test_thread_addr_of_a_wrong_type_is_refused_before_load(volley_bin, serve, tmp_path):
    s = tmp_path / "bad_addr.lua"
    s.write_text("function setup(thread) thread.addr = 42 end\n")
    p = subprocess.run([volley_bin, "run", "-s", str(s), serve.url + "/", "-c", "1", "-t", "1",
                        "-d", "200ms", "--no-save"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "thread.addr" in p.stderr and "number" in p.stderr, p.stderr
