"""The client reaching real deployments: user:password@ in a URL is Basic
auth (and the password stays out of results files)."""
import base64
import http.server
import json
import subprocess
import threading

import pytest


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def run(volley_bin, *args):
    return subprocess.run([volley_bin, "run", "-q", "--json", "--no-save", *args],
                          capture_output=True, text=True, timeout=60)


def test_userinfo_is_basic_auth_and_the_password_is_not_kept(volley_bin, recorder):
    p = run(volley_bin, "-n", "3", "-c", "1", "http://al%%40ice:s3cr%%3At@127.0.0.1:%d/x" % recorder)
    assert p.returncode == 0, p.stderr
    want = "Basic " + base64.b64encode(b"al@ice:s3cr:t").decode()
    assert [h.get("Authorization") for h in Recorder.seen] == [want] * 3
    r = json.loads(p.stdout)
    assert "s3cr" not in p.stdout
    assert r["endpoints"][0]["url"] == "http://al%%40ice:***@127.0.0.1:%d/x" % recorder


def test_an_authorization_header_wins_over_userinfo(volley_bin, recorder):
    p = run(volley_bin, "-n", "1", "-c", "1", "-H", "Authorization: Bearer t0k",
            "http://u:p@127.0.0.1:%d/x" % recorder)
    assert p.returncode == 0, p.stderr
    assert [h.get("Authorization") for h in Recorder.seen] == ["Bearer t0k"]


def test_bad_percent_escape_in_userinfo_exit_2(volley_bin):
    p = run(volley_bin, "-n", "1", "http://u:%zz@127.0.0.1:1/")
    assert p.returncode == 2 and "bad user:password@" in p.stderr
