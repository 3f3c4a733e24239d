"""Records a HAR file with headless Chromium: the browser is driven over the
DevTools protocol (python3-websocket), every request it sends is taken from
Network.requestWillBeSent, and the entries are written in HAR 1.2's shape.
Only loopback URLs are visited."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket


from ports import free_port as _free_port  # noqa: E402


class Browser:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="volley-chromium-")
        self.port = _free_port()
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--user-data-dir=" + self.dir,
             "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=%d" % self.port, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        targets = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json" % self.port, timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if not targets:
            self.close()
            raise RuntimeError("chromium did not open its DevTools port")
        self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def record(page_url, script, out_path):
    """Opens page_url, runs script (JS that returns a promise), and writes
    every request the page sent as a HAR file. Returns the entries."""
    b = Browser()
    try:
        b.call("Network.enable")
        b.call("Page.enable")
        b.call("Page.navigate", url=page_url)
        b.call("Runtime.evaluate", expression=script, awaitPromise=True)
        # The last events arrive after the promise; one more call flushes them.
        b.call("Runtime.evaluate", expression="1")
    finally:
        b.close()
    entries = []
    for ev in b.events:
        if ev["method"] != "Network.requestWillBeSent":
            continue
        req = ev["params"]["request"]
        if not req["url"].startswith("http"):
            continue
        har_req = {
            "method": req["method"], "url": req["url"], "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in req.get("headers", {}).items()],
            "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1,
        }
        if "postData" in req:
            ctype = req.get("headers", {}).get("Content-Type", "")
            har_req["postData"] = {"mimeType": ctype, "text": req["postData"]}
        entries.append({"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 0,
                        "request": har_req, "response": {}, "cache": {}, "timings": {}})
    with open(out_path, "w") as f:
        json.dump({"log": {"version": "1.2", "creator": {"name": "chromium-devtools", "version":
                   "volley-test"}, "entries": entries}}, f, indent=1)
    return entries
