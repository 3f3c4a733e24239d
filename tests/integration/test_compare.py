"""volley compare and run --baseline: noise-aware verdicts and CI gates."""
import json
import random
import re
import subprocess

import pytest

import synthresults


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


@pytest.fixture
def synth(volley_bin, serve, tmp_path):
    """make(name, scale=1.0, seed=..., spread=None, errors=None): a synthetic
    4-second results file of 1000 lognormal latencies (median ~1 ms) per
    second, scaled; spread multiplies each second's latencies by its own
    factor (correlated seconds)."""
    tpl = synthresults.template(volley_bin, serve.url + "/health", tmp_path / "tpl.json")

    def make(name, scale=1.0, seed=1, spread=None, errors=None, seconds=4):
        r = random.Random(seed)
        secs = []
        for k in range(seconds):
            f = scale * (spread[k % len(spread)] if spread else 1.0)
            secs.append([min(2047, max(1, int(f * r.lognormvariate(6.9, 0.15))))
                         for _ in range(1000)])
        return synthresults.write(tpl, tmp_path / f"{name}.json", secs, errors)
    return make


# Deterministic: fixed seeds. Identical distributions, different draws.
@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_same_distribution_is_same(volley_bin, synth, seed):
    v = verdicts(volley_bin, synth("a", seed=1), synth("b", seed=seed))
    assert len(v) == 6
    assert all(x == "same" for x in v.values()), v


def test_twenty_percent_slower_is_worse_and_back_is_better(volley_bin, synth):
    a, b = synth("a", seed=1), synth("b", scale=1.2, seed=2)
    v = verdicts(volley_bin, a, b)
    for m in ["mean", "p50", "p90", "p99"]:
        assert v[("total", m)] == "worse", v
    assert v[("total", "rps")] == "same" and v[("total", "errors")] == "same", v
    v = verdicts(volley_bin, b, a)
    for m in ["mean", "p50", "p90", "p99"]:
        assert v[("total", m)] == "better", v


def test_five_percent_change_is_same_though_significant(volley_bin, synth):
    p = compare(volley_bin, "--json", str(synth("a", seed=1)), str(synth("b", 1.05, seed=2)))
    rows = {r["metric"]: r for r in json.loads(p.stdout)["rows"]}
    assert rows["mean"]["p_value"] < 0.01 and 4 < rows["mean"]["change_pct"] < 6, rows["mean"]
    assert rows["mean"]["verdict"] == "same"


def test_scattered_seconds_hide_a_change(volley_bin, synth):
    """The same 20 % change, but each run's seconds are 0.6x..1.4x of each
    other (correlated requests): the spread of per-second values says the
    difference is within noise."""
    wild = [0.6, 1.4, 0.7, 1.3]
    v = verdicts(volley_bin, synth("a", seed=1, spread=wild),
                 synth("b", scale=1.2, seed=2, spread=wild[::-1]))
    assert v[("total", "mean")] == "same", v


def test_verdict_prints_its_numbers_and_rule(volley_bin, synth):
    p = compare(volley_bin, str(synth("a", seed=1)), str(synth("b", 1.2, seed=2)))
    assert p.returncode == 0, p.stderr
    mean = next(line for line in p.stdout.splitlines() if " mean " in line)
    # base, new, change, its 99 % interval, p, requests/seconds, verdict
    assert re.search(r"\+2\d\.\d% +\d+\.\d% +0\.0000 +4000/4,4000/4  worse$", mean), mean
    assert "p < 0.01 and a change of at least 10%" in p.stdout
    js = json.loads(compare(volley_bin, "--json", str(synth("a")), str(synth("c", 1.2))).stdout)
    row = js["rows"][1]
    assert row["metric"] == "mean" and row["seconds_base"] == 4 and row["samples_new"] == 4000
    assert row["se_base"] > 0 and 0 < row["ci99"] < 10 and row["df"] > 0


