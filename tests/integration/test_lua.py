"""`volley run flow.lua` (src/script): every example runs for a few seconds
against `volley serve`, and the numbers in results.json ("script" object
and per-scenario endpoints) are checked: echo messages sent = received,
check pass rates (100% against a healthy server, lower against /status/500),
iteration errors counted for a throwing script, and a syntax error exits 2
before any load."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def run_script(volley_bin, path, tmp_path, *env, timeout=90):
    out = tmp_path / "out"
    args = [volley_bin, "run", str(path), "--out", str(out), "-t", "2"]
    for kv in env:
        args += ["-e", kv]
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    # Lua support broken is a failure, never a skip.
    assert "missing URL" not in p.stderr and "not an http" not in p.stderr.lower(), p.stderr
    res = None
    f = out / "results.json"
    if f.exists():
        res = json.loads(f.read_text())
    return p, res


def write(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return f


def checks(res):
    return {c["name"]: c for c in res["script"]["checks"]}


@pytest.mark.parametrize("example", ["concurrent-sessions", "message-throughput",
                                     "session-lifecycle", "mixed-workload", "weighted-tasks"])
def test_example_runs_clean(volley_bin, serve, tmp_path, example):
    p, res = run_script(volley_bin, os.path.join(EXAMPLES, example + ".lua"), tmp_path,
                        "BASE_URL=" + serve.url, "DURATION=2s", "VUS=4")
    assert p.returncode == 0, p.stderr
    s = res["script"]
    assert s["iteration_errors"] == 0, s["errors"]
    assert s["iterations"] > 0
    for c in s["checks"]:
        assert c["fails"] == 0, c
    sent = 0
    for name, sc in s["scenarios"].items():
        ws = sc["ws"]
        # The echo route answers every message.
        assert ws["messages_sent"] == ws["messages_received"], (name, ws)
        assert ws["errors"] == 0
        sent += ws["messages_sent"]
    # Every example talks WebSocket: a run that sent nothing proves nothing.
    assert sent > 0, s["scenarios"]
    # HTTP requests are counted exactly: responses + errors = requests.
    tot = res["totals"] if "totals" in res else res["stats"]["totals"]
    assert tot["requests"] == tot["responses"] + tot["transport_errors"]


def test_check_rates_follow_the_server(volley_bin, serve, tmp_path):
    f = write(tmp_path, "rates.lua", """
options = { vus = 2, iterations = 40 }
function default()
  local ok = http.get(ENV.BASE_URL .. "/health")
  check(ok, { ["healthy 200"] = function(r) return r.status == 200 end })
  local bad = http.get(ENV.BASE_URL .. "/status/500")
  check(bad, { ["failing 200"] = function(r) return r.status == 200 end })
end
""")
    p, res = run_script(volley_bin, f, tmp_path, "BASE_URL=" + serve.url)
    assert p.returncode == 0, p.stderr
    c = checks(res)
    assert c["healthy 200"]["passes"] == 40 and c["healthy 200"]["rate"] == 1.0
    assert c["failing 200"]["fails"] == 40 and c["failing 200"]["rate"] == 0.0
    assert res["script"]["iterations"] == 40


def test_iteration_errors_are_counted_and_vus_continue(volley_bin, serve, tmp_path):
    f = write(tmp_path, "throw.lua", """
options = { scenarios = { t = { executor = "per-vu-iterations", vus = 3, iterations = 4 } } }
function default()
  http.get(ENV.BASE_URL .. "/health")
  if vu.iteration % 2 == 1 then error("odd iteration") end
end
""")
    p, res = run_script(volley_bin, f, tmp_path, "BASE_URL=" + serve.url)
    assert p.returncode == 0, p.stderr
    s = res["script"]
    assert s["iterations"] == 12
    assert s["iteration_errors"] == 6
    assert s["scenarios"]["t"]["iteration_errors"] == 6
    msg = s["errors"][0]
    assert "throw.lua:5: odd iteration" in msg["message"] and "VU" in msg["first_seen"]
    assert "throw.lua:5" in p.stderr


def test_syntax_error_exits_2_before_load(volley_bin, serve, tmp_path):
    f = write(tmp_path, "broken.lua", "options = { vus = 1 }\nfunction default()\n  http.get(\nend\n")
    p, res = run_script(volley_bin, f, tmp_path, "BASE_URL=" + serve.url)
    assert p.returncode == 2
    assert "broken.lua:4" in p.stderr
    assert res is None


def test_bad_option_names_scenario_and_field(volley_bin, tmp_path):
    f = write(tmp_path, "opts.lua", """
options = { scenarios = { api = { executor = "constant-vus", vus = 1, duration = "ten" } } }
function default() end
""")
    p, _ = run_script(volley_bin, f, tmp_path)
    assert p.returncode == 2
    assert "options.scenarios.api.duration" in p.stderr


def test_env_presets_and_scenarios_reported_apart(volley_bin, serve, tmp_path):
    f = write(tmp_path, "two.lua", """
local n = ENV.PRESET == "light" and 5 or 50
options = { scenarios = {
  a = { executor = "shared-iterations", vus = 1, iterations = n, exec = "fa" },
  b = { executor = "shared-iterations", vus = 1, iterations = 3, exec = "fb" },
} }
function fa() http.get(ENV.BASE_URL .. "/health") end
function fb() http.get(ENV.BASE_URL .. "/bytes/10") http.get(ENV.BASE_URL .. "/bytes/10") end
""")
    p, res = run_script(volley_bin, f, tmp_path, "BASE_URL=" + serve.url, "PRESET=light")
    assert p.returncode == 0, p.stderr
    eps = {e["name"]: e for e in res["endpoints"]}

    def reqs(e):
        return e["totals"]["requests"] if "totals" in e else e["stats"]["totals"]["requests"]
    assert reqs(eps["a"]) == 5
    assert reqs(eps["b"]) == 6
