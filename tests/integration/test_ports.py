"""The ported Locust file and k6 script in examples/ run against volley
serve and do what their originals do: user classes by weight, weighted
tasks 50/30/15/5, on_start, on_stop; groups, checks, custom metrics and thresholds."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(volley_bin, serve, name, *args):
    p = subprocess.run([volley_bin, "run", os.path.join(ROOT, "examples", name), "-e",
                        "BASE_URL=" + serve.url, "--no-save", "--json", *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_locust_port_weights_classes_and_tasks(volley_bin, serve):
    r = run(volley_bin, serve, "locust-users.lua", "-e", "DURATION=3s", "-e", "VUS=8",
            "--seed", "11")
    m = r["script"]["metrics"]
    total = m["task"]["count"]
    assert total > 200, m
    share = {k: m["task{name:%s}" % k]["count"] / total for k in ("home", "item", "stream", "echo")}
    for k, want in (("home", .50), ("item", .30), ("stream", .15), ("echo", .05)):
        assert abs(share[k] - want) < 0.06, share
    names = r["script"]["names"]
    # 8 VUs, weights 3:1: 6 browsers (each logged in once), 2 API clients.
    assert names[serve.url + "/echo"]["requests"] == 6
    assert names["logout"]["requests"] == 6  # on_stop, once per browser
    assert names["api status"]["requests"] > 0
    assert all(t["ok"] for t in r["thresholds"])


def test_k6_port_groups_checks_metrics_thresholds(volley_bin, serve):
    r = run(volley_bin, serve, "k6-port.lua", "-e", "DURATION=2s", "-e", "VUS=2")
    s = r["script"]
    checks = {c["name"]: c for c in s["checks"]}
    assert set(checks) == {"browse::status is 200", "checkout::order echoed",
                           "checkout::json body"}
    assert all(c["fails"] == 0 and c["passes"] > 0 for c in checks.values())
    assert s["metrics"]["carts"]["count"] == s["scenarios"]["default"]["iterations"]
    assert "step_ms{step:browse}" in s["metrics"]
    assert len(r["thresholds"]) == 7 and all(t["ok"] for t in r["thresholds"])
    assert s["setup"]["requests"] == 0
