"""volley report's inputs: a run's folder or a folder of runs (the newest),
--endpoint NAME for one endpoint alone, and wrong files named as what they
are."""
import json
import os
import subprocess
import time

import pytest


def run(volley_bin, *args):
    p = subprocess.run([volley_bin, "run", "-q", *args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p


def report(volley_bin, *args):
    return subprocess.run([volley_bin, "report", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def runs(volley_bin, serve, tmp_path):
    d = tmp_path / "volley-results"
    run(volley_bin, "--endpoint", "a=" + serve.url + "/health", "--endpoint",
        "b=" + serve.url + "/bytes/100", "-n", "50", "-c", "1", "--raw", "--out", str(d / "one"))
    # The second run's results.json must be newer on any file system clock.
    time.sleep(0.05)
    run(volley_bin, serve.url + "/delay/1", "-n", "7", "-c", "1", "--out", str(d / "two"))
    os.utime(d / "one" / "results.json", (1, 1))
    return d


def test_folder_of_runs_means_the_newest(volley_bin, runs):
    p = report(volley_bin, str(runs), "-f", "txt")
    assert p.returncode == 0, p.stderr
    assert "/delay/1" in p.stdout and "requests     7 " in p.stdout


def test_run_folder_means_its_results(volley_bin, runs, tmp_path):
    out = tmp_path / "rep"
    p = report(volley_bin, str(runs / "one"), "--out", str(out), "-f", "csv")
    assert p.returncode == 0, p.stderr
    rows = (out / "summary.csv").read_text().splitlines()
    assert any(",a," in r for r in rows) and any(",b," in r for r in rows)


def test_endpoint_alone(volley_bin, runs, tmp_path):
    out = tmp_path / "rep"
    p = report(volley_bin, str(runs / "one"), "--endpoint", "b", "--out", str(out),
               "-f", "txt,csv,html,png")
    assert p.returncode == 0, p.stderr
    # The whole report is endpoint b: its URL heads it, its 50 requests are the run's.
    assert "/bytes/100" in p.stdout and "/health" not in p.stdout
    assert "requests     50 " in p.stdout
    rows = (out / "summary.csv").read_text().splitlines()
    assert not any(",a," in r for r in rows)
    assert (out / "charts" / "route-b.png").exists()
    assert not (out / "charts" / "route-a.png").exists()
    html = (out / "report.html").read_text()
    assert "/bytes/100" in html


def test_unknown_endpoint_names_the_ones_there(volley_bin, runs):
    p = report(volley_bin, str(runs / "one"), "--endpoint", "zz", "-f", "txt")
    assert p.returncode == 2
    assert "no endpoint 'zz'" in p.stderr and "'a', 'b'" in p.stderr


@pytest.mark.parametrize("name,content,what", [
    ("summary.csv", "step,endpoint,requests\n", "a CSV file"),
    ("page.html", "<!doctype html><html></html>", "an HTML page"),
    ("notes.txt", "hello there", "not JSON"),
])
def test_wrong_files_are_named_as_what_they_are(volley_bin, tmp_path, name, content, what):
    f = tmp_path / name
    f.write_text(content)
    p = report(volley_bin, str(f))
    assert p.returncode == 2
    assert "%s is %s" % (f, what) in p.stderr and "results.json" in p.stderr


def test_empty_folder_is_an_error(volley_bin, tmp_path):
    p = report(volley_bin, str(tmp_path))
    assert p.returncode == 2
    assert "no results.json" in p.stderr
