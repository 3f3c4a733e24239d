"""HAR import: a recording made by headless Chromium against `volley serve`
becomes endpoints (--har) with the recorded methods, headers and bodies, and
`volley convert har` writes a targets file or a Lua script that run as such."""
import json
import os
import subprocess

import pytest

import harrec

FLOW_JS = """
(async () => {
  await fetch('/bytes/16');
  await fetch('/bytes/16');
  await fetch('/bytes/16');
  await fetch('/echo', {method: 'POST', headers: {'Content-Type': 'application/json',
                                                  'X-Flow': 'checkout'},
                        body: JSON.stringify({item: 7, qty: 2})});
  await fetch('/health?from=har');
  return true;
})()
"""


@pytest.fixture(scope="module")
def har(tmp_path_factory, serve_module):
    path = str(tmp_path_factory.mktemp("har") / "flow.har")
    harrec.record(serve_module.url + "/health", FLOW_JS, path)
    return path


@pytest.fixture(scope="module")
def serve_module():
    from conftest import start_serve
    s = start_serve()
    yield s
    s.stop()


BODY = json.dumps({"item": 7, "qty": 2}, separators=(",", ":"))


def echo_bytes_in(volley_bin, serve):
    """Wire bytes of one /echo answer to BODY, from a direct run."""
    p = run(volley_bin, "-n", "1", "-c", "1", "-q", "--json", "--no-save", "-m", "POST",
            "-b", BODY, serve.url + "/echo")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["totals"]["bytes_in"]


def run(volley_bin, *args):
    return subprocess.run([volley_bin, "run", *args], capture_output=True, text=True,
                          timeout=60)


def test_recording_has_the_flow(har, serve_module):
    entries = json.load(open(har))["log"]["entries"]
    urls = [(e["request"]["method"], e["request"]["url"].replace(serve_module.url, ""))
            for e in entries]
    assert ("POST", "/echo") in urls and urls.count(("GET", "/bytes/16")) == 3


def test_har_becomes_weighted_endpoints(volley_bin, har, serve_module, tmp_path):
    p = run(volley_bin, "--har", har, "--filter", "127.0.0.1:%d" % serve_module.port,
            "-n", "2", "-c", "1", "-q", "--json", "--no-save")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    eps = {e["name"]: e for e in r["endpoints"]}
    assert {"GET /health", "GET /bytes/16", "POST /echo"} <= set(eps), list(eps)
    assert eps["POST /echo"]["method"] == "POST"
    # The recorded body reached the server: /echo sends it back.
    assert eps["POST /echo"]["totals"]["bytes_in"] == 2 * echo_bytes_in(volley_bin, serve_module)
    assert eps["GET /bytes/16"]["totals"]["responses_by_status"] == {"200": 2}


def test_har_mixed_mode_follows_the_recorded_counts(volley_bin, har, serve_module):
    p = run(volley_bin, "--har", har, "--filter", "/bytes", "--filter", "/bytes",
            "-n", "10", "-c", "1", "-q", "--json", "--no-save")
    assert p.returncode == 0, p.stderr
    assert [e["name"] for e in json.loads(p.stdout)["endpoints"]] == ["GET /bytes/16"]


def test_har_with_a_url_or_openapi_is_refused(volley_bin, har):
    p = run(volley_bin, "--har", har, "http://127.0.0.1:1/", "-n", "1")
    assert p.returncode == 2 and "--har: the URLs come from the recording" in p.stderr
    p = run(volley_bin, "--har", har, "--openapi", har, "-n", "1")
    assert p.returncode == 2 and "--har and --openapi" in p.stderr


def test_bad_har_names_the_file_and_place(volley_bin, tmp_path):
    f = tmp_path / "bad.har"
    f.write_text('{"log": {"entries": [}')
    p = run(volley_bin, "--har", str(f), "-n", "1")
    assert p.returncode == 2 and str(f) in p.stderr and ":1:" in p.stderr
    f.write_text('{"entries": []}')
    p = run(volley_bin, "--har", str(f), "-n", "1")
    assert p.returncode == 2 and "not a HAR file" in p.stderr


def test_convert_to_targets_runs_as_recorded(volley_bin, har, serve_module, tmp_path):
    out = tmp_path / "t.txt"
    p = subprocess.run([volley_bin, "convert", "har", har, "--out", str(out), "--filter",
                        "127.0.0.1:%d" % serve_module.port], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "# recorded 3 times\n# name: GET /bytes/16\nGET %s/bytes/16\n" % serve_module.url in text
    assert "X-Flow: checkout" in text and "@%s.bodies/" % out in text
    r = run(volley_bin, "--targets", str(out), "-n", "1", "-c", "1", "-q", "--json", "--no-save")
    assert r.returncode == 0, r.stderr
    eps = {e["url"].replace(serve_module.url, ""): e for e in json.loads(r.stdout)["endpoints"]}
    assert eps["/echo"]["totals"]["bytes_in"] == echo_bytes_in(volley_bin, serve_module)


def test_convert_to_lua_replays_in_order(volley_bin, har, serve_module, tmp_path):
    out = tmp_path / "flow.lua"
    p = subprocess.run([volley_bin, "convert", "har", har, "--to", "lua", "--out", str(out),
                        "--filter", "127.0.0.1:%d" % serve_module.port],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lua = out.read_text()
    assert lua.index("/bytes/16") < lua.index("/echo") < lua.index("/health?from=har")
    assert lua.count('"GET", "%s/bytes/16"' % serve_module.url) == 3
    r = run(str(volley_bin), str(out), "-q", "--json", "--no-save")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    checks = res["script"]["checks"]
    by = {c["name"].replace(serve_module.url, ""): c for c in checks}
    assert by["GET /bytes/16 is 2xx/3xx"]["passes"] == 3
    assert by["POST /echo is 2xx/3xx"]["passes"] == 1
    # The browser also asked for /favicon.ico, which volley serve does not
    # have: that check fails, the others pass.
    for name, c in by.items():
        assert c["fails"] == (1 if "favicon" in name else 0), by


def test_convert_errors(volley_bin, har):
    p = subprocess.run([volley_bin, "convert", "har", har, "--to", "yaml"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "--to: unknown 'yaml'" in p.stderr
    p = subprocess.run([volley_bin, "convert", "har", har], capture_output=True, text=True)
    assert p.returncode == 2 and "has a body" in p.stderr and "--out FILE" in p.stderr
    p = subprocess.run([volley_bin, "convert", "zip", har], capture_output=True, text=True)
    assert p.returncode == 2
