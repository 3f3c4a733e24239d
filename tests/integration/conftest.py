"""Shared fixtures for the integration tests: the volley binary and a
`volley serve` target on a free loopback port.

- volley_bin: path to ./volley at the repo root (VOLLEY_BIN overrides it, e.g.
  VOLLEY_BIN=build/asan/volley to run everything under ASan+UBSan).
- start_serve(*args): starts `volley serve --listen 127.0.0.1:0 --threads 2
  *args` (a --listen/--threads in args replaces the default), waits for its
  "listening on http://HOST:PORT" line and returns a Serve (host, port, url,
  proc, stop()).
- serve: a running default server, stopped at teardown with SIGTERM; the
  teardown asserts it exited 0.
- serve_factory: start_serve with arguments, every server stopped (and
  checked) at teardown.
- free_port(): a loopback port that was free a moment ago (ports.py: below the
  kernel's ephemeral range, where no client socket of another test lands).
"""
import os
import select
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def volley_path():
    # Absolute: VOLLEY_BIN=build/cov/volley must still name the binary in a
    # test that runs volley with another working directory.
    return os.path.abspath(os.environ.get("VOLLEY_BIN", os.path.join(ROOT, "volley")))


from ports import free_port  # noqa: E402,F401 (re-exported: tests import it from here)


class Serve:
    """A running `volley serve`; stop() sends SIGTERM and returns the exit code."""

    def __init__(self, proc, host, port, errfile):
        self.proc = proc
        self.errfile = errfile
        self.host = host
        self.port = port
        self.url = "http://%s:%d" % (host, port)
        self.started = time.monotonic()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("volley serve did not stop within %.0fs of SIGTERM" % timeout)
        return self.proc.returncode

    def stderr(self):
        """The server's stderr so far."""
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")


def start_serve(*args, timeout=10.0, binary=None):
    args = list(args)
    cmd = [binary or volley_path(), "serve"]
    if not any(a in ("--listen", "-l") or a.startswith("--listen=") for a in args):
        cmd += ["--listen", "127.0.0.1:0"]
    if not any(a in ("--threads", "-t") or a.startswith("--threads=") for a in args):
        cmd += ["--threads", "2"]
    cmd += args
    # stderr to a file, not a pipe: a pipe nobody reads could block the server.
    errfile = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
    text = line.decode(errors="replace").strip()
    if not text.startswith("listening on http://"):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
        raise AssertionError("volley serve did not start (%r): %s" % (text, err))
    hostport = text[len("listening on http://"):]
    host, _, port = hostport.rpartition(":")
    return Serve(proc, host.strip("[]"), int(port), errfile)


@pytest.fixture(scope="session")
def volley_bin():
    path = volley_path()
    if not os.access(path, os.X_OK):
        pytest.fail("volley binary not found at %s (run make, or set VOLLEY_BIN)" % path)
    return path


@pytest.fixture
def serve(volley_bin):
    s = start_serve(binary=volley_bin)
    yield s
    rc = s.stop()
    assert rc == 0, "volley serve exited %s: %s" % (rc, s.stderr())


@pytest.fixture
def serve_factory(volley_bin):
    started = []

    def make(*args, **kw):
        s = start_serve(*args, binary=volley_bin, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        rc = s.stop()
        assert rc == 0, "volley serve exited %s: %s" % (rc, s.stderr())
