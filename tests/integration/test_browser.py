"""A client that behaves like a browser in scripts: a cookie jar per VU
(Set-Cookie kept as a list, expiry, path; emptied each iteration as in k6),
redirects followed hop by hop (each hop counted), 303 and POST 301/302
turned into GET, 307/308 keep method and body, a redirect limit."""
import http.server
import json
import os
import re
import subprocess
import threading

import pytest

DATA = os.path.join(os.path.dirname(__file__), "data", "scripting")


class Site(http.server.BaseHTTPRequestHandler):
    hits = []

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Site.hits.append((self.command, self.path))
        if self.path == "/login":
            self._reply(302, headers=[("Set-Cookie", "sid=abc; Path=/; HttpOnly"),
                                      ("Set-Cookie", "pref=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT"),
                                      ("Set-Cookie", "scoped=1; Path=/admin"),
                                      ("Location", "/home")])
        elif self.path == "/home":
            self._reply(200, (self.headers.get("Cookie") or "none").encode())
        elif self.path == "/logout":
            self._reply(303, headers=[("Set-Cookie", "sid=; Max-Age=0; Path=/"),
                                      ("Location", "home")])
        elif self.path == "/loop":
            self._reply(302, headers=[("Location", "/loop")])
        elif self.path == "/keep":
            self._reply(307, headers=[("Location", "/seen")])
        elif self.path == "/seen":
            self._reply(200, self.command.encode() + b" " + body)
        else:
            self._reply(404)

    do_GET = do_POST = _route

    def log_message(self, *a):
        pass


@pytest.fixture
def site():
    Site.hits = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_cookies_and_redirects(volley_bin, site):
    p = subprocess.run([volley_bin, "run", os.path.join(DATA, "browser.lua"), "-e", "URL=" + site,
                        "--no-save", "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    iters = []
    for line in p.stderr.splitlines():
        m = re.match(r"\[VU \d+\] (\w+)\t(.*)$", line)
        if m:
            if m.group(1) == "iter":
                iters.append({})
            iters[-1][m.group(1)] = m.group(2)
    assert len(iters) == 2
    for v in iters:
        # A new iteration starts with an empty jar (k6's default).
        assert v["jar_at_start"] == "none"
        assert v["login_status"] == "200" and v["login_url"] == "/home"
        assert v["login_redirects"] == "1"
        # Both cookies for /, none scoped to /admin; Set-Cookie as a list.
        assert v["home_cookie"] == "pref=dark; sid=abc"
        assert v["set_cookie_count"] == "0"  # the final response (/home) set none
        # Max-Age=0 removed sid; the relative Location "home" was resolved.
        assert v["after_logout"] == "pref=dark"
        assert v["loop_status"] == "302" and v["loop_redirects"] == "3"
        assert v["no_follow_status"] == "302" and v["no_follow_set_cookies"] == "3"
        assert v["keep_method_body"] == "POST payload"
        assert v["no_jar"] == "none"
    # POST /login was followed by GET /home (302 after POST becomes GET).
    assert ("POST", "/login") in Site.hits and ("GET", "/home") in Site.hits
    # Every hop is a request in the numbers.
    res = json.loads(p.stdout)
    assert res["totals"]["requests"] == len(Site.hits)


def test_plain_get_follows_redirects_and_keeps_cookies(volley_bin, site, tmp_path):
    """http.get(url) with no params is a shorter path until the worker has a
    cookie jar (docs/performance.md): the very first request of the run
    redirects and sets cookies, and must still be followed and remembered."""
    script = tmp_path / "plain.lua"
    script.write_text("""
options = { vus = 1, iterations = 2 }
function default()
  local r = http.get(ENV.URL .. "/login")
  print("first", r.status, r.redirects, r.url:gsub("^https?://[^/]+", ""), r.body)
  local h = http.get(ENV.URL .. "/home")
  print("second", h.status, h.redirects, h.body)
end
""")
    p = subprocess.run([volley_bin, "run", str(script), "-e", "URL=" + site, "--no-save", "-q"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [l.split("] ", 1)[1].split("\t") for l in p.stderr.splitlines() if "] first" in l
             or "] second" in l]
    assert lines == [["first", "200", "1", "/home", "pref=dark; sid=abc"],
                     ["second", "200", "0", "pref=dark; sid=abc"]] * 2, p.stderr
