"""A tiny Chrome DevTools Protocol client for the dashboard test: starts
headless Chromium (Debian `chromium`) with its own profile in a temp dir and
a debugging port on loopback, opens a page and records console errors,
exceptions and every network request the page makes. Uses python3-websocket.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import websocket

# How long one call may wait for its reply. A full-page screenshot of a long
# report took over 10 s in CI while four test workers shared the 2 cores.
REPLY_TIMEOUT = 90


class Browser:
    def __init__(self, tmp, port):
        exe = shutil.which("chromium") or "/usr/bin/chromium"
        self.log = open(os.path.join(tmp, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=%d" % port,
             "--user-data-dir=" + os.path.join(tmp, "profile"), "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.port = port
        self.ws = None
        self.next_id = 0
        self.requests, self.errors = [], []
        self._connect()

    def _connect(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port, timeout=2) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=REPLY_TIMEOUT)
                    for m in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
                        self.call(m)
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited with %s" % self.proc.returncode)
            time.sleep(0.3)
        raise AssertionError("chromium's debugging port did not answer")

    def _event(self, m):
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Network.requestWillBeSent":
            self.requests.append(p["request"]["url"])
        elif meth == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(p["exceptionDetails"])[:300])
        elif meth == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            self.errors.append(json.dumps(p["args"])[:300])
        elif meth == "Log.entryAdded" and p["entry"]["level"] == "error":
            self.errors.append(p["entry"].get("text", "")[:300])

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == my:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self._event(m)

    def pump(self, seconds):
        """Reads events for a while (they arrive between calls too)."""
        end = time.monotonic() + seconds
        self.ws.settimeout(0.1)
        try:
            while time.monotonic() < end:
                try:
                    self._event(json.loads(self.ws.recv()))
                except websocket.WebSocketTimeoutException:
                    pass
        finally:
            self.ws.settimeout(REPLY_TIMEOUT)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self):
        if self.ws:
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
