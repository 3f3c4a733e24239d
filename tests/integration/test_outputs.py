"""Live outputs against the real components (output/): Prometheus scraping
--metrics-listen, InfluxDB 1.x receiving --out-influx, the Pushgateway
receiving --pushgateway, a recorder checking --out-otlp's OTLP JSON, headless
Chromium on --dashboard and tmux driving --tui. Every peer runs on loopback
from a temp dir and is stopped after."""
import json
import os
import re
import subprocess
import tempfile
import time

import pytest

import peerutil
from badserver import BadServer
from conftest import volley_path


def run_volley(args, timeout=60):
    p = subprocess.run([volley_path(), "run"] + args, capture_output=True, text=True,
                       timeout=timeout)
    return p


def totals(outdir):
    with open(os.path.join(outdir, "results.json")) as f:
        return json.load(f)["totals"]


def by_class(tot):
    out = {}
    for code, n in tot["responses_by_status"].items():
        k = "%sxx" % code[0]
        out[k] = out.get(k, 0) + n
    return out


def mixed_args(serve):
    # Two endpoints, one answering 503: failures and two status classes.
    return ["--endpoint", "ok=%s/health" % serve.url, "--endpoint", "bad=%s/status/503" % serve.url,
            "-c", "4", "-t", "1"]


def prom_value(prom, q, at=None):
    r = peerutil.promql(prom, q, at)
    assert len(r) == 1, (q, r)
    return float(r[0]["value"][1])


def test_prometheus_scrapes_live_and_final_counts_match_results(serve, tmp_path):
    port = peerutil.free_port()
    prom = peerutil.prometheus(str(tmp_path), "127.0.0.1:%d" % port)
    try:
        peerutil.prometheus_wait_scraping(prom)
        out = str(tmp_path / "out")
        # A third endpoint times out: errors by kind move too.
        slow = ["--endpoint", "slow=%s/delay/300" % serve.url, "--timeout", "100ms"]
        p = run_volley(mixed_args(serve) + slow + ["-d", "5", "--metrics-listen", str(port),
                                                   "--metrics-linger", "5", "--out", out])
        # A second before volley exited: within the linger, after the final scrapes.
        at = time.time() - 1.0
        assert p.returncode == 0, p.stderr
        tot = totals(out)
        # Live: several scrapes during the run saw a growing request count.
        rng = peerutil.promql(prom, "volley_requests_total[30s]", at)
        vals = [float(v) for _, v in rng[0]["values"]]
        live = sorted(set(v for v in vals if 0 < v < tot["requests"]))
        assert len(live) >= 2, vals
        # Statuses and error kinds move during the run, not only at its end.
        for q, final in (('volley_responses_by_status_total{status_class="5xx"}',
                          by_class(tot)["5xx"]),
                         ('volley_errors_by_kind_total{kind="timeout"}',
                          tot["errors_by_kind"]["timeout"])):
            vals = [float(v) for _, v in peerutil.promql(prom, q + "[30s]", at)[0]["values"]]
            assert len(set(v for v in vals if 0 < v < final)) >= 2, (q, vals, final)
            assert prom_value(prom, q, at) == final
        assert prom_value(prom, "volley_requests_total", at) == tot["requests"]
        assert prom_value(prom, "volley_failed_requests_total", at) == tot["errors"]
        assert prom_value(prom, "volley_run_finished", at) == 1
        for cls, n in by_class(tot).items():
            assert prom_value(prom, 'volley_responses_by_status_total{status_class="%s"}' % cls,
                              at) == n
        assert prom_value(prom, 'sum(volley_endpoint_requests_total)', at) == tot["requests"]
        assert prom_value(prom, "volley_request_duration_seconds_count", at) == tot["requests"]
    finally:
        prom.stop()


def test_metrics_listen_refuses_a_bad_address(serve):
    p = run_volley([serve.url + "/health", "-d", "1", "--no-save", "--metrics-listen", "nohost:x"])
    assert p.returncode == 2
    assert "--metrics-listen" in p.stderr


def wait_listening(port, proc, timeout=15):
    peerutil.wait_http("http://127.0.0.1:%d/" % port, proc, timeout)


# The 5xx row of the failures table: "whole run/last second".
FAIL_5XX = ("(function(){var r=Array.from(document.getElementById('t_fail').rows).find("
            "function(r){return r.cells[0].textContent=='status 5xx';});"
            "return r?r.cells[1].textContent+'/'+r.cells[2].textContent:'';})()")

TH_STATES = ("Array.from(document.getElementById('t_th').rows).slice(1)"
             ".map(function(r){return r.cells[2].textContent;}).join()")


