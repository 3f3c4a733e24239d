"""Input files are checked before they are read: what is not a regular file
(/dev/zero, a directory given as --body-file) and files over the stated limits (1 GiB for bodies
and targets, 256 MiB for results.json) are refused at once with exit 2 and a
message naming the flag and the file. A large body is sent intact and held
once in memory."""
import json
import os
import subprocess
import time


def volley(volley_bin, *args, timeout=20):
    t = time.monotonic()
    p = subprocess.run([volley_bin, *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p, time.monotonic() - t


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)  # no disk blocks: the size check must come before any read
    return str(path)


def test_body_file_dev_zero_and_directory_refused(volley_bin, serve, tmp_path):
    for bad, why in [("/dev/zero", "not a regular file"), (str(tmp_path), "is a directory")]:
        p, secs = volley(volley_bin, "run", serve.url + "/echo", "-m", "POST", "--body-file", bad,
                         "-n", "1", "--no-save")
        assert p.returncode == 2, p.stderr
        assert "--body-file" in p.stderr and bad in p.stderr and why in p.stderr
        assert secs < 5


def test_body_file_over_the_limit_refused(volley_bin, serve, tmp_path):
    big = sparse(tmp_path / "big.bin", (1 << 30) + 1)
    p, secs = volley(volley_bin, "run", serve.url + "/echo", "-m", "POST", "--body-file", big,
                     "-n", "1", "--no-save")
    assert p.returncode == 2, p.stderr
    assert "over the limit of 1024 MiB" in p.stderr and "--body-file" in p.stderr
    assert secs < 5


def test_targets_dev_zero_refused(volley_bin, tmp_path):
    p, _ = volley(volley_bin, "run", "--targets", "/dev/zero", "-n", "1", "--no-save")
    assert p.returncode == 2 and "--targets" in p.stderr and "not a regular file" in p.stderr


def test_report_and_compare_refuse_non_regular_and_huge_files(volley_bin, serve, tmp_path):
    out = tmp_path / "run"
    p, _ = volley(volley_bin, "run", serve.url + "/health", "-n", "20", "-c", "1", "-q",
                  "--out", str(out))
    assert p.returncode == 0, p.stderr
    good = str(out / "results.json")
    huge = sparse(tmp_path / "huge.json", (256 << 20) + 1)
    for args in (["report", "/dev/zero"], ["compare", good, "/dev/zero"],
                 ["compare", "/dev/zero", good], ["report", huge],
                 ["compare", good, huge]):
        p, secs = volley(volley_bin, *args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert "not a regular file" in p.stderr or "over the limit of 256 MiB" in p.stderr, \
            (args, p.stderr)
        assert secs < 5, args


def test_large_body_is_sent_intact(volley_bin, serve, tmp_path):
    # Large enough to be built in place around the file's buffer.
    body = tmp_path / "body.bin"
    data = os.urandom(300 * 1024)
    body.write_bytes(data)
    p, _ = volley(volley_bin, "run", serve.url + "/echo", "-m", "POST", "--body-file", str(body),
                  "-n", "3", "-c", "1", "-q", "--json", "--no-save")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    t = res["totals"]
    assert t["responses_by_status"] == {"200": 3}
    assert res["plan"]["body_bytes"] == len(data)
    # /echo returns the body: every request carried all of it.
    assert t["bytes_in"] >= 3 * len(data) and t["bytes_out"] >= 3 * len(data)


def test_large_body_is_held_once(volley_bin, serve_factory, tmp_path):
    # A 300 MB body once cost 622 MB RSS (held twice). 100 MB here: the
    # peak RSS of the volley process (from wait4) stays under 1.5 times it.
    size = 100 << 20
    srv = serve_factory("--max-body", "128MiB", "--threads", "1")
    body = sparse(tmp_path / "body.bin", size)  # reads as zeros from the page cache
    out, errout = tmp_path / "out.json", tmp_path / "err.txt"
    with open(out, "w") as fo, open(errout, "w") as fe:
        p = subprocess.Popen([volley_bin, "run", srv.url + "/status/200", "-m", "POST",
                              "--body-file", body, "-n", "1", "-c", "1", "-q", "--json",
                              "--no-save"], stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    assert p.returncode == 0, errout.read_text()
    res = json.loads(out.read_text())
    assert res["totals"]["bytes_out"] >= size  # the whole body went out (405: a GET route)
    assert res["totals"]["responses"] == 1
    assert usage.ru_maxrss < 1.5 * size / 1024, (usage.ru_maxrss, size // 1024)
