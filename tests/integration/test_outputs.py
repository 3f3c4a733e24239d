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
