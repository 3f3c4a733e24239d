"""Distributed runs on one machine: N local `volley run --segment auto`
processes with the variables of a Kubernetes Indexed Job
(JOB_COMPLETION_INDEX, VOLLEY_SEGMENTS) and a common --start-at, against a
private nginx on loopback, then `volley merge`. The merged counts must equal
nginx's access log and the schedule of one unsegmented run; thresholds are
evaluated on the merged run (exit 99 when one fails); different plans and a
repeated segment are refused (exit 2); `volley report` and `compare` read
the merged results."""
import json
import os
import subprocess
import time

import pytest

from conftest import volley_path
from nginxutil import Nginx

VOLLEY = volley_path()


@pytest.fixture
def nginx():
    n = Nginx()
    yield n
    n.stop()


def run_segments(tmp_path, n, args, start_in=2.0, env_of=None, timeout=90):
    """Starts n segments at once (a common --start-at) and waits for them."""
    at = f"{time.time() + start_in:.3f}"
    procs = []
    for k in range(n):
        env = dict(os.environ)
        env.update(env_of(k, n) if env_of else
                   {"JOB_COMPLETION_INDEX": str(k), "VOLLEY_SEGMENTS": str(n)})
        out = tmp_path / f"seg{k}"
        cmd = [VOLLEY, "run", "-q", "--segment", "auto", "--start-at", at,
               "--out", str(out), *args]
        procs.append((subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True), out))
    files, codes = [], []
    for p, out in procs:
        _, err = p.communicate(timeout=timeout)
        codes.append(p.returncode)
        assert p.returncode in (0, 99), err
        files.append(str(out / "results.json"))
    return files, codes


def merge(files, out, *args, stdin=None):
    return subprocess.run([VOLLEY, "merge", *files, "--out", str(out), "-f", "txt", *args],
                          capture_output=True, text=True, timeout=60, input=stdin)


