"""deploy/kubernetes without a cluster: the manifests validate offline
against the Kubernetes API schema (tests/k8s/validate.mjs, with the schema
the npm package kubernetes-models ships; unknown fields refused), their
parts agree (an Indexed Job with completions = parallelism =
VOLLEY_SEGMENTS running --segment auto), and the Job's own command runs as
N local processes with JOB_COMPLETION_INDEX set, on the ConfigMap's script,
against nginx: merged counts equal the access log and the schedule."""
import glob
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import volley_path
from nginxutil import Nginx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOLLEY = volley_path()
K8S = os.path.join(ROOT, "deploy", "kubernetes")
VALIDATE = os.path.join(ROOT, "tests", "k8s", "validate.mjs")
MANIFESTS = sorted(glob.glob(os.path.join(K8S, "*.yaml")))


def validator():
    if not shutil.which("node"):
        pytest.skip("node is not installed (scripts/setup-deps.sh test installs nodejs, npm)")
    if not os.path.isdir(os.path.join(ROOT, "tests", "k8s", "node_modules", "kubernetes-models")):
        pytest.skip("tests/k8s/node_modules missing: scripts/setup-deps.sh test runs npm ci there")


def validate(*files, json_out=False):
    validator()
    args = ["node", VALIDATE] + (["--json"] if json_out else []) + list(files)
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def docs():
    p = validate(*MANIFESTS, json_out=True)
    assert p.returncode == 0, p.stderr
    return {(d["kind"], d["metadata"]["name"]): d for d in json.loads(p.stdout)}


def test_manifests_valid_against_the_kubernetes_schema():
    assert len(MANIFESTS) >= 4
    p = validate(*MANIFESTS)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(": valid") == len(MANIFESTS), p.stdout


def test_validator_refuses_bad_manifests(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = open(os.path.join(K8S, "job.yaml")).read()
    text = text.replace("completionMode: Indexed", "completionMode: Indexd")
    text = text.replace("parallelism: 4", "paralelism: 4")
    text = text.replace("restartPolicy: Never", "restartPolicy: Never\n      bogusField: 1")
    bad.write_text(text)
    p = validate(str(bad))
    assert p.returncode == 1
    assert "completionMode must be equal to one of the allowed values" in p.stderr, p.stderr
    assert "spec/paralelism: unknown field" in p.stderr
    assert "template/spec/bogusField: unknown field" in p.stderr


def job_container():
    d = docs()
    job = d[("Job", "volley")]
    spec = job["spec"]
    c = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    return d, spec, c, env


def test_indexed_job_is_one_run_in_segments():
    d, spec, c, env = job_container()
    assert spec["completionMode"] == "Indexed"
    n = int(env["VOLLEY_SEGMENTS"]["value"])
    assert spec["completions"] == spec["parallelism"] == n
    assert "batch.kubernetes.io/job-completion-index" in \
        env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    args = c["args"]
    assert args[args.index("--segment") + 1] == "auto"
    assert args[args.index("--start-at") + 1] == "$(START_AT)"
    assert "--json" in args  # kubectl logs | volley merge -
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert vols["scripts"]["configMap"]["name"] == "volley-script"
    script = args[1]
    assert script.startswith(mounts["scripts"] + "/")
    assert os.path.basename(script) in d[("ConfigMap", "volley-script")]["data"]
    merge = d[("Job", "volley-merge")]["spec"]["template"]["spec"]
    assert merge["volumes"][0]["persistentVolumeClaim"]["claimName"] == \
        vols["results"]["persistentVolumeClaim"]["claimName"] == "volley-results"
    assert "volley merge /results/segment-*/results.json" in merge["containers"][0]["args"][0]


def test_start_at_placeholder_is_refused():
    _, _, _, env = job_container()
    p = subprocess.run([VOLLEY, "run", "--no-save", "--start-at", env["START_AT"]["value"],
                        "-n", "1", "http://127.0.0.1:1/"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2 and "--start-at" in p.stderr


@pytest.fixture
def nginx():
    n = Nginx()
    yield n
    n.stop()


@pytest.mark.serial  # every scheduled request sent (none dropped)
def test_job_command_runs_as_local_segments(nginx, tmp_path):
    """The Job's args, $(VAR) expanded as Kubernetes does, with the
    ConfigMap's script, as 3 processes (JOB_COMPLETION_INDEX 0..2)."""
    d, spec, c, env = job_container()
    (tmp_path / "scripts").mkdir()
    for k, v in d[("ConfigMap", "volley-script")]["data"].items():
        (tmp_path / "scripts" / k).write_text(v)
    n, rate, secs = 3, 60, 2
    start_at = f"{time.time() + 3:.3f}"
    procs = []
    for i in range(n):
        var = {"START_AT": start_at, "JOB_COMPLETION_INDEX": str(i), "VOLLEY_SEGMENTS": str(n),
               "TARGET_URL": nginx.url}
        args = [re.sub(r"\$\((\w+)\)", lambda m: var[m.group(1)], a) for a in c["args"]]
        args = [a.replace("/scripts/", str(tmp_path / "scripts") + "/")
                 .replace("/results/", str(tmp_path / "results") + "/")
                 .replace("RATE=1000", f"RATE={rate}").replace("DURATION=60s", f"DURATION={secs}s")
                for a in args]
        procs.append(subprocess.Popen([VOLLEY, *args, "-t", "1"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      env=dict(os.environ, **var)))
    logs = ""
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        logs += out
    # Like the merge Job (files on the shared volume) and like kubectl logs (stdin).
    files = sorted(glob.glob(str(tmp_path / "results" / "segment-*" / "results.json")))
    assert len(files) == n
    for src, out in ((files, "m1"), (["-"], "m2")):
        r = subprocess.run([VOLLEY, "merge", *src, "--out", str(tmp_path / out), "-f", "txt"],
                           capture_output=True, text=True, timeout=60,
                           input=logs if src == ["-"] else None)
        assert r.returncode == 0, r.stderr
        m = json.loads((tmp_path / out / "results.json").read_text())
        assert m["totals"]["requests"] == rate * secs
        assert m["merge"]["missing_segments"] == []
    assert nginx.logged_settled() == rate * secs