@pytest.mark.serial  # live per-second values in Chromium
def test_dashboard_in_headless_chromium_is_live_and_ends_with_results(serve, tmp_path):
    import cdp
    port = peerutil.free_port()
    out = str(tmp_path / "out")
    br = cdp.Browser(str(tmp_path), peerutil.free_port())  # slow to start: first
    vol = subprocess.Popen([volley_path(), "run"] + mixed_args(serve) +
                           ["-d", "5", "--dashboard", "127.0.0.1:%d" % port,
                            "--metrics-linger", "4", "--out", out,
                            "--threshold", "p(99)<30s", "--threshold", "endpoint=bad:p(99)<1us"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, vol)
        origin = "http://127.0.0.1:%d" % port
        br.call("Page.navigate", url=origin + "/")
        seen, live_eps, live_th, live_5xx = [], 0, set(), set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            br.pump(0.5)
            state = br.eval("document.getElementById('state').textContent")
            seen.append((state, br.eval("document.getElementById('requests').textContent")))
            if state == "running":
                live_eps = max(live_eps, br.eval("document.getElementById('t_eps').rows.length"))
                live_th.add(br.eval(TH_STATES))
                live_5xx.add(br.eval(FAIL_5XX))
            if state == "finished":
                break
        live = [int(n) for s, n in seen if s == "running"]
        # Numbers change each second: at least three distinct growing values.
        assert len(set(live)) >= 3 and live == sorted(live), seen
        assert seen[-1][0] == "finished", seen
        assert live_eps == 3, live_eps  # the per-endpoint table is live too
        # Failures by status move each second: the run's count and the last second's.
        per_s = [v.split("/") for v in live_5xx if v]
        assert len(set(int(a) for a, _ in per_s)) >= 2, live_5xx
        assert any(int(b) > 0 for _, b in per_s), live_5xx
        # The report, while the server lingers (the run's numbers, no outside fetch).
        _, html = peerutil.http_get(origin + "/report")
        assert "<html" in html.lower() and "bad" in html
        assert vol.wait(30) == 99, vol.stderr.read()  # the second threshold fails
        # Thresholds: judged live where they can be, the rest pending, verdicts at the end.
        assert "passing,pending" in live_th, live_th
        assert br.eval(TH_STATES) == "ok,failed"
        tot = totals(out)
        assert br.eval("document.getElementById('requests').textContent") == str(tot["requests"])
        assert br.eval("document.getElementById('errors').textContent") == str(tot["errors"])
        final = br.eval("document.getElementById('final').textContent")
        assert "results.json" in final, final
        # The page links the run's HTML report, served by the same origin.
        assert br.eval("document.getElementById('report').href") == origin + "/report"
        eps = br.eval("document.getElementById('t_eps').rows.length")
        assert eps == 3, eps  # header + ok + bad
        # The final tiles and the endpoint table are results.json's numbers.
        with open(os.path.join(out, "results.json")) as f:
            res = json.load(f)
        for tile, pct in (("p50", "p50"), ("p99", "p99")):
            shown = float(br.eval("document.getElementById('%s').textContent" % tile))
            assert abs(shown - res["latency"]["percentiles"][pct]) <= 0.0051, (tile, shown)
        table = br.eval("Array.from(document.getElementById('t_eps').rows).slice(1)"
                        ".map(function(r){return r.cells[0].textContent+'='+r.cells[1].textContent"
                        "+'/'+r.cells[2].textContent;}).join()")
        want = ",".join("%s=%d/%d" % (e["name"], e["totals"]["requests"], e["totals"]["errors"])
                        for e in res["endpoints"])
        assert table == want, (table, want)
        # The CPU tile ends on a whole second's, as /metrics does.
        cols = res["series"]["columns"]
        whole = [dict(zip(cols, r))["cpu_pct"] for r in res["series"]["rows"]
                 if (r[0] + 1) * 1e9 <= res["duration_ns"]]
        cpu = float(br.eval("document.getElementById('cpu').textContent"))
        assert any(abs(cpu - c) <= 0.51 for c in whole), (cpu, whole)
        assert not br.errors, br.errors
        outside = [u for u in br.requests if not u.startswith(origin + "/")]
        assert not outside, outside
        assert origin + "/events" in br.requests
    finally:
        br.close()
        if vol.poll() is None:
            vol.kill()
            vol.wait()


def influx_sums(db, run):
    r = peerutil.influxql(db, "SELECT sum(requests), sum(responses), sum(errors), count(requests) "
                              "FROM volley WHERE run='%s'" % run)
    cols = r["series"][0]["columns"]
    return dict(zip(cols, r["series"][0]["values"][0]))


def influx_count(db, run, measurement, field):
    r = peerutil.influxql(db, "SELECT count(%s) FROM %s WHERE run='%s'" % (field, measurement, run))
    return r["series"][0]["values"][0][1] if "series" in r else 0


def delivered(stderr, flag):
    import re
    m = re.search(r"%s: (\d+) points delivered(?:, (\d+) NOT delivered)?" % flag, stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2) or 0)


