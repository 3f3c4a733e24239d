"""Throughput denominators: req/s is completed requests over the load time
(per endpoint over that endpoint's load time); the tail after the load, while
in-flight requests finish, is reported as `drain_s` and not folded into the
rate. A slow endpoint's tail must not lower a fast endpoint's rate."""
import json
import subprocess

import pytest

# Every test here runs in the serial pass (tests/integration/pytest.ini):
# req/s and drain times within tenths of a second.
pytestmark = pytest.mark.serial


def run(volley_bin, tmp_path, *args):
    out = tmp_path / "out"
    p = subprocess.run([volley_bin, "run", *args, "--out", str(out)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p, json.loads((out / "results.json").read_text())


def test_slow_endpoint_tail_is_a_drain_not_a_lower_rate(volley_bin, serve, tmp_path):
    p, res = run(volley_bin, tmp_path, "--endpoint", "health=" + serve.url + "/health",
                 "--endpoint", "slow=" + serve.url + "/delay/800", "--rate", "10", "-d", "2s")
    eps = {e["name"]: e for e in res["endpoints"]}
    for name in ("health", "slow"):
        e = eps[name]
        assert e["totals"]["requests"] == 20, (name, e["totals"])
        assert e["duration_s"] == 2.0, (name, e["duration_s"])
        assert abs(e["totals"]["rps"] - 10) < 0.1, (name, e["totals"]["rps"])
    assert eps["health"]["drain_s"] < 0.3
    assert eps["slow"]["drain_s"] >= 0.5
    assert res["drain_s"] >= 0.5 and res["duration_s"] == 2.0
    assert abs(res["totals"]["rps"] - 20) < 0.2
    assert "drain" in p.stdout and "not in the rates" in p.stdout


def test_open_model_with_n_rate_is_over_the_schedule(volley_bin, serve, tmp_path):
    # 50 starts at 50/s: the last starts at 0.98 s, then takes 300 ms.
    _, res = run(volley_bin, tmp_path, serve.url + "/delay/300", "--rate", "50", "-n", "50", "-q")
    assert res["totals"]["requests"] == 50
    assert 0.95 <= res["duration_s"] <= 1.05, res["duration_s"]
    assert abs(res["totals"]["rps"] - 50) < 3, res["totals"]["rps"]
    assert res["drain_s"] >= 0.25


def test_sweep_rate_excludes_drains_and_cooldowns(volley_bin, serve, tmp_path):
    _, res = run(volley_bin, tmp_path, serve.url + "/delay/400", "--rates", "20,40", "-d", "1s",
                 "--cooldown", "500ms", "-q")
    steps = res["steps"]
    assert [s["totals"]["requests"] for s in steps] == [20, 40]
    for s in steps:
        assert s["duration_s"] == 1.0
        assert s["drain_s"] >= 0.3
    assert res["duration_s"] == 2.0
    assert abs(res["totals"]["rps"] - 30) < 0.5
