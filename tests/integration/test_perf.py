"""--cpus: worker threads pinned to the listed CPUs (URL runs and Lua
scripts alike), the main thread left alone, and bad lists refused with
exit 2 naming the flag."""
import os
import subprocess
import time

import pytest


def thread_cpus(pid):
    """{tid: Cpus_allowed_list} of every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out[int(tid)] = line.split(":", 1)[1].strip()
        except FileNotFoundError:
            pass
    return out


def pinned_threads(volley_bin, args, cpu, nthreads):
    """Starts volley with args, waits (deadline) until nthreads threads run
    on cpu alone, returns ({tid: list}, main thread's list)."""
    p = subprocess.Popen([volley_bin, "run", "--no-save", "-q"] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        seen = {}
        while time.monotonic() < deadline and p.poll() is None:
            seen = thread_cpus(p.pid)
            # The main thread wears the mask while it starts the workers:
            # wait until they are pinned and it has taken it off.
            workers = sum(1 for t, v in seen.items() if t != p.pid and v == str(cpu))
            if workers >= nthreads and seen.get(p.pid) != str(cpu):
                break
            time.sleep(0.05)
        main = seen.get(p.pid)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        return seen, main
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def last_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to tell pinned threads from the rest")
    return cpus[-1]


def test_cpus_pins_each_worker_thread(volley_bin, serve):
    cpu = last_cpu()
    seen, main = pinned_threads(volley_bin, ["--cpus", str(cpu), "-t", "2", "-c", "4", "-d",
                                             "3s", serve.url + "/health"], cpu, 2)
    pinned = [t for t, v in seen.items() if v == str(cpu)]
    assert len(pinned) == 2, seen
    # The main thread keeps the whole set: it only wore the mask to start them.
    assert main is not None and main != str(cpu), seen


def test_cpus_pins_script_workers(volley_bin, serve, tmp_path):
    cpu = last_cpu()
    script = tmp_path / "pin.lua"
    script.write_text("""
options = { vus = 4, duration = "3s" }
function default()
  http.get(ENV.BASE_URL .. "/health")
end
""")
    seen, main = pinned_threads(volley_bin, ["--cpus", str(cpu), "-t", "2", "-e",
                                             "BASE_URL=" + serve.url, str(script)], cpu, 2)
    assert len([t for t, v in seen.items() if v == str(cpu)]) == 2, seen
    assert main is not None and main != str(cpu), seen


@pytest.mark.parametrize("arg,needle", [
    ("1023", "not available"),
    ("4095", "out of range"),
    ("1-", "CPU list"),
    ("0,0", "twice"),
    ("x", "CPU list"),
])
def test_cpus_bad_list_exits_2(volley_bin, serve, arg, needle):
    p = subprocess.run([volley_bin, "run", "--no-save", "--cpus", arg, "-d", "1s",
                        serve.url + "/health"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert "--cpus" in p.stderr and needle in p.stderr, p.stderr