def load(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.serial  # segments start within 50 ms; generator verdicts
def test_open_model_segments_merge_to_one_run(nginx, tmp_path):
    rate, secs, n = 400, 2, 4
    args = ["--rate", str(rate), "-d", f"{secs}s", "-t", "1", nginx.url + "/health"]
    files, _ = run_segments(tmp_path, n, args)
    parts = [load(f) for f in files]
    assert sorted(p["segment"]["index"] for p in parts) == [1, 2, 3, 4]
    assert all(p["segment"]["count"] == n for p in parts)
    assert all(p["start_late_ns"] >= 0 and p["start_at_unix_ns"] > 0 for p in parts)
    # The segments began at the common instant (within 50 ms of each other).
    starts = [p["start_unix_ns"] for p in parts]
    assert max(starts) - min(starts) < 50_000_000, starts
    r = merge(files, tmp_path / "merged")
    assert r.returncode == 0, r.stderr
    m = load(tmp_path / "merged" / "results.json")
    logged = nginx.logged_settled()
    # Every scheduled request was sent or, when a busy machine made a
    # generator fall too far behind, counted as dropped: never lost.
    t = m["totals"]
    sent = t["requests"]
    assert sent + t["dropped_iterations"] == rate * secs
    assert sent == logged and t["responses_by_status"] == {"200": sent}
    assert m["latency"]["count"] == sent
    assert sum(p["totals"]["requests"] for p in parts) == sent
    # Each segment's generator is judged on its share of the rate, not the plan's.
    for p in parts:
        g = p["generator"]
        assert g["target_rps"] == rate / n, g
        assert g["verdict"] == "ok" or "sent" not in g["why"], g
    # The breakdown columns add over segments, second by second.
    c5 = m["series"]["columns"]
    assert sum(row[c5.index("status_2xx")] for row in m["series"]["rows"]) == sent
    # The single unsegmented run schedules the same number.
    nginx.reset_log()
    one = subprocess.run([VOLLEY, "run", "-q", "--json", "--no-save", *args],
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0, one.stderr
    ot = json.loads(one.stdout)["totals"]
    assert ot["requests"] + ot["dropped_iterations"] == rate * secs
    # Series: merged rows are the inputs' rows added second by second.
    cols = m["series"]["columns"]
    assert sum(row[cols.index("requests")] for row in m["series"]["rows"]) == sent
    assert [i["segment"] for i in m["merge"]["inputs"]] == [f"{k}/4" for k in range(1, 5)]
    assert (tmp_path / "merged" / "summary.csv").exists()


@pytest.mark.serial  # every scheduled request sent (none dropped)
def test_mixed_endpoints_merge_to_one_runs_endpoints(nginx, tmp_path):
    """Open model, mixed mode, three weighted endpoints with their own
    methods: iteration i's endpoint depends on i alone, so the merged
    per-endpoint counts (matched by name, method and URL) are those of one
    unsegmented run. The merge records each input's host, segment and
    lateness."""
    eps = ["--endpoint", f"a=GET {nginx.url}/a", "--endpoint", f"b=POST {nginx.url}/b",
           "--endpoint", f"c=GET {nginx.url}/c", "--weight", "a=5", "--weight", "b=2",
           "--weight", "c=1", "--mode", "mixed"]
    args = ["--rate", "300", "-d", "2s", "-t", "1", *eps]
    files, _ = run_segments(tmp_path, 3, args, start_in=1.5)
    r = merge(files, tmp_path / "m")
    assert r.returncode == 0, r.stderr
    m = load(tmp_path / "m" / "results.json")
    assert m["totals"]["dropped_iterations"] == 0
    got = {(e["name"], e["method"], e["url"]): e["totals"]["requests"] for e in m["endpoints"]}
    nginx.reset_log()
    one = subprocess.run([VOLLEY, "run", "-q", "--json", "--no-save", *args],
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0, one.stderr
    o = json.loads(one.stdout)
    assert o["totals"]["dropped_iterations"] == 0
    want = {(e["name"], e["method"], e["url"]): e["totals"]["requests"] for e in o["endpoints"]}
    assert got == want and sum(want.values()) == 600, (got, want)
    assert len(set(want.values())) == 3  # the weights made three different shares
    parts = {p["segment"]["index"]: p for p in map(load, files)}
    for i in m["merge"]["inputs"]:
        k = int(i["segment"].split("/")[0])
        assert i["segment"] == f"{k}/3"
        assert i["host"] == parts[k]["host"] != ""
        assert i["start_late_ns"] == parts[k]["start_late_ns"]
    assert m["start_late_ns"] == max(p["start_late_ns"] for p in parts.values())


def test_closed_model_requests_split_exactly(nginx, tmp_path):
    total, n = 1001, 3
    files, _ = run_segments(tmp_path, n, ["-c", "5", "-n", str(total), "-t", "2",
                                          nginx.url + "/"], start_in=1.0)
    parts = [load(f) for f in files]
    assert sorted(p["totals"]["requests"] for p in parts) == [333, 334, 334]
    r = merge(files, tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert load(tmp_path / "m" / "results.json")["totals"]["requests"] == total
    assert nginx.logged_settled() == total


def test_slurm_variables_and_stdin_documents(nginx, tmp_path):
    """SLURM_PROCID/SLURM_NTASKS; JSON on stdout merged from stdin ('-')."""
    n = 2
    at = f"{time.time() + 1:.3f}"
    outs = []
    for k in range(n):
        env = dict(os.environ, SLURM_PROCID=str(k), SLURM_NTASKS=str(n))
        outs.append(subprocess.Popen(
            [VOLLEY, "run", "-q", "--json", "--no-save", "--segment", "auto", "--start-at", at,
             "-n", "90", "-c", "3", "-t", "1", nginx.url + "/"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    text = ""
    for p in outs:
        o, e = p.communicate(timeout=60)
        assert p.returncode == 0, e
        text += "log line before the document\n" + o
    r = merge(["-"], tmp_path / "m", stdin=text)
    assert r.returncode == 0, r.stderr
    assert load(tmp_path / "m" / "results.json")["totals"]["requests"] == 90
    assert nginx.logged_settled() == 90


def test_thresholds_evaluated_on_the_merge(nginx, tmp_path):
    # Each segment alone has 200 requests: its own count>300 fails (99);
    # the merged run has 400 and passes.
    args = ["--rate", "200", "-d", "2s", "-t", "1", "--threshold", "count>300",
            nginx.url + "/health"]
    files, codes = run_segments(tmp_path, 2, args, start_in=1.0)
    assert codes == [99, 99]
    r = merge(files, tmp_path / "ok")
    assert r.returncode == 0, r.stderr
    m = load(tmp_path / "ok" / "results.json")
    assert [(t["expr"], t["ok"]) for t in m["thresholds"]] == [("count>300", True)]
    r = merge(files, tmp_path / "fail", "--threshold", "count>500")
    assert r.returncode == 99, r.stderr
    assert "FAILED" in r.stderr
    r = merge(files, tmp_path / "fail2", "--threshold", "p(99)<1us")
    assert r.returncode == 99
    r = merge(files, tmp_path / "bad", "--threshold", "p(99)<<1")
    assert r.returncode == 2
    # report and compare read merged results
    rep = subprocess.run([VOLLEY, "report", str(tmp_path / "ok" / "results.json"), "-f", "txt"],
                         capture_output=True, text=True, timeout=60)
    assert rep.returncode == 0 and "requests" in rep.stdout, rep.stderr
    cmp_ = subprocess.run([VOLLEY, "compare", str(tmp_path / "ok" / "results.json"),
                           str(tmp_path / "ok" / "results.json")],
                          capture_output=True, text=True, timeout=60)
    assert cmp_.returncode == 0, cmp_.stderr


def test_refusals_and_missing_segments(nginx, tmp_path):
    url = nginx.url + "/"
    def run(seg, *extra):
        out = tmp_path / seg.replace("/", "of")
        p = subprocess.run([VOLLEY, "run", "-q", "--segment", seg, "-n", "20", "-c", "2",
                            "-t", "1", "--out", str(out), *extra, url],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return str(out / "results.json")
    a, b, c = run("1/3"), run("2/3"), run("3/3", "--no-keepalive")
    r = merge([a, b, c], tmp_path / "m1")
    assert r.returncode == 2 and "plan.keepalive" in r.stderr, r.stderr
    r = merge([a, b, c, "--force"], tmp_path / "m2")
    assert r.returncode == 0, r.stderr
    r = merge([a, a], tmp_path / "m3")
    assert r.returncode == 2 and "given twice" in r.stderr, r.stderr
    r = merge([a, b], tmp_path / "m4")
    assert r.returncode == 0, r.stderr
    assert "segments missing: 3 of 3" in r.stderr
    m = load(tmp_path / "m4" / "results.json")
    assert m["merge"]["missing_segments"] == [3]
    r = merge([str(tmp_path / "nope.json")], tmp_path / "m5")
    assert r.returncode == 2


def test_bad_segment_and_start_at_flags_refused(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JOB_COMPLETION_INDEX", "VOLLEY_SEGMENTS", "SLURM_PROCID", "SLURM_NTASKS")}
    cases = [(["--segment", "auto"], env, "--segment auto"),
             (["--segment", "auto"], dict(env, JOB_COMPLETION_INDEX="3", VOLLEY_SEGMENTS="3"),
              "JOB_COMPLETION_INDEX=3"),
             (["--start-at", "soon"], env, "--start-at")]
    for args, e, want in cases:
        p = subprocess.run([VOLLEY, "run", "--no-save", "-n", "1", *args, "http://127.0.0.1:1/"],
                           capture_output=True, text=True, env=e, timeout=30)
        assert p.returncode == 2 and want in p.stderr, (args, p.stderr)


def test_late_start_is_recorded(nginx, tmp_path):
    at = f"{time.time() - 0.5:.3f}"  # already past: the segment is late
    p = subprocess.run([VOLLEY, "run", "--json", "--no-save", "--start-at", at, "--rate", "50",
                        "-d", "1s", "-t", "1", nginx.url + "/"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["start_late_ns"] >= 400_000_000
    assert "late" in p.stderr
    # The schedule kept its intended times: all 50 iterations were sent.
    assert res["totals"]["requests"] == 50


def test_stale_start_at_refused_before_any_load(nginx, tmp_path):
    """A --start-at the whole run is already past (a stale time, a segment
    restarted long after the others) is refused with exit 2, nothing sent;
    one the run has not finished yet is only late (above)."""
    script = tmp_path / "s.lua"
    script.write_text("options = { scenarios = { a = { executor = 'constant-vus', vus = 1,"
                      " duration = '1s' } } }\n"
                      "function default() http.get(ENV.URL .. '/health') end\n")
    at = f"{time.time() - 3600:.3f}"
    for args, run_s in ((["--rate", "50", "-d", "2s", nginx.url + "/"], "2.000"),
                        ([str(script), "-e", "URL=" + nginx.url], "1.000")):
        p = subprocess.run([VOLLEY, "run", "--no-save", "-t", "1", "--start-at", at, *args],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, p.stderr
        assert "--start-at" in p.stderr and f"the run ({run_s} s) would already be over" \
            in p.stderr, p.stderr
    assert nginx.logged_settled() == 0
    # -n without a duration has no schedule to keep: lateness only delays
    # it, and its duration and rate are those of its own requests (not an
    # hour, nor the time since the machine booted).
    p = subprocess.run([VOLLEY, "run", "--json", "--no-save", "-t", "1", "-c", "1", "-n", "5",
                        "--start-at", at, nginx.url + "/"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["start_late_ns"] >= 3600 * 10**9
    assert res["duration_s"] < 30 and res["start_unix_ns"] > (time.time() - 60) * 1e9, res
    assert nginx.logged_settled() == 5


def test_script_scenarios_split_over_segments(nginx, tmp_path):
    script = tmp_path / "s.lua"
    script.write_text(
        "options = { thresholds = { http_req_duration = { 'p(95)<5000' } }, scenarios = {"
        " shared = { executor = 'shared-iterations', vus = 5, iterations = 77 },"
        " pervu = { executor = 'per-vu-iterations', vus = 4, iterations = 3 } } }\n"
        "function default() http.get(ENV.URL .. '/health') end\n")
    files, _ = run_segments(tmp_path, 3, [str(script), "-t", "1", "-e", "URL=" + nginx.url],
                            start_in=1.0)
    r = merge(files, tmp_path / "m")
    assert r.returncode == 0, r.stderr
    m = load(tmp_path / "m" / "results.json")
    assert m["totals"]["requests"] == 77 + 4 * 3
    assert nginx.logged_settled() == 77 + 12
    # A k6-grammar threshold of the script is named, not silently dropped.
    assert "threshold 'http_req_duration: p(95)<5000' is not judged" in r.stderr, r.stderr


def test_sweep_steps_split_and_merge_by_index(nginx, tmp_path):
    files, _ = run_segments(tmp_path, 2, ["--rates", "100,200", "-d", "1s", "-t", "1",
                                          nginx.url + "/"], start_in=1.0)
    r = merge(files, tmp_path / "m")
    assert r.returncode == 0, r.stderr
    m = load(tmp_path / "m" / "results.json")
    assert [s["totals"]["requests"] for s in m["steps"]] == [100, 200]
    assert [s["index"] for s in m["steps"]] == [0, 1]
    assert m["totals"]["requests"] == 300 == nginx.logged_settled()


def test_closed_model_ramp_vus_split_over_segments(nginx, tmp_path):
    # 6 VUs at the peak: 3 per segment, 6 in the merged run's active column.
    files, _ = run_segments(tmp_path, 2, ["--stages", "6:1s,6:2s", "--executor", "ramping-vus",
                                          "-t", "1", nginx.url + "/"], start_in=1.0)
    parts = [load(f) for f in files]
    active = parts[0]["series"]["columns"].index("active")
    assert [max(r[active] for r in p["series"]["rows"]) for p in parts] == [3, 3]
    r = merge(files, tmp_path / "m")
    assert r.returncode == 0, r.stderr
    m = load(tmp_path / "m" / "results.json")
    active = m["series"]["columns"].index("active")
    assert max(r[active] for r in m["series"]["rows"]) == 6
    assert m["totals"]["requests"] == sum(p["totals"]["requests"] for p in parts)
    assert m["totals"]["requests"] == nginx.logged_settled()
