"""Real observability components for the output tests, each started on
loopback with its own config and data in a temp dir, and stopped after:
Prometheus, the Pushgateway and InfluxDB 1.x (Debian packages prometheus,
prometheus-pushgateway, influxdb). Also a small HTTP client with deadlines.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request


from ports import free_port  # noqa: E402


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_http(url, proc, timeout=30):
    """Polls url until it answers 2xx; fails if proc exits first."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s" % (proc.args[0], proc.returncode))
        try:
            st, _ = http_get(url, timeout=2)
            if 200 <= st < 300:
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.2)
    raise AssertionError("%s did not answer within %ss (%s)" % (url, timeout, last))


class Peer:
    def __init__(self, name, cmd, ready_url, port, tmp):
        self.name, self.port, self.tmp = name, port, tmp
        self.log = open(os.path.join(tmp, name + ".log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)
        self.base = "http://127.0.0.1:%d" % port
        wait_http(ready_url, self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def logtext(self):
        with open(os.path.join(self.tmp, self.name + ".log"), errors="replace") as f:
            return f.read()


def prometheus(tmp, target, interval="1s"):
    port = free_port()
    conf = os.path.join(tmp, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: %s\n  evaluation_interval: %s\n"
                "scrape_configs:\n  - job_name: volley\n    static_configs:\n"
                "      - targets: ['%s']\n" % (interval, interval, target))
    cmd = [shutil.which("prometheus") or "/usr/bin/prometheus", "--config.file=" + conf,
           "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
           "--web.listen-address=127.0.0.1:%d" % port]
    return Peer("prometheus", cmd, "http://127.0.0.1:%d/-/ready" % port, port, tmp)


def prometheus_wait_scraping(peer, timeout=30):
    """Waits until Prometheus has tried its target at least twice (it is down
    before the run starts), so that scrapes go on once a second from then."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        _, body = http_get(peer.base + "/api/v1/targets")
        for t in json.loads(body)["data"]["activeTargets"]:
            if not t["lastScrape"].startswith("0001"):
                seen.add(t["lastScrape"])
        if len(seen) >= 2:
            return
        time.sleep(0.2)
    raise AssertionError("Prometheus did not start scraping within %ss" % timeout)


def promql(peer, query, at=None):
    """An instant query, at unix time `at` if given (after a target goes
    away Prometheus marks its series stale, so query before that)."""
    args = {"query": query}
    if at is not None:
        args["time"] = "%.3f" % at
    q = urllib.parse.urlencode(args)
    _, body = http_get("%s/api/v1/query?%s" % (peer.base, q))
    d = json.loads(body)
    assert d["status"] == "success", d
    return d["data"]["result"]


def pushgateway(tmp):
    port = free_port()
    exe = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
    cmd = [exe, "--web.listen-address=127.0.0.1:%d" % port,
           "--persistence.file=" + os.path.join(tmp, "pgw.data")]
    return Peer("pushgateway", cmd, "http://127.0.0.1:%d/-/ready" % port, port, tmp)


INFLUX_CONF = """
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{tmp}/meta"
[data]
  dir = "{tmp}/data"
  wal-dir = "{tmp}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
"""


def influxdb(tmp, port=None):
    port = port or free_port()
    conf = os.path.join(tmp, "influxdb.conf")
    with open(conf, "w") as f:
        f.write(INFLUX_CONF.format(tmp=tmp, port=port, rpc=free_port()))
    exe = shutil.which("influxd") or "/usr/bin/influxd"
    return Peer("influxdb", [exe, "-config", conf], "http://127.0.0.1:%d/ping" % port, port, tmp)


def influxql(peer, q, db="volley", method="GET"):
    params = urllib.parse.urlencode({"q": q, "db": db})
    if method == "POST":
        req = urllib.request.Request("%s/query" % peer.base, data=params.encode(), method="POST")
    else:
        req = "%s/query?%s" % (peer.base, params)
    with urllib.request.urlopen(req, timeout=10) as r:
        d = json.loads(r.read().decode())
    res = d["results"][0]
    assert "error" not in res, res
    return res
