"""Live outputs against the real components (output/): Prometheus scraping
--metrics-listen, InfluxDB 1.x receiving --out-influx, the Pushgateway
receiving --pushgateway, a recorder checking --out-otlp's OTLP JSON, headless
Chromium on --dashboard and tmux driving --tui. Every peer runs on loopback
from a temp dir and is stopped after."""
import json
import os
import subprocess
import tempfile
import time

import pytest

import peerutil
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


def prom_value(prom, q):
    r = peerutil.promql(prom, q)
    assert len(r) == 1, (q, r)
    return float(r[0]["value"][1])


def test_prometheus_scrapes_live_and_final_counts_match_results(serve, tmp_path):
    port = peerutil.free_port()
    prom = peerutil.prometheus(str(tmp_path), "127.0.0.1:%d" % port)
    try:
        peerutil.prometheus_wait_scraping(prom)
        out = str(tmp_path / "out")
        p = run_volley(mixed_args(serve) + ["-d", "4", "--metrics-listen", str(port),
                                            "--metrics-linger", "3", "--out", out])
        assert p.returncode == 0, p.stderr
        tot = totals(out)
        # Live: several scrapes during the run saw a growing request count.
        rng = peerutil.promql(prom, "volley_requests_total[30s]")
        vals = [float(v) for _, v in rng[0]["values"]]
        live = sorted(set(v for v in vals if 0 < v < tot["requests"]))
        assert len(live) >= 2, vals
        assert prom_value(prom, "volley_requests_total") == tot["requests"]
        assert prom_value(prom, "volley_failed_requests_total") == tot["errors"]
        assert prom_value(prom, "volley_run_finished") == 1
        for cls, n in by_class(tot).items():
            assert prom_value(prom, 'volley_responses_by_status_total{status_class="%s"}' % cls) == n
        assert prom_value(prom, 'sum(volley_endpoint_requests_total)') == tot["requests"]
        assert prom_value(prom, "volley_request_duration_seconds_count") == tot["requests"]
    finally:
        prom.stop()


def test_metrics_listen_refuses_a_bad_address(serve):
    p = run_volley([serve.url + "/health", "-d", "1", "--no-save", "--metrics-listen", "nohost:x"])
    assert p.returncode == 2
    assert "--metrics-listen" in p.stderr


def wait_listening(port, proc, timeout=15):
    peerutil.wait_http("http://127.0.0.1:%d/" % port, proc, timeout)


def test_dashboard_in_headless_chromium_is_live_and_ends_with_results(serve, tmp_path):
    import cdp
    port = peerutil.free_port()
    out = str(tmp_path / "out")
    br = cdp.Browser(str(tmp_path), peerutil.free_port())  # slow to start: first
    vol = subprocess.Popen([volley_path(), "run"] + mixed_args(serve) +
                           ["-d", "5", "--dashboard", "127.0.0.1:%d" % port,
                            "--metrics-linger", "2", "--out", out],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, vol)
        origin = "http://127.0.0.1:%d" % port
        br.call("Page.navigate", url=origin + "/")
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            br.pump(0.5)
            state = br.eval("document.getElementById('state').textContent")
            seen.append((state, br.eval("document.getElementById('requests').textContent")))
            if state == "finished":
                break
        live = [int(n) for s, n in seen if s == "running"]
        # Numbers change each second: at least three distinct growing values.
        assert len(set(live)) >= 3 and live == sorted(live), seen
        assert seen[-1][0] == "finished", seen
        assert vol.wait(30) == 0, vol.stderr.read()
        tot = totals(out)
        assert br.eval("document.getElementById('requests').textContent") == str(tot["requests"])
        assert br.eval("document.getElementById('errors').textContent") == str(tot["errors"])
        final = br.eval("document.getElementById('final').textContent")
        assert "results.json" in final, final
        eps = br.eval("document.getElementById('t_eps').rows.length")
        assert eps == 3, eps  # header + ok + bad
        assert not br.errors, br.errors
        outside = [u for u in br.requests if not u.startswith(origin + "/")]
        assert not outside, outside
        assert origin + "/events" in br.requests
    finally:
        br.close()
        if vol.poll() is None:
            vol.kill()
            vol.wait()