def test_influxdb_totals_over_the_runs_points_equal_results(serve, tmp_path):
    db = peerutil.influxdb(str(tmp_path))
    try:
        peerutil.influxql(db, "CREATE DATABASE volley", method="POST")
        out = str(tmp_path / "out")
        p = run_volley(mixed_args(serve) + ["-d", "3", "--label", "inf1", "--out", out,
                                            "--out-influx", db.base + "/"])
        assert p.returncode == 0, p.stderr
        tot = totals(out)
        s = influx_sums(db, "inf1")
        assert (s["sum"], s["sum_1"], s["sum_2"]) == (tot["requests"], tot["responses"], tot["errors"])
        assert s["count"] >= 3  # a point a second, and the rest at the end
        for cls, n in by_class(tot).items():
            r = peerutil.influxql(db, "SELECT sum(count) FROM volley_status WHERE run='inf1' "
                                      "AND status_class='%s'" % cls)
            assert r["series"][0]["values"][0][1] == n
            # The per-second points carry the split too: they add up to the same.
            r = peerutil.influxql(db, "SELECT sum(status_%s) FROM volley WHERE run='inf1'" % cls)
            assert r["series"][0]["values"][0][1] == n
            r = peerutil.influxql(db, "SELECT count(status_%s) FROM volley WHERE run='inf1' "
                                      "AND status_%s > 0" % (cls, cls))
            assert r["series"][0]["values"][0][1] >= 2  # in the seconds, not only at the end
        ok, lost = delivered(p.stderr, "--out-influx")
        assert lost == 0 and ok == s["count"] + influx_count(db, "inf1", "volley_status", "count") + \
            influx_count(db, "inf1", "volley_error", "count")
    finally:
        db.stop()


