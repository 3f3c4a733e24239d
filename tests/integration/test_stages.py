"""--stages as the seeds write them: a list of targets with one total
duration (-d), beside the TARGET:DURATION form."""
import json
import subprocess


def run(volley_bin, *args):
    return subprocess.run([volley_bin, "run", "--no-save", "-q", *args], capture_output=True,
                          text=True, timeout=60)


def test_targets_split_the_total_duration_evenly(volley_bin, serve):
    p = run(volley_bin, "--json", "--stages", "10,20", "-d", "2s", "--executor",
            "ramping-arrival-rate", serve.url + "/health")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["plan"]["stages"] == "10:1.000s,20:1.000s"
    assert r["plan"]["duration_s"] == 2.0
    # 0 -> 10/s over 1 s, then 10 -> 20/s over 1 s: 5 + 15 requests.
    assert r["totals"]["requests"] == 20


def test_targets_with_hold_and_uneven_split(volley_bin, serve):
    p = run(volley_bin, "--json", "--stages", "2,4,6", "-d", "1s", "--hold", "200ms",
            serve.url + "/health")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    # The last stage takes the remainder so the ramps add up to exactly 1 s.
    assert r["plan"]["stages"] == \
        "2:0.333s,2:0.200s,4:0.333s,4:0.200s,6:0.333s,6:0.200s"
    assert abs(r["plan"]["duration_s"] - 1.6) < 1e-9


def test_targets_without_total_duration_exit_2(volley_bin):
    p = run(volley_bin, "--stages", "10,20", "http://127.0.0.1:1/")
    assert p.returncode == 2
    assert "need the total as -d DURATION" in p.stderr


def test_mixed_forms_exit_2_naming_the_stage(volley_bin):
    p = run(volley_bin, "--stages", "10:1s,20", "http://127.0.0.1:1/")
    assert p.returncode == 2
    assert "'20' at position 7 is not TARGET:DURATION" in p.stderr


def test_duration_with_timed_stages_still_refused(volley_bin):
    p = run(volley_bin, "--stages", "10:1s", "-d", "2s", "http://127.0.0.1:1/")
    assert p.returncode == 2
    assert "--duration: not used with --stages" in p.stderr
