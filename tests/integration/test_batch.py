"""http.batch({...}): a VU's requests in parallel, each on a connection of
its own (as k6's batch), responses in the order given (or by the names
given), counted as ordinary requests, with the VU's cookie jar."""
import json
import socketserver
import subprocess
import threading

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
options = { iterations = 1, batchPerHost = 0 }
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


class Counting:
    """A loopback HTTP/1.1 server (a thread per connection, keep-alive) that
    holds each request `delay` seconds and keeps the most requests it had in
    hand at once: the concurrency the server saw, not a timing."""

    def __init__(self, delay):
        self.delay, self.now, self.most, self.total = delay, 0, 0, 0
        self.lock = threading.Lock()
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                buf = b""
                while True:
                    while b"\r\n\r\n" not in buf:
                        try:
                            d = self.request.recv(65536)
                        except OSError:  # the client's reset at its exit
                            return
                        if not d:
                            return
                        buf += d
                    buf = buf.split(b"\r\n\r\n", 1)[1]  # GETs: no body
                    with outer.lock:
                        outer.now += 1
                        outer.total += 1
                        outer.most = max(outer.most, outer.now)
                    threading.Event().wait(outer.delay)
                    with outer.lock:
                        outer.now -= 1
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        class Srv(socketserver.ThreadingTCPServer):
            request_queue_size = 128  # the default 5 drops simultaneous connects

        self.srv = Srv(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def two_hosts():
    a, b = Counting(0.5), Counting(0.5)
    yield a, b
    a.stop()
    b.stop()


BATCH = '''
options = { iterations = 1 %s }
function default()
  local reqs = {}
  for i = 1, %d do reqs[#reqs + 1] = ENV.A .. "/x" .. i; reqs[#reqs + 1] = ENV.B .. "/y" .. i end
  local rs = http.batch(reqs)
  for i = 1, #reqs do assert(rs[i].status == 200, i) end
end
'''


def run_two(volley_bin, tmp_path, two_hosts, opts, per_host):
    """A batch of per_host requests to each of two hosts (interleaved); the
    most requests each server had at once."""
    a, b = two_hosts
    s = tmp_path / "b.lua"
    s.write_text(BATCH % (opts, per_host))
    p = subprocess.run([volley_bin, "run", str(s), "-e", "A=" + a.url, "-e", "B=" + b.url,
                        "--no-save", "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["totals"]["requests"] == 2 * per_host and res["script"]["iteration_errors"] == 0
    assert a.total == b.total == per_host
    return a.most, b.most


def test_batch_per_host_default_is_six(volley_bin, tmp_path, two_hosts):
    # 10 to each host: 6 at once per host (12 in all, under batch's 20).
    # At most 6 is the limit; reaching 6 shows the requests do overlap
    # (each is held 500 ms, and the batch sends them in the same loop turn).
    assert run_two(volley_bin, tmp_path, two_hosts, "", 10) == (6, 6)


def test_batch_per_host_option_limits_each_host(volley_bin, tmp_path, two_hosts):
    assert run_two(volley_bin, tmp_path, two_hosts, ", batchPerHost = 3", 8) == (3, 3)


def test_batch_option_limits_the_call(volley_bin, tmp_path, two_hosts):
    # 4 in flight in all, whatever the host
    a, b = run_two(volley_bin, tmp_path, two_hosts, ", batch = 4, batchPerHost = 0", 8)
    assert 1 <= a <= 4 and 1 <= b <= 4 and a + b >= 4, (a, b)


def test_batch_per_host_zero_is_no_limit(volley_bin, tmp_path, two_hosts):
    assert run_two(volley_bin, tmp_path, two_hosts, ", batchPerHost = 0", 9) == (9, 9)


@pytest.mark.parametrize("opts,msg", [
    ("batchPerHost = -1", "options.batchPerHost: expected a number in 0.."),
    ("batchPerHost = 2.5", "options.batchPerHost: expected a whole number"),
    ("batchPerHost = 'six'", "options.batchPerHost: expected a number"),
    ("batch = 0", "options.batch: expected a number in 1.."),
    ("batch = 5000", "options.batch: expected at most 1000"),
    ("batchperhost = 2", "options.batchperhost: unknown field (did you mean 'batchPerHost'?)"),
])
def test_batch_options_bad_values_exit_2(volley_bin, tmp_path, opts, msg):
    s = tmp_path / "b.lua"
    s.write_text("options = { iterations = 1, %s }\nfunction default() end\n" % opts)
    p = subprocess.run([volley_bin, "run", str(s), "--no-save"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and msg in p.stderr, (p.returncode, p.stderr)