def test_errors_worse_only_beyond_a_tenth_of_a_point(volley_bin, synth):
    a = synth("a")
    v = verdicts(volley_bin, a, synth("b", seed=2, errors=[20, 20, 20, 20]))
    assert v[("total", "errors")] == "worse", v
    v = verdicts(volley_bin, a, synth("c", seed=2, errors=[1, 0, 1, 0]))
    assert v[("total", "errors")] == "same", v
    # A burst in one second is one event, not 80 independent failures.
    v = verdicts(volley_bin, a, synth("d", seed=2, errors=[80, 0, 0, 0]))
    assert v[("total", "errors")] == "same", v


@pytest.mark.parametrize("gate,scale,errors,fails", [
    ("p(99)>+10%", 1.2, None, True), ("p(99)>+10%", 1.05, None, False),
    ("p(90)>+10%", 1.2, None, True), ("p(50)>+10%", 1.2, None, True),
    ("med>+30%", 1.2, None, False), ("avg>+10%", 1.2, None, True),
    ("avg>+10%", 0.8, None, False), ("mean<-10%", 0.8, None, True),
    ("rate<-5%", 1.2, None, False), ("rps>+5%", 1.0, None, False),
    ("errors>+1%", 1.0, [50, 50, 50, 50], True), ("errors>+1%", 1.0, [5, 5, 5, 5], False),
])
def test_fail_if_every_metric_form(volley_bin, synth, gate, scale, errors, fails):
    p = compare(volley_bin, str(synth("a")), str(synth("b", scale, seed=2, errors=errors)),
                "--fail-if", gate)
    assert p.returncode == (99 if fails else 0), (gate, p.stdout, p.stderr)
    assert (f"FAIL --fail-if '{gate}'" in p.stderr) == fails


