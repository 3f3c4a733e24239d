"""volley compare and run --baseline: noise-aware verdicts and CI gates."""
import json
import subprocess

import pytest


def save_run(volley_bin, path, url, seconds=4):
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "--rate", "200", "-d",
                        f"{seconds}s", "-t", "1", "--save-baseline", str(path), url],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def compare(volley_bin, *args):
    return subprocess.run([volley_bin, "compare", *args], capture_output=True, text=True,
                          timeout=30)


def verdicts(volley_bin, a, b):
    p = compare(volley_bin, "--json", str(a), str(b))
    assert p.returncode == 0, p.stderr
    return {(r["endpoint"], r["metric"]): r["verdict"] for r in json.loads(p.stdout)["rows"]}


def test_same_server_is_same_in_at_least_9_of_10_trials(volley_bin, serve, tmp_path):
    runs = []
    for i in range(11):
        path = tmp_path / f"r{i}.json"
        save_run(volley_bin, path, serve.url + "/delay/1")
        runs.append(path)
    all_same = 0
    for a, b in zip(runs, runs[1:]):
        v = verdicts(volley_bin, a, b)
        assert len(v) == 6
        all_same += all(x == "same" for x in v.values())
    assert all_same >= 9


def test_slower_route_is_worse(volley_bin, serve, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_run(volley_bin, a, serve.url + "/delay/1")
    save_run(volley_bin, b, serve.url + "/delay/5")
    v = verdicts(volley_bin, a, b)
    for m in ["mean", "p50", "p90", "p99"]:
        assert v[("total", m)] == "worse", v
    assert v[("total", "errors")] == "same"
    # And the other way round it is better.
    v = verdicts(volley_bin, b, a)
    assert v[("total", "p99")] == "better"


def test_fail_if_gate_and_html(volley_bin, serve, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_run(volley_bin, a, serve.url + "/delay/1")
    save_run(volley_bin, b, serve.url + "/delay/20")
    html = tmp_path / "cmp.html"
    p = compare(volley_bin, str(a), str(b), "--fail-if", "p(99)>+10%", "--html", str(html))
    assert p.returncode == 99
    assert "FAIL --fail-if 'p(99)>+10%'" in p.stderr
    assert "worse" in p.stdout
    page = html.read_text()
    assert "<svg" in page and "src=\"http" not in page and "href=\"http" not in page
    p = compare(volley_bin, str(b), str(a), "--fail-if", "p(99)>+10%")
    assert p.returncode == 0


def test_run_with_baseline_compares_in_one_step(volley_bin, serve, tmp_path):
    base = tmp_path / "base.json"
    save_run(volley_bin, base, serve.url + "/delay/1")
    p = subprocess.run([volley_bin, "run", "--no-save", "--rate", "200", "-d", "3s",
                        "--baseline", str(base), "--fail-if", "p(99)>+10%",
                        serve.url + "/delay/20"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 99
    assert "this run" in p.stdout and "worse" in p.stdout


@pytest.mark.parametrize("args,needle", [
    (["--fail-if", "p(99)>10"], "expected a change"),
    (["--fail-if", "speed>+1%"], "unknown metric"),
])
def test_bad_gate_exits_2(volley_bin, tmp_path, args, needle):
    p = compare(volley_bin, *args, "a.json", "b.json")
    assert p.returncode == 2 and needle in p.stderr


def test_bad_files_exit_2(volley_bin, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"schema_version": 1, "plan": ')
    p = compare(volley_bin, str(f), str(f))
    assert p.returncode == 2 and str(f) in p.stderr
    p = subprocess.run([volley_bin, "run", "--no-save", "-d", "1s", "--baseline", str(f),
                        "http://127.0.0.1:1/"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and str(f) in p.stderr
