"""The developer gates outside the binary: `make coverage`'s table fails
below its goal, and `scripts/mutate.py --check` (run by make test) fails
when a mutant no longer applies. Each is run on a copy, failing case first."""
import importlib.util
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")


def lcov(path, files):
    with open(path, "w") as f:
        for name, (hit, lines) in files.items():
            f.write(f"SF:{ROOT}/{name}\nLF:{lines}\nLH:{hit}\nend_of_record\n")


def coverage_table(info):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, "coverage_table.py"), info],
                          capture_output=True, text=True)


def test_coverage_table_fails_when_a_held_module_is_below_85(tmp_path):
    info = str(tmp_path / "src.info")
    lcov(info, {"src/load/engine.c": (84, 100), "src/metrics/hist.c": (90, 100),
                "src/results/csv.c": (90, 100), "src/report/compare.c": (85, 100),
                "src/net/loop.c": (10, 100)})
    p = coverage_table(info)
    assert p.returncode == 1, p.stdout
    assert p.stdout.strip().splitlines()[-1] == "below 85 %: src/load"
    # At the goal (and a module without one far under it): passes.
    lcov(info, {"src/load/engine.c": (85, 100), "src/metrics/hist.c": (90, 100),
                "src/results/csv.c": (90, 100), "src/report/compare.c": (85, 100),
                "src/net/loop.c": (10, 100)})
    p = coverage_table(info)
    assert p.returncode == 0 and "below" not in p.stdout, p.stdout


def mutants():
    spec = importlib.util.spec_from_file_location("mutate", os.path.join(SCRIPTS, "mutate.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.MUTANTS


def test_mutate_check_fails_when_a_mutant_no_longer_applies(tmp_path):
    # A copy of the script and of every file a mutant touches.
    os.makedirs(tmp_path / "scripts")
    shutil.copy(os.path.join(SCRIPTS, "mutate.py"), tmp_path / "scripts")
    ms = mutants()
    for path in {m[1] for m in ms}:
        os.makedirs(os.path.dirname(tmp_path / path), exist_ok=True)
        shutil.copy(os.path.join(ROOT, path), tmp_path / path)
    check = [sys.executable, str(tmp_path / "scripts" / "mutate.py"), "--check"]
    p = subprocess.run(check, capture_output=True, text=True)
    assert p.returncode == 0 and f"all {len(ms)} mutants apply" in p.stdout, p.stderr
    # The code moves under one mutant: exit 2, naming it.
    name, path, old = ms[0][:3]
    src = tmp_path / path
    src.write_text(src.read_text().replace(old, old.replace(" ", "  ", 1)))
    p = subprocess.run(check, capture_output=True, text=True)
    assert p.returncode == 2, p.stdout
    assert f"'{name}' no longer applies to {path}" in p.stderr and "occurs 0 times" in p.stderr