def test_influxdb_stopped_mid_run_load_goes_on_and_losses_are_reported(serve, tmp_path):
    db = peerutil.influxdb(str(tmp_path))
    port = db.port
    try:
        peerutil.influxql(db, "CREATE DATABASE volley", method="POST")
        out = str(tmp_path / "out")
        vol = subprocess.Popen([volley_path(), "run"] + mixed_args(serve) +
                               ["-d", "6", "--label", "inf2", "--out", out,
                                "--out-influx", db.base],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and influx_count(db, "inf2", "volley", "requests") < 2:
            time.sleep(0.2)
        assert influx_count(db, "inf2", "volley", "requests") >= 2
        db.stop()
        t_stop = time.monotonic()
        _, err = vol.communicate(timeout=60)
        assert vol.returncode == 0, err
        tot = totals(out)
        with open(os.path.join(out, "results.json")) as f:
            rows = json.load(f)["series"]["rows"]
        # The load went on at full speed after the database went away.
        assert len(rows) >= 5 and all(r[1] > 0 for r in rows[:5]), rows
        assert time.monotonic() - t_stop < 15
        ok, lost = delivered(err, "--out-influx")
        assert lost > 0, err
        # What was delivered is what the database holds.
        db = peerutil.influxdb(str(tmp_path), port=port)
        held = influx_count(db, "inf2", "volley", "requests") + \
            influx_count(db, "inf2", "volley_status", "count") + \
            influx_count(db, "inf2", "volley_error", "count")
        assert held == ok
        # Every point is either delivered or counted as lost: one a second
        # (the last partial second is not sent alone) and, at the end, the
        # remainder, 5 status classes and one point per error kind.
        end = 1 + 5 + len(tot["errors_by_kind"])
        assert ok + lost in (len(rows) - 1 + end, len(rows) + end), (ok, lost, len(rows))
        assert tot["requests"] > 0
    finally:
        db.stop()


class Tmux:
    """A private tmux server (its own socket) running one command."""

    def __init__(self, cmd):
        self.sock = "volley-tui-%d-%d" % (os.getpid(), time.monotonic_ns())
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d",
                        "-x", "120", "-y", "40", cmd], check=True)

    def screen(self):
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p", "-S", "-200"],
                              capture_output=True, text=True).stdout

    def flags(self):
        out = subprocess.run(["tmux", "-L", self.sock, "display", "-p",
                              "#{alternate_on} #{cursor_flag}"], capture_output=True, text=True)
        return out.stdout.split()

    def resize(self, cols, rows):
        subprocess.run(["tmux", "-L", self.sock, "resize-window", "-x", str(cols), "-y",
                        str(rows)], check=True)

    def visible(self):
        """The visible screen, wrapped lines joined (-J): a line longer than
        the width is one that wrapped."""
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p", "-J"],
                              capture_output=True, text=True).stdout.rstrip("\n").split("\n")

    def keys(self, *k):
        subprocess.run(["tmux", "-L", self.sock, "send-keys"] + list(k), check=True)

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.2)
        raise AssertionError("%r not on screen:\n%s" % (text, self.screen()))

    def kill(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


def tui_requests(screen):
    import re
    m = re.search(r"^requests (\d+)", screen, re.M)
    return int(m.group(1)) if m else None


def tui_session(serve, duration):
    return Tmux("%s run %s/health -d %s -c 2 -t 1 --no-save --tui; echo EXIT=$?; stty -a; "
                "echo STTY-DONE; sleep 60" % (volley_path(), serve.url, duration))


def assert_restored(t, screen):
    # EXIT= is on screen before stty -a has printed its modes (a busy host
    # shows the gap): the screen to judge is the one with all of them.
    screen = t.wait_for("STTY-DONE")
    assert t.flags() == ["0", "1"], t.flags()  # alternate screen left, cursor shown
    stty = screen[screen.index("EXIT="):]
    assert " icanon " in stty.replace("\n", " ") and " echo " in stty.replace("\n", " "), stty
    assert "Ctrl-C stops the run" not in stty


def test_tui_shows_live_numbers_and_restores_the_terminal(serve):
    t = tui_session(serve, 4)
    try:
        t.wait_for("latency (all so far")
        assert t.flags()[0] == "1"  # on the alternate screen
        seen, endpoint_line, status_line = set(), False, False
        bars, sparks, hist_line = set(), set(), False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = t.screen()
            if "EXIT=" in s:
                break
            n = tui_requests(s)
            if n:
                seen.add(n)
            endpoint_line |= "p99 ms" in s and "/health" in s
            status_line |= re.search(r"^status   2xx \d+ \(\+\d+/s\)", s, re.M) is not None
            # The progress bar fills, the sparkline gets a character a
            # second, the histogram has a bar for the bucket that holds most.
            m = re.search(r"^volley \[(#*)\.*\] [\d.]+s / 4s$", s, re.M)
            if m:
                bars.add(len(m.group(1)))
            m = re.search(r"^req/s  (\S+)  \(max \d+\)$", s, re.M)
            if m:
                sparks.add(len(m.group(1)))
            hist_line |= re.search(r"^  <= +[\d.]+ ms +\d+ #+$", s, re.M) is not None
            time.sleep(0.3)
        assert len(seen) >= 3, seen
        assert endpoint_line
        assert status_line  # responses by status class, live, with the last second's
        assert len(bars) >= 3 and max(bars) > min(bars), bars
        assert len(sparks) >= 2 and max(sparks) > min(sparks), sparks
        assert hist_line
        s = t.wait_for("EXIT=0")
        assert "requests" in s and "latency" in s  # the summary, on the normal screen
        assert_restored(t, s)
    finally:
        t.kill()


def tui_fits(lines, cols, rows):
    return (len(lines) <= rows and lines[0].startswith("volley ") and
            all(len(x) <= cols for x in lines))


def test_tui_follows_terminal_resizes(serve):
    t = tui_session(serve, 10)
    try:
        t.wait_for("latency (all so far")
        big = t.visible()
        assert tui_fits(big, 120, 40) and any("Ctrl-C stops the run" in x for x in big), big
        # Smaller than the view: redrawn to fit (top kept, no wrapped or scrolled lines).
        t.resize(50, 12)
        deadline, small = time.monotonic() + 5, []
        while time.monotonic() < deadline:
            small = t.visible()
            if tui_fits(small, 50, 12) and any(x.startswith("requests ") for x in small):
                break
            time.sleep(0.2)
        assert tui_fits(small, 50, 12), small
        assert not any("Ctrl-C stops" in x for x in small)  # cut at the bottom, not scrolled
        # Larger again: the whole view comes back.
        t.resize(100, 40)
        deadline, again = time.monotonic() + 5, []
        while time.monotonic() < deadline:
            again = t.visible()
            if any("Ctrl-C stops the run" in x for x in again):
                break
            time.sleep(0.2)
        assert tui_fits(again, 100, 40) and any("Ctrl-C stops the run" in x for x in again), again
        s = t.wait_for("EXIT=0")
        assert_restored(t, s)
    finally:
        t.kill()


LATE_ERROR = """
options = { vus = 2, duration = "3s" }
local t0
function default()
  http.get(ENV.BASE_URL .. "/health")
  t0 = t0 or now()
  if now() - t0 > 1500 then error("late-marker from the load") end
end
"""


def test_tui_keeps_errors_printed_during_the_load(serve, tmp_path):
    f = tmp_path / "late.lua"
    f.write_text(LATE_ERROR)
    t = Tmux("%s run %s -e BASE_URL=%s -t 1 --no-save --tui; echo EXIT=$?; sleep 60"
             % (volley_path(), f, serve.url))
    try:
        t.wait_for("latency (all so far")
        s = t.wait_for("EXIT=")
        # Printed while the view was up (after 1.5 s of load), shown once it is gone.
        assert "script error" in s and "late-marker from the load" in s, s
        assert t.flags() == ["0", "1"], t.flags()
    finally:
        t.kill()


@pytest.mark.parametrize("presses", [1, 2])  # twice: volley stops at once
def test_tui_restores_the_terminal_after_ctrl_c(serve, presses):
    t = tui_session(serve, 60)
    try:
        t.wait_for("latency (all so far")
        t.keys(*["C-c"] * presses)
        s = t.wait_for("EXIT=130", timeout=20)
        assert_restored(t, s)
    finally:
        t.kill()


def test_tui_is_refused_when_stdout_is_not_a_terminal(serve):
    p = run_volley([serve.url + "/health", "-d", "1", "--no-save", "--tui"])
    assert p.returncode == 2
    assert "--tui" in p.stderr and "not a terminal" in p.stderr


def prom_text_value(text, name, labels=""):
    """The value of metric name whose label set contains labels."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if labels in line:
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError("%s%s not in:\n%s" % (name, labels, text[:2000]))


def test_pushgateway_receives_the_final_snapshot(serve, tmp_path):
    pgw = peerutil.pushgateway(str(tmp_path))
    try:
        out = str(tmp_path / "out")
        p = run_volley(mixed_args(serve) + ["-d", "2", "--out", out, "--pushgateway", pgw.base])
        assert p.returncode == 0, p.stderr
        assert "--pushgateway: 1 points delivered" in p.stderr, p.stderr
        tot = totals(out)
        _, text = peerutil.http_get(pgw.base + "/metrics")
        job = 'job="volley"'
        assert prom_text_value(text, "volley_requests_total", job) == tot["requests"]
        assert prom_text_value(text, "volley_failed_requests_total", job) == tot["errors"]
        assert prom_text_value(text, "volley_run_finished", job) == 1
        for cls, n in by_class(tot).items():
            assert prom_text_value(text, "volley_responses_by_status_total",
                                   'status_class="%s"' % cls) == n
    finally:
        pgw.stop()


def test_pushgateway_down_is_reported_not_fatal(serve, tmp_path):
    port = peerutil.free_port()
    p = run_volley([serve.url + "/health", "-d", "1", "--no-save",
                    "--pushgateway", "http://127.0.0.1:%d" % port])
    assert p.returncode == 0, p.stderr
    assert "--pushgateway: 0 points delivered, 1 NOT delivered" in p.stderr, p.stderr


class OtlpRecorder:
    """An OTLP/HTTP receiver stand-in: records each POST /v1/metrics."""

    def __init__(self):
        import http.server
        import threading
        rec = self
        self.posts = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers["Content-Length"])
                rec.posts.append((self.path, self.headers["Content-Type"], self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.thr = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thr.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def is_u64(s):
    return isinstance(s, str) and s.isdigit()


def check_point_times(dp, with_start):
    assert is_u64(dp["timeUnixNano"]) and int(dp["timeUnixNano"]) > 1.7e18
    if with_start:
        assert is_u64(dp["startTimeUnixNano"])
        assert int(dp["startTimeUnixNano"]) <= int(dp["timeUnixNano"])


def check_metric(m):
    """One metric against the OTLP JSON mapping; returns [(name, value)], a
    sum with attributes giving one 'name{key=value}' per point."""
    assert isinstance(m["name"], str) and isinstance(m["unit"], str)
    kinds = [k for k in ("sum", "gauge", "histogram") if k in m]
    assert len(kinds) == 1, m
    d = m[kinds[0]]
    if kinds[0] == "sum":
        assert d["aggregationTemporality"] == 2 and d["isMonotonic"] is True
        out = []
        for dp in d["dataPoints"]:
            check_point_times(dp, True)
            assert is_u64(dp["asInt"])
            name = m["name"]
            if "attributes" in dp:
                (a,) = dp["attributes"]
                name += "{%s=%s}" % (a["key"], a["value"]["stringValue"])
            out.append((name, int(dp["asInt"])))
        assert len(out) >= 1 and len(set(n for n, _ in out)) == len(out), out
        return out
    (dp,) = d["dataPoints"]
    if kinds[0] == "gauge":
        check_point_times(dp, False)
        assert isinstance(dp["asDouble"], (int, float))
        return [(m["name"], dp["asDouble"])]
    assert d["aggregationTemporality"] == 2
    check_point_times(dp, True)
    b, counts = dp["explicitBounds"], dp["bucketCounts"]
    assert all(isinstance(x, (int, float)) for x in b) and b == sorted(b)
    assert len(counts) == len(b) + 1 and all(is_u64(c) for c in counts)
    assert is_u64(dp["count"]) and sum(int(c) for c in counts) == int(dp["count"])
    assert isinstance(dp["sum"], (int, float))
    return [(m["name"], int(dp["count"]))]


def check_otlp(body):
    d = json.loads(body)
    (rm,) = d["resourceMetrics"]
    attrs = {a["key"]: a["value"]["stringValue"] for a in rm["resource"]["attributes"]}
    assert attrs["service.name"] == "volley"
    (sm,) = rm["scopeMetrics"]
    assert sm["scope"]["name"] == "volley"
    return attrs, dict(nv for m in sm["metrics"] for nv in check_metric(m))


def test_otlp_json_payloads_follow_the_mapping_and_end_with_results(serve, tmp_path):
    rec = OtlpRecorder()
    try:
        out = str(tmp_path / "out")
        p = run_volley(mixed_args(serve) + ["-d", "3", "--out", out, "--label", "otel1",
                                            "--out-otlp", rec.url])
        assert p.returncode == 0, p.stderr
        tot = totals(out)
        assert len(rec.posts) >= 3, rec.posts  # one a second and the final one
        reqs, s5, points = [], [], 0
        for path, ctype, body in rec.posts:
            assert path == "/v1/metrics" and ctype == "application/json"
            attrs, vals = check_otlp(body)
            assert attrs["volley.run"] == "otel1"
            reqs.append(vals["volley.requests"])
            s5.append(vals["volley.responses_by_status{status_class=5xx}"])
            assert vals["volley.request.duration"] == vals["volley.requests"]
            points += len(vals)
        assert reqs == sorted(reqs) and reqs[0] < reqs[-1]
        assert reqs[-1] == tot["requests"]
        assert vals["volley.failed_requests"] == tot["errors"]
        # Statuses move during the run, and end at results.json's.
        assert s5 == sorted(s5) and 0 < s5[0] < s5[-1], s5
        for cls, n in by_class(tot).items():
            assert vals["volley.responses_by_status{status_class=%s}" % cls] == n
        for kind, n in tot["errors_by_kind"].items():
            assert vals["volley.errors_by_kind{kind=%s}" % kind] == n
        ok, lost = delivered(p.stderr, "--out-otlp")
        assert lost == 0 and ok == points
    finally:
        rec.stop()


def test_lua_script_runs_feed_metrics_and_otlp(serve, tmp_path):
    script = tmp_path / "flow.lua"
    script.write_text('options = { vus = 2, duration = "4s" }\n'
                      'function default()\n  http.get(ENV.BASE_URL .. "/health")\n'
                      '  http.get(ENV.BASE_URL .. "/status/500")\nend\n')
    port = peerutil.free_port()
    rec = OtlpRecorder()
    out = str(tmp_path / "out")
    vol = subprocess.Popen([volley_path(), "run", str(script), "-e", "BASE_URL=" + serve.url,
                            "--out", out, "--metrics-listen", str(port), "--metrics-linger", "5",
                            "--out-otlp", rec.url],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        live, final = scrape_until_finished(port, metric_of("volley_requests_total"))
        _, err = vol.communicate(timeout=30)
        assert vol.returncode == 0, err
        with open(os.path.join(out, "results.json")) as f:
            res = json.load(f)
        tot = res["totals"] if "totals" in res else res["stats"]["totals"]
        assert len({v for v in live if v > 0}) >= 2, live  # moved while running
        assert prom_text_value(final, "volley_requests_total") == tot["requests"]
        assert prom_text_value(final, 'volley_responses_by_status_total',
                               'status_class="5xx"') == tot["responses_by_status"]["500"]
        _, vals = check_otlp(rec.posts[-1][2])
        assert vals["volley.requests"] == tot["requests"]
    finally:
        if vol.poll() is None:
            vol.kill()
            vol.wait()
        rec.stop()


def scrape_until_finished(port, pick):
    """Scrapes /metrics every 0.3 s (30 s at most): pick(text) of each
    scrape while the run went on (a None is not kept), and the text of the
    first scrape once volley_run_finished is 1 (None: never finished)."""
    live, final = [], None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and final is None:
        try:
            _, text = peerutil.http_get("http://127.0.0.1:%d/metrics" % port, timeout=2)
        except OSError:
            time.sleep(0.2)
            continue
        if prom_text_value(text, "volley_run_finished") == 1:
            final = text
        else:
            v = pick(text)
            if v is not None:
                live.append(v)
        time.sleep(0.3)
    return live, final


def metric_of(name):
    return lambda text: prom_text_value(text, name)


def test_prometheus_retries_move_live_and_end_at_results(tmp_path):
    # A server that closes each connection silently after five responses:
    # the stale reuses are retried all along the run, and
    # volley_retries_total follows them second by second.
    port = peerutil.free_port()
    out = str(tmp_path / "out")
    with BadServer("close_idle", per_conn=5) as bad:
        vol = subprocess.Popen([volley_path(), "run", bad.url, "-c", "2", "-d", "4", "-t", "1",
                                "--out", out, "-q", "--metrics-listen", str(port),
                                "--metrics-linger", "5"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            live, final = scrape_until_finished(port, metric_of("volley_retries_total"))
            _, err = vol.communicate(timeout=30)
        finally:
            if vol.poll() is None:
                vol.kill()
                vol.wait()
    assert vol.returncode == 0, err
    assert final is not None
    tot = totals(out)
    assert tot["retries"] > 0
    assert len({v for v in live if v > 0}) >= 2, live  # moved while running
    assert prom_text_value(final, "volley_retries_total") == tot["retries"]


def test_gauges_are_live_and_end_on_the_last_whole_second(serve, tmp_path):
    # An open-model run: the target rate, the connections, the generator's
    # CPU and the send lag are on /metrics while it runs; once finished,
    # "the last second" is the last whole second, not the fraction the
    # series ends with.
    port = peerutil.free_port()
    out = str(tmp_path / "out")
    vol = subprocess.Popen([volley_path(), "run", serve.url + "/delay/5", "-r", "300", "-d", "3",
                            "-t", "1", "--out", out, "-q", "--metrics-listen", str(port),
                            "--metrics-linger", "5"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    names = ("volley_target_rate", "volley_active_connections", "volley_generator_cpu_seconds_total",
             "volley_generator_cpu_percent", "volley_send_lag_p99_seconds",
             "volley_last_second_requests")

    def vals(text):
        return {n: prom_text_value(text, n) for n in names}

    try:
        live, final = scrape_until_finished(
            port, lambda t: vals(t) if prom_text_value(t, "volley_requests_total") > 0 else None)
        final = vals(final) if final is not None else None
        _, err = vol.communicate(timeout=30)
    finally:
        if vol.poll() is None:
            vol.kill()
            vol.wait()
    assert vol.returncode == 0, err
    assert final is not None and live
    assert all(v["volley_target_rate"] == 300 for v in live), live
    assert max(v["volley_active_connections"] for v in live) > 0, live
    cpu = [v["volley_generator_cpu_seconds_total"] for v in live]
    assert cpu == sorted(cpu) and cpu[-1] > cpu[0], cpu
    assert any(v["volley_generator_cpu_percent"] > 0 for v in live), live
    assert any(v["volley_send_lag_p99_seconds"] > 0 for v in live), live
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    cols = res["series"]["columns"]
    rows = [dict(zip(cols, r)) for r in res["series"]["rows"]]
    whole = [r for r in rows if (r["second"] + 1) * 1e9 <= res["duration_ns"]]
    assert whole, rows
    # One of the whole seconds, both values from the same row.
    assert any(r["requests"] == final["volley_last_second_requests"] and
               abs(r["cpu_pct"] - final["volley_generator_cpu_percent"]) < 0.06
               for r in whole), (final, rows)
    assert final["volley_last_second_requests"] >= 200, final  # of 300/s: a whole second
    assert final["volley_active_connections"] == 0
    assert final["volley_generator_cpu_seconds_total"] >= cpu[-1]
    assert abs(final["volley_send_lag_p99_seconds"] * 1e3 -
               res["send_lag"]["percentiles"]["p99"]) < 0.002  # the run's, once finished


def test_metrics_server_answers_only_get_of_known_paths(serve):
    import socket
    port = peerutil.free_port()
    vol = subprocess.Popen([volley_path(), "run", serve.url + "/health", "-d", "3", "-c", "2",
                            "--no-save", "-q", "--metrics-listen", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        peerutil.wait_http("http://127.0.0.1:%d/metrics" % port, vol)

        def ask(raw):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(raw)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return data.decode(errors="replace")
                    data += chunk

        assert ask(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").startswith("HTTP/1.1 404 ")
        assert ask(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith("HTTP/1.1 405 ")
        m = ask(b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert m.startswith("HTTP/1.1 200 ") and "text/plain; version=0.0.4" in m
        # A client that never reads does not stop the others or the run.
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        for s in idle:
            s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        assert "volley_requests_total" in ask(b"GET /metrics HTTP/1.1\r\n\r\n")
        assert vol.wait(30) == 0, vol.stderr.read()
        for s in idle:
            s.close()
    finally:
        if vol.poll() is None:
            vol.kill()
            vol.wait()


@pytest.mark.parametrize("args,named", [
    (["--out-influx", "https://127.0.0.1:8086/"], "--out-influx"),
    (["--out-otlp", "not-a-url"], "--out-otlp"),
    (["--pushgateway", "ftp://127.0.0.1/"], "--pushgateway"),
    (["--metrics-linger", "soon"], "--metrics-linger"),
    (["--metrics-linger", "2s"], "--metrics-linger"),  # nothing to keep up
    (["--tui", "--json"], "--tui"),
    (["--tui", "-q"], "--tui"),
])
def test_bad_output_flags_exit_2_naming_the_flag(serve, args, named):
    p = run_volley([serve.url + "/health", "-d", "1", "--no-save"] + args)
    assert p.returncode == 2, p.stderr
    assert named in p.stderr, p.stderr


def test_dashboard_on_a_busy_port_exits_2_before_any_load(serve):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = run_volley([serve.url + "/health", "-d", "1", "--no-save", "--dashboard",
                        "127.0.0.1:%d" % port])
    assert p.returncode == 2 and "--dashboard" in p.stderr, p.stderr
    assert "requests" not in p.stdout


@pytest.mark.serial  # wall time < 5 s
def test_ctrl_c_cuts_the_linger_short(serve):
    import signal as sig
    port = peerutil.free_port()
    vol = subprocess.Popen([volley_path(), "run", serve.url + "/health", "-d", "1", "-c", "2",
                            "--no-save", "-q", "--metrics-listen", str(port),
                            "--metrics-linger", "60"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                _, text = peerutil.http_get("http://127.0.0.1:%d/metrics" % port, timeout=2)
                if prom_text_value(text, "volley_run_finished") == 1:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert vol.poll() is None  # lingering
        t0 = time.monotonic()
        vol.send_signal(sig.SIGINT)
        assert vol.wait(10) == 0, vol.stderr.read()
        assert time.monotonic() - t0 < 5
    finally:
        if vol.poll() is None:
            vol.kill()
            vol.wait()


def test_too_many_clients_are_dropped_and_reported(serve):
    import socket
    port = peerutil.free_port()
    vol = subprocess.Popen([volley_path(), "run", serve.url + "/health", "-d", "2", "-c", "2",
                            "--no-save", "-q", "--metrics-listen", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    socks = []
    try:
        peerutil.wait_http("http://127.0.0.1:%d/metrics" % port, vol)
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
        _, err = vol.communicate(timeout=30)
        assert vol.returncode == 0, err
        assert "--metrics-listen: " in err and "clients dropped" in err, err
    finally:
        for s in socks:
            s.close()
        if vol.poll() is None:
            vol.kill()
            vol.wait()


@pytest.mark.serial  # wall time < 10 s
def test_a_receiver_that_is_down_costs_the_others_nothing(serve, tmp_path):
    rec = OtlpRecorder()
    try:
        out = str(tmp_path / "out")
        dead = "http://127.0.0.1:%d" % peerutil.free_port()
        t0 = time.monotonic()
        p = run_volley([serve.url + "/health", "-d", "2", "-c", "2", "--out", out,
                        "--out-influx", dead, "--out-otlp", rec.url])
        took = time.monotonic() - t0
        assert p.returncode == 0, p.stderr
        ok, lost = delivered(p.stderr, "--out-influx")
        assert ok == 0 and lost > 0
        ok, lost = delivered(p.stderr, "--out-otlp")
        assert lost == 0 and ok == sum(len(check_otlp(b)[1]) for _, _, b in rec.posts)
        _, vals = check_otlp(rec.posts[-1][2])
        assert vals["volley.requests"] == totals(out)["requests"]  # the final push arrived
        assert took < 2 + 3 + 5  # the run, at most the 3 s flush, margin
    finally:
        rec.stop()


@pytest.mark.serial  # wall time < 12 s
def test_a_database_that_never_answers_holds_neither_the_load_nor_the_end(serve, tmp_path):
    # A slow database at its worst: it takes the connection and never
    # answers. Each try gives up after its timeout, the load goes on, the end
    # waits no longer than the 3 s flush, and every point is reported lost
    # with a readable reason.
    import socket
    rec = OtlpRecorder()
    hung = socket.socket()
    try:
        hung.bind(("127.0.0.1", peerutil.free_port()))
        hung.listen(64)  # connections complete in the backlog, never accepted
        out = str(tmp_path / "out")
        t0 = time.monotonic()
        p = run_volley(mixed_args(serve) + ["-d", "3", "--out", out,
                                            "--out-influx", "http://127.0.0.1:%d" % hung.getsockname()[1],
                                            "--out-otlp", rec.url])
        took = time.monotonic() - t0
        assert p.returncode == 0, p.stderr
        with open(os.path.join(out, "results.json")) as f:
            res = json.load(f)
        rows = res["series"]["rows"]
        assert len(rows) >= 3 and all(r[1] > 0 for r in rows[:3]), rows
        ok, lost = delivered(p.stderr, "--out-influx")
        end = 1 + 5 + len(res["totals"]["errors_by_kind"])
        assert ok == 0 and lost in (len(rows) - 1 + end, len(rows) + end), (lost, len(rows))
        line = next(l for l in p.stderr.splitlines() if l.startswith("--out-influx:"))
        assert re.search(r"last error: no answer: timed out after \d+ ms\)$", line), line
        ok, lost = delivered(p.stderr, "--out-otlp")  # the other receiver got everything
        assert lost == 0 and ok > 0
        assert took < 3 + 3 + 4, took  # the run, the 3 s flush, margin for a busy host
    finally:
        hung.close()
        rec.stop()


def test_influxdb_without_the_database_says_so_on_one_line(serve, tmp_path):
    db = peerutil.influxdb(str(tmp_path))
    try:
        p = run_volley([serve.url + "/health", "-d", "1", "-c", "2", "--no-save",
                        "--out-influx", db.base + "/write?db=nosuch"])
        assert p.returncode == 0, p.stderr  # an output does not fail the run
        line = next(l for l in p.stderr.splitlines() if l.startswith("--out-influx:"))
        assert line.startswith("--out-influx: 0 points delivered, "), p.stderr
        assert line.endswith('(0 retries; last error: HTTP 404: {"error":"database not found: '
                             '\\"nosuch\\""})'), p.stderr
    finally:
        db.stop()


def test_script_abort_on_fail_with_live_outputs(serve, tmp_path):
    # The script's abortOnFail wraps the engine's callbacks: the per-endpoint
    # rows must still reach the outputs (a wrong context crashed here once).
    script = tmp_path / "abort.lua"
    script.write_text('options = { vus = 2, duration = "30s", thresholds = { http_req_duration = '
                      '{{threshold = "p(95)<1", abortOnFail = true, delayAbortEval = "3s"}} } }\n'
                      'function default()\n  http.get(ENV.URL .. "/delay/20")\nend\n')
    port = peerutil.free_port()
    vol = subprocess.Popen([volley_path(), "run", str(script), "-e", "URL=" + serve.url,
                            "--no-save", "-q", "--metrics-listen", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        live_ep = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and vol.poll() is None and not live_ep:
            try:
                _, text = peerutil.http_get("http://127.0.0.1:%d/metrics" % port, timeout=2)
                live_ep = "volley_run_finished 0" in text and \
                    'volley_endpoint_requests_total{endpoint="default"}' in text
            except OSError:
                pass
            time.sleep(0.2)
        assert live_ep
        assert vol.wait(30) == 99, vol.stderr.read()
    finally:
        if vol.poll() is None:
            vol.kill()
            vol.wait()
