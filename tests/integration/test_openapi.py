"""OpenAPI discovery of real apps (--openapi): values made from schemas,
local $refs, --path-param, and every skipped operation named with its
reason. The document is shaped like FastAPI's: typed schemas, no examples."""
import http.server
import json
import os
import subprocess
import threading

import pytest

DOC = os.path.join(os.path.dirname(__file__), "data", "fastapi-openapi.json")


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 to everything and remembers (method, path, body)."""
    seen = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Recorder.seen.append((self.command, self.path, body, self.headers.get("Content-Type")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def run(volley_bin, *args):
    return subprocess.run([volley_bin, "run", "--no-save", "-q", "--json", *args],
                          capture_output=True, text=True, timeout=60)


def test_schema_values_refs_and_json_bodies(volley_bin, recorder):
    p = run(volley_bin, "-n", "1", "-c", "1", "--openapi", DOC, recorder)
    assert p.returncode == 0, p.stderr
    eps = {e["name"]: e for e in json.loads(p.stdout)["endpoints"]}
    assert set(eps) == {"read_item_items__item_id__get", "orders", "create_item"}
    # An integer path parameter with no example; a $ref'd uuid parameter and
    # a required enum query parameter behind a $ref.
    assert eps["read_item_items__item_id__get"]["url"] == recorder + "/items/1"
    assert eps["orders"]["url"] == \
        recorder + "/users/123e4567-e89b-12d3-a456-426614174000/orders?status=open"
    posts = [s for s in Recorder.seen if s[0] == "POST"]
    assert posts, Recorder.seen
    body = json.loads(posts[0][2])
    # Required properties with their types; minimum respected; nested $ref
    # models are not sent when optional and others are required.
    assert body == {"name": "string", "price": 0}
    assert posts[0][3] == "application/json"


def test_every_skipped_operation_is_named_with_its_reason(volley_bin, recorder):
    p = run(volley_bin, "-n", "1", "-c", "1", "--openapi", DOC, recorder)
    assert p.returncode == 0, p.stderr
    assert "skipped DELETE /items/{item_id}: DELETE operations are not loaded" in p.stderr
    assert "skipped POST /upload: its request body is multipart/form-data only" in p.stderr
    assert ("skipped GET /slug/{slug}: no value for path parameter 'slug'" in p.stderr
            and "--path-param slug=VALUE" in p.stderr)
    assert p.stderr.count("skipped") == 3


def test_path_param_fills_and_overrides(volley_bin, recorder):
    p = run(volley_bin, "-n", "1", "-c", "1", "--openapi", DOC, "--path-param", "slug=abc",
            "--path-param", "item_id=42", recorder)
    assert p.returncode == 0, p.stderr
    urls = {e["name"]: e["url"] for e in json.loads(p.stdout)["endpoints"]}
    assert urls["by_slug"] == recorder + "/slug/abc"
    assert urls["read_item_items__item_id__get"] == recorder + "/items/42"
    assert "skipped GET /slug" not in p.stderr
    assert sorted(s[1] for s in Recorder.seen if s[0] == "GET") == \
        sorted(["/items/42", "/slug/abc",
                "/users/123e4567-e89b-12d3-a456-426614174000/orders?status=open"])


def test_filter_prefix_without_leading_slash(volley_bin, recorder):
    p = run(volley_bin, "-n", "1", "-c", "1", "--openapi", DOC, "--filter", "users", recorder)
    assert p.returncode == 0, p.stderr
    assert [e["name"] for e in json.loads(p.stdout)["endpoints"]] == ["orders"]


@pytest.mark.parametrize("args,needle", [
    (["--path-param", "x=1", "http://127.0.0.1:1/"], "--path-param applies to --openapi only"),
    (["--openapi", DOC, "--path-param", "novalue", "http://127.0.0.1:1/"], "--path-param: expected NAME=VALUE"),
])
def test_path_param_errors_exit_2(volley_bin, args, needle):
    p = run(volley_bin, "-n", "1", *args)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr


def test_nothing_loadable_is_an_error(volley_bin, tmp_path):
    f = tmp_path / "only-delete.json"
    f.write_text(json.dumps({"openapi": "3.0.0", "paths": {"/x": {"delete": {}}}}))
    p = run(volley_bin, "-n", "1", "--openapi", str(f), "http://127.0.0.1:1/")
    assert p.returncode == 2
    assert "skipped DELETE /x" in p.stderr and "no operation could be loaded" in p.stderr
