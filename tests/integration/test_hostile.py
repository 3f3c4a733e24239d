"""volley run against hostile and broken servers (badserver.py): every case
must finish on time, count each request exactly once under the right error
kind, keep memory bounded, and leave the other endpoints of the run
unharmed. docs/hostile.md lists what volley reports for each case."""
import json
import os
import subprocess
import tempfile
import time

import pytest

from badserver import BadServer

# volley's peak RSS must stay under this even for endless bodies and 1 MiB
# of headers. ASan's shadow memory and quarantine need more headroom.
RSS_LIMIT_KB = 64 * 1024
ASAN_RSS_LIMIT_KB = 512 * 1024

DURATION_S = 2.0
TIMEOUT_S = 1.0
# Start-up, --timeout for requests in flight at the end, exit: well under
# the default --grace of 5 s, which a hung request would run into.
WALL_LIMIT_S = DURATION_S + TIMEOUT_S + 2.5


class Result:
    def __init__(self, rc, stdout, stderr, wall_s, maxrss_kb):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.wall_s = wall_s
        self.maxrss_kb = maxrss_kb
        self.json = json.loads(stdout) if rc == 0 and stdout.strip() else None


def run_volley(volley_bin, *args, timeout=60):
    """Runs `volley run ARGS` and returns its exit code, output, wall time
    and peak RSS. The RSS comes from /usr/bin/time: a child's ru_maxrss
    from wait4 starts at the RSS of the process that forked it (Python
    here), so it would measure the test instead of volley."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile() as rss:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-q", "-o", rss.name, "-f", "%M",
                              volley_bin, "run", *args], stdout=out, stderr=err)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        try:
            maxrss = int(open(rss.name).read().split()[-1])
        except (ValueError, IndexError):
            maxrss = 0
        return Result(p.returncode, out.read().decode(errors="replace"),
                      err.read().decode(errors="replace"), wall, maxrss)


def rss_limit_kb(volley_bin):
    return ASAN_RSS_LIMIT_KB if "asan" in volley_bin else RSS_LIMIT_KB


def check_counts(t):
    """The exactness rules of docs/results-format.md."""
    assert t["requests"] == t["responses"] + t["transport_errors"], t
    assert t["responses"] == sum(t["responses_by_status"].values()), t
    assert t["transport_errors"] == sum(t["errors_by_kind"].values()), t


def kinds(t):
    return {k: v for k, v in t["errors_by_kind"].items() if v}


# case -> (the error kinds allowed, whether most requests must be errors).
# The kinds volley reports today are the first of each set; see
# docs/hostile.md for why each is what it is.
CASES = {
    "garbage": {"parse_error"},
    "status_then_close": {"closed_early"},
    "cl_larger": {"closed_early"},
    "chunk_not_hex": {"parse_error"},
    "chunk_2_63": {"parse_error"},
    "chunk_overflow": {"parse_error"},
    "headers_1mb": {"parse_error"},
    "headers_100k": {"parse_error"},
    "header_no_colon": {"parse_error"},
    "trickle": {"timeout"},
    "endless_body": {"timeout"},
    "endless_chunks": {"timeout"},
    "reset_mid_response": {"reset"},
    "never_answer": {"timeout"},
    # Closing before reading: RST when the request had already arrived,
    # a plain FIN when it had not; which one wins is a race.
    "close_before_read": {"reset", "closed_early"},
}

# Cases where no request can finish before --timeout: exactly the requests
# that fit in the run, each one timed out (or cancelled at the very end).
SLOW = {"trickle", "endless_body", "endless_chunks", "never_answer"}


def hostile_run(volley_bin, *args):
    """-c 4 -d 2s --timeout 1s, then args (URLs, endpoints, more flags)."""
    r = run_volley(volley_bin, "--no-save", "-q", "--json", "-c", "4", "-d", "%gs" % DURATION_S,
                   "--timeout", "%gs" % TIMEOUT_S, *args)
    assert r.rc == 0, r.stderr
    assert r.wall_s < WALL_LIMIT_S, "run took %.1fs" % r.wall_s
    assert r.maxrss_kb < rss_limit_kb(volley_bin), "peak RSS %d KiB" % r.maxrss_kb
    return r


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_server_is_counted_under_the_right_kind(volley_bin, case):
    with BadServer(case) as bad:
        r = hostile_run(volley_bin, bad.url)
    assert not bad.errors, bad.errors
    t = r.json["totals"]
    check_counts(t)
    assert t["responses"] == 0, t["responses_by_status"]
    assert t["requests"] > 0
    assert set(kinds(t)) <= CASES[case] | {"cancelled", "timeout"}, kinds(t)
    assert t["errors_by_kind"]["cancelled"] <= 4  # at most one per connection
    if "timeout" not in CASES[case]:
        # Fast failures reconnect thousands of times a second; the Python
        # server cannot accept that fast, and a connection left in its full
        # accept queue is never answered: a true timeout, but rare.
        assert t["errors_by_kind"]["timeout"] <= 8, kinds(t)
    if case in SLOW:
        # 4 connections, a 1 s timeout, 2 s: two rounds of 4, no more.
        assert 4 <= t["requests"] <= 12, t
    else:
        # The connections recover at once and go on: more requests than the
        # 12 that waiting for the timeout would allow. (Not more: 1 MB of
        # headers from the Python server, under ASan beside another
        # make test, gave 33 requests in the 2 s.)
        assert t["requests"] > 12, t
    # Each failed exchange gives up its connection, so none is reused.
    assert t["connections_opened"] >= t["transport_errors"] - t["errors_by_kind"]["cancelled"]


def test_extra_bytes_after_body_end_the_connection_not_the_response(volley_bin):
    # Content-Length smaller than what was sent: the response is complete
    # and counted; the bytes nobody asked for make volley drop the
    # connection instead of reading them as the next response.
    with BadServer("cl_smaller") as bad:
        r = hostile_run(volley_bin, bad.url)
    t = r.json["totals"]
    check_counts(t)
    assert t["responses_by_status"] == {"200": t["responses"]}
    assert t["responses"] > 50
    # Should the trailing bytes ever arrive in a later read, they would be
    # the start of the next response: a parse error, never a wrong 200 (a
    # timeout only when a busy machine slows the Python server past 1 s).
    assert set(kinds(t)) <= {"parse_error", "cancelled", "timeout"}
    assert t["connections_opened"] >= t["responses"]


def test_unsolicited_response_is_counted_as_that_response(volley_bin):
    # A 408 sent at once on accept, then close. volley has written its
    # request by the time the bytes arrive, so it takes the 408 as the
    # answer (what any HTTP/1.1 client sees); counts stay exact.
    with BadServer("unsolicited") as bad:
        r = hostile_run(volley_bin, bad.url)
    t = r.json["totals"]
    check_counts(t)
    assert set(t["responses_by_status"]) <= {"408"}
    # A connection left in the Python server's full accept queue is never
    # answered: a true timeout, rare (3 once, sanitized, at load average 12).
    assert set(kinds(t)) <= {"closed_early", "reset", "cancelled", "timeout"}
    assert t["errors_by_kind"].get("timeout", 0) <= 8, kinds(t)
    assert t["requests"] > 50


def test_100k_headers_parse_when_the_limit_allows_them(volley_bin):
    # The same 100,000 headers (800 KB) under --max-header-size 1m: parsed,
    # in linear time, without buffering them. The Python server needs time
    # to write 800 KB on a busy machine (a sanitized volley reads them
    # slower too): 5 s for each, which the 2 s run still bounds.
    with BadServer("headers_100k") as bad:
        r = hostile_run(volley_bin, "--max-header-size", "1m", "--timeout", "5s", bad.url)
    t = r.json["totals"]
    check_counts(t)
    assert t["transport_errors"] == t["errors_by_kind"]["cancelled"], kinds(t)
    assert t["responses_by_status"].get("200", 0) > 20


def test_refused_port_is_connect_refused(volley_bin):
    bad = BadServer("never_answer")
    bad.stop()  # the port is now closed
    r = hostile_run(volley_bin, bad.url)
    t = r.json["totals"]
    check_counts(t)
    assert set(kinds(t)) == {"connect_refused"}


@pytest.mark.parametrize("case", sorted(CASES) + ["cl_smaller", "unsolicited"])
def test_other_endpoints_keep_working_beside_a_hostile_one(volley_bin, serve, case):
    with BadServer(case) as bad:
        r = hostile_run(volley_bin, "--endpoint", "good=" + serve.url + "/health",
                        "--endpoint", "bad=" + bad.url)
    eps = {e["name"]: e["totals"] for e in r.json["endpoints"]}
    good, badt = eps["good"], eps["bad"]
    check_counts(good)
    check_counts(badt)
    check_counts(r.json["totals"])
    # The good endpoint's 4 connections run flat out the whole time.
    assert good["transport_errors"] == good["errors_by_kind"]["cancelled"] <= 4, kinds(good)
    assert good["responses_by_status"] == {"200": good["responses"]}
    # The good endpoint keeps being served (a bound that holds on a busy
    # 2-core machine: hundreds per second at the least).
    assert good["responses"] > 500, good
    assert badt["requests"] > 0