@pytest.mark.serial  # a live compare's verdict
def test_slower_route_is_worse(volley_bin, serve, tmp_path):
    """Real runs, 100x apart: holds on a busy machine (at 20x, seconds
    stalled by other work made the per-second spread swallow the change
    once, at load average 17; the rule leans to "same" by design)."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_run(volley_bin, a, serve.url + "/delay/1")
    save_run(volley_bin, b, serve.url + "/delay/100")
    v = verdicts(volley_bin, a, b)
    # The median: a stall of the busy machine can own a run's mean or p99.
    assert v[("total", "p50")] == "worse", v
    assert v[("total", "errors")] == "same"
    v = verdicts(volley_bin, b, a)
    assert v[("total", "p50")] == "better"


def test_fail_if_gate_and_html(volley_bin, synth, tmp_path):
    a, b = synth("a"), synth("b", 1.5, seed=2)
    html = tmp_path / "cmp.html"
    p = compare(volley_bin, str(a), str(b), "--fail-if", "p(99)>+10%", "--html", str(html))
    assert p.returncode == 99
    assert "FAIL --fail-if 'p(99)>+10%'" in p.stderr
    assert "worse" in p.stdout
    page = html.read_text()
    assert "<svg" in page and "src=\"http" not in page and "href=\"http" not in page
    p = compare(volley_bin, str(b), str(a), "--fail-if", "p(99)>+10%")
    assert p.returncode == 0


@pytest.mark.serial  # a live compare's verdict
def test_run_with_baseline_compares_in_one_step(volley_bin, serve, tmp_path):
    base = tmp_path / "base.json"
    save_run(volley_bin, base, serve.url + "/delay/1")
    p = subprocess.run([volley_bin, "run", "--no-save", "--rate", "200", "-d", "3s",
                        "--baseline", str(base), "--fail-if", "p(50)>+10%",
                        serve.url + "/delay/50"], capture_output=True, text=True, timeout=60)
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


def test_run_folders_stand_for_their_results(volley_bin, serve, tmp_path):
    """`volley run --out DIR` twice, then `volley compare DIR1 DIR2` (and
    --baseline DIR), as `volley report DIR` reads a folder."""
    dirs = []
    for name, ms in (("a", 1), ("b", 3)):
        d = tmp_path / name
        p = subprocess.run([volley_bin, "run", "-q", "--no-report", "--out", str(d), "-c", "1",
                            "-d", "1s", serve.url + "/delay/%d" % ms],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        dirs.append(d)
    by_dir = compare(volley_bin, "--json", str(dirs[0]), str(dirs[1]))
    by_file = compare(volley_bin, "--json", str(dirs[0] / "results.json"),
                      str(dirs[1] / "results.json"))
    assert by_dir.returncode == by_file.returncode == 0, by_dir.stderr
    assert json.loads(by_dir.stdout)["rows"] == json.loads(by_file.stdout)["rows"]
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "-n", "20", "-c", "1",
                        "--baseline", str(dirs[0]), "--fail-if", "p(50)>+10%",
                        serve.url + "/delay/3"], capture_output=True, text=True, timeout=60)
    assert p.returncode in (0, 99) and "this run" in p.stdout, p.stdout + p.stderr
    # A folder without results.json is still named as what it is.
    p = compare(volley_bin, str(tmp_path), str(dirs[1]))
    assert p.returncode == 2 and "is a directory" in p.stderr, p.stderr


def save_monitored(volley_bin, path, serve, rate):
    p = subprocess.run([volley_bin, "run", "-q", "--no-save", "--rate", str(rate), "-d", "2s",
                        "-t", "1", "--monitor-pid", str(serve.proc.pid), "--save-baseline",
                        str(path), serve.url + "/delay/1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_plans_that_differ_warn_and_same_plan_refuses(volley_bin, serve, tmp_path):
    """Two rates: every output says the plans differ; --same-plan exits 2."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_monitored(volley_bin, a, serve, 100)
    save_monitored(volley_bin, b, serve, 150)
    p = compare(volley_bin, str(a), str(b))
    assert p.returncode == 0, p.stderr
    assert "the plans differ: rate 100/s vs 150/s" in p.stderr, p.stderr
    assert "WARNING: the plans differ (rate 100/s vs 150/s)" in p.stdout, p.stdout
    assert "better/worse: p < 0.01" in p.stdout  # the legend states the rule
    p = compare(volley_bin, "--json", str(a), str(b))
    assert json.loads(p.stdout)["plans_differ"] == "rate 100/s vs 150/s"
    p = compare(volley_bin, "--same-plan", str(a), str(b))
    assert p.returncode == 2 and "refused (--same-plan)" in p.stderr, p.stderr
    # The same plan: no warning, and --same-plan lets it through.
    p = compare(volley_bin, "--same-plan", str(a), str(a))
    assert p.returncode == 0 and "plans differ" not in p.stdout + p.stderr, p.stdout + p.stderr


def test_compare_html_has_the_report_style_and_the_server_monitor(volley_bin, serve, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_monitored(volley_bin, a, serve, 100)
    save_monitored(volley_bin, b, serve, 100)
    html = tmp_path / "cmp.html"
    p = compare(volley_bin, str(a), str(b), "--html", str(html))
    assert p.returncode == 0, p.stderr
    page = html.read_text()
    report = subprocess.run([volley_bin, "report", str(a), "--format", "html", "--out",
                             str(tmp_path / "rep")], capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    style = re.search(r"<style>(.*?)</style>", (tmp_path / "rep" / "report.html").read_text(),
                      re.S).group(1)
    assert "<style>%s</style>" % style in page, "compare page has its own style"
    assert "Content-Security-Policy" in page and 'class="sortable"' in page
    assert '<table id="monitor">' in page and "pid %d" % serve.proc.pid in page
    assert '<figure id="server">' in page  # the server's CPU of both runs overlaid
    assert "better/worse: p &lt; 0.01" in page
    assert page.count("<code>volley run -q --no-save --rate 100") == 2
