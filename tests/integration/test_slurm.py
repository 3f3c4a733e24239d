"""deploy/slurm/volley.sbatch on a real Slurm started here (slurmutil.py:
munged, slurmctld, slurmd on loopback with their own configuration): a
4-task job against a private nginx runs 4 segments with --segment auto and
a common --start-at and merges them. Merged counts must equal nginx's
access log and the schedule of one unsegmented run; a threshold on the
merge passes (job exit 0) or fails (job exit 99). deploy/slurm/find-max.sbatch
runs one capacity search over 2 tasks in lock-step against volley serve
--capacity. Skipped, saying why, only
where Slurm is not installed or cannot start."""
import json
import os
import subprocess

import pytest

import slurmutil
from conftest import volley_path
from nginxutil import Nginx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOLLEY = volley_path()
SBATCH = os.path.join(ROOT, "deploy", "slurm", "volley.sbatch")
FIND_MAX_SBATCH = os.path.join(ROOT, "deploy", "slurm", "find-max.sbatch")


@pytest.fixture(scope="module")
def slurm():
    missing = slurmutil.missing_binaries()
    if missing:
        pytest.skip("Slurm not installed (missing %s; scripts/setup-deps.sh test installs "
                    "slurm-wlm and munge)" % ", ".join(missing))
    if os.geteuid() != 0:
        pytest.skip("the private Slurm runs its daemons as root (SlurmdUser=root); not root")
    try:
        s = slurmutil.Slurm()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"Slurm could not start on this machine: {str(e)[:1500]}")
    yield s
    s.stop()


@pytest.fixture
def nginx():
    n = Nginx()
    yield n
    n.stop()


def submit(slurm, tmp_path, name, run_args, merge_args=""):
    out = tmp_path / name
    env = dict(slurm.env, VOLLEY=VOLLEY, VOLLEY_OUT=str(out), VOLLEY_START_DELAY="3",
               VOLLEY_MERGE_ARGS=merge_args)
    p = subprocess.run(["sbatch", "--wait", "--ntasks=4", f"--output={tmp_path}/{name}.log",
                        f"--chdir={tmp_path}", SBATCH, *run_args],
                       capture_output=True, text=True, env=env, timeout=180)
    log = (tmp_path / f"{name}.log").read_text() if (tmp_path / f"{name}.log").exists() else ""
    return p.returncode, out, p.stdout + p.stderr + log


@pytest.mark.serial  # every scheduled request sent (none dropped)
def test_sbatch_four_tasks_merge_to_one_run(slurm, nginx, tmp_path):
    rate, secs = 200, 2
    args = ["--rate", str(rate), "-d", f"{secs}s", "-t", "1", nginx.url + "/health"]
    rc, out, log = submit(slurm, tmp_path, "pass", args, "--threshold count>=400 -f txt")
    assert rc == 0, log
    parts = [json.loads((out / f"segment-{k}" / "results.json").read_text()) for k in range(1, 5)]
    assert sorted(p["segment"]["index"] for p in parts) == [1, 2, 3, 4]
    assert all(p["segment"]["count"] == 4 for p in parts)
    merged = json.loads((out / "merged" / "results.json").read_text())
    assert merged["merge"]["missing_segments"] == []
    assert merged["totals"]["requests"] == rate * secs == nginx.logged_settled()
    assert [(t["expr"], t["ok"]) for t in merged["thresholds"]] == [("count>=400", True)]
    nginx.reset_log()
    one = subprocess.run([VOLLEY, "run", "-q", "--json", "--no-save", *args],
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["totals"]["requests"] == merged["totals"]["requests"]


def test_sbatch_threshold_on_the_merge_fails(slurm, nginx, tmp_path):
    args = ["--rate", "100", "-d", "1s", "-t", "1", nginx.url + "/health"]
    rc, out, log = submit(slurm, tmp_path, "fail", args, "--threshold count>100 -f txt")
    assert rc == 99, log
    merged = json.loads((out / "merged" / "results.json").read_text())
    assert merged["totals"]["requests"] == 100 == nginx.logged_settled()
    assert [(t["expr"], t["ok"]) for t in merged["thresholds"]] == [("count>100", False)]


@pytest.mark.serial  # a find-max search
def test_sbatch_find_max_segments_search_in_lock_step(slurm, serve_factory, tmp_path):
    s = serve_factory("--capacity", "400", "--capacity-queue", "200ms")
    out = tmp_path / "fm"
    env = dict(slurm.env, VOLLEY=VOLLEY, VOLLEY_OUT=str(out), VOLLEY_START_DELAY="3")
    p = subprocess.run(["sbatch", "--wait", "--ntasks=2", f"--output={tmp_path}/fm.log",
                        f"--chdir={tmp_path}", FIND_MAX_SBATCH, "http://%s:%d/health" % (s.host, s.port),
                        "--slo", "p(50)<25ms,errors<1%", "--start-rate", "100",
                        "--step-min", "1s", "--step-max", "1s", "--cooldown", "300ms",
                        "--max-steps", "5", "-t", "1"],
                       capture_output=True, text=True, env=env, timeout=240)
    log = (tmp_path / "fm.log").read_text() if (tmp_path / "fm.log").exists() else ""
    assert p.returncode == 0, p.stdout + p.stderr + log
    blocks = [json.loads((out / f"segment-{k}" / "results.json").read_text())["search"]
              for k in (1, 2)]
    assert blocks[0] == blocks[1] and len(blocks[0]["steps"]) == 5, blocks
    assert "max sustainable rate" in log  # segment 1's step table and answer, in the job log
    assert s.stop() == 0
    served = s.stderr().split("served ")[1]
    total = int(served.split(",")[0]) + int(served.split("refused ")[1].split(" ")[0])
    assert sum(st["requests"] for st in blocks[0]["steps"]) == total
