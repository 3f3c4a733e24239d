"""Script utilities a k6 or Locust user reaches for: table bodies as JSON
or forms, query tables, response headers in any case, encoding and crypto
helpers, uuid() and rand() reproducible with --seed (recorded in
results.json), now() in milliseconds, csv() with a BOM and quoted
newlines, require() beside the script."""
import json
import os
import re
import subprocess
import uuid

import pytest

DATA = os.path.join(os.path.dirname(__file__), "data", "scripting")


def run(volley_bin, serve, *args):
    p = subprocess.run([volley_bin, "run", os.path.join(DATA, "utilities.lua"), "-e",
                        "URL=" + serve.url, "--no-save", "--json", *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    vals = {}
    for line in p.stderr.splitlines():
        m = re.match(r"\[VU \d+\] (\w+)\t(.*)$", line)
        if m:
            vals[m.group(1)] = m.group(2)
    return vals, json.loads(p.stdout)


@pytest.fixture
def out(volley_bin, serve):
    return run(volley_bin, serve, "--seed", "42")


def test_table_bodies_queries_and_headers(out):
    v, _ = out
    assert json.loads(v["json_body"]) == {"item": 7, "tags": ["a", "b"]}
    assert v["json_path"] == "/echo?q=a%20b&z=1"
    assert v["ci_header"] == "POST"
    assert v["form_body"] == "n=3&name=al%20ice"


def test_encoding_and_crypto_known_values(out):
    v, _ = out
    assert v["b64"] == "aGVsbG8/" and v["b64rawurl"] == "aGVsbG8_" and v["b64dec"] == "hello?"
    assert v["urlenc"] == "a%20b%26c%2F%C3%A9" and v["urldec"] == "a b&c"
    assert v["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert v["md5"] == "900150983cd24fb0d6963f7d28e17f72"
    # RFC 4231-style check against Python's own HMAC.
    import hashlib
    import hmac
    want = hmac.new(b"key", b"The quick brown fox jumps over the lazy dog",
                    hashlib.sha256).hexdigest()
    assert v["hmac"] == want
    import base64
    assert v["hmac_b64"] == base64.b64encode(
        hmac.new(b"key", b"x", hashlib.sha256).digest()).decode()


def test_random_is_seeded_and_recorded(volley_bin, serve, out):
    v, res = out
    assert uuid.UUID(v["uuid"]).version == 4
    assert 0 <= float(v["rand"]) < 1 and 1 <= int(v["rand10"]) <= 10
    assert v["rand56"] in ("5", "6")
    assert res["script"]["seed"] == 42
    again, _ = run(volley_bin, serve, "--seed", "42")
    for k in ("uuid", "rand", "rand10", "math_random"):
        assert again[k] == v[k], k
    other, res2 = run(volley_bin, serve, "--seed", "43")
    assert other["uuid"] != v["uuid"] and other["rand"] != v["rand"]
    # Without --seed one is chosen and recorded, so the run can be repeated.
    free, res3 = run(volley_bin, serve)
    seed = res3["script"]["seed"]
    assert seed > 0
    repeat, _ = run(volley_bin, serve, "--seed", str(seed))
    assert repeat["uuid"] == free["uuid"]


def test_now_is_milliseconds_of_wall_time(out):
    v, _ = out
    assert 180 <= float(v["slept_ms"]) < 2000
    import time
    assert abs(float(v["wallclock"]) / 1000 - time.time()) < 60


def test_csv_bom_quoted_newlines_and_require(out):
    v, _ = out
    assert v["require"] == "hello vu"
    assert v["csv_rows"] == "3" and v["csv_first_key"] == "1"
    assert v["csv_multiline"] == 'two\\nlines, and a "quote"'
    assert v["csv_empty"] == ""


def test_seed_is_refused_for_url_runs(volley_bin):
    p = subprocess.run([volley_bin, "run", "--seed", "1", "-n", "1", "http://127.0.0.1:1/"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--seed" in p.stderr


@pytest.mark.parametrize("body,needle", [
    ("true", "the body must be a string or a table, not a boolean"),
    ("'x', 5", "params must be a table"),
])
def test_bad_http_arguments_point_at_the_users_line(volley_bin, serve, tmp_path, body, needle):
    f = tmp_path / "bad.lua"
    f.write_text('options = { vus = 1, iterations = 1 }\nfunction default()\n'
                 '  http.post(ENV.URL .. "/echo", %s)\nend\n' % body)
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save",
                        "--json"], capture_output=True, text=True, timeout=30)
    res = json.loads(p.stdout)
    errs = res["script"]["errors"]
    assert errs and needle in errs[0]["message"] and "bad.lua:3:" in errs[0]["message"], errs


def test_first_five_errors_are_logged_per_run_not_per_thread(volley_bin, tmp_path):
    f = tmp_path / "errs.lua"
    f.write_text('options = { vus = 8, iterations = 40 }\n'
                 'function default() error("boom " .. vu.id) end\n')
    p = subprocess.run([volley_bin, "run", str(f), "-t", "2", "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.stderr.count("script error") == 5, p.stderr
    assert "errs.lua:2: boom" in p.stderr
    res = json.loads(p.stdout)
    assert sum(e["count"] for e in res["script"]["errors"]) == 40


def _lines(stderr, tag):
    return [l.split("\t")[1:] for l in stderr.splitlines()
            if re.match(r"\[VU \d+\] " + tag + "\t", l)]


def test_setup_data_reaches_every_vu_and_teardown(volley_bin, serve):
    p = subprocess.run([volley_bin, "run", os.path.join(DATA, "lifecycle.lua"), "-e",
                        "URL=" + serve.url, "--no-save", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    inits = _lines(p.stderr, "init")
    assert sorted(i[0] for i in inits) == ["1", "2"]
    assert all(i[1] == "tok-123" for i in inits)
    iters = _lines(p.stderr, "iter")
    assert len(iters) == 6
    # Each VU counts its own copy: 1, 2, 3 per VU, never 1..6.
    per_vu = {}
    for vu_id, n, _ in iters:
        per_vu.setdefault(vu_id, []).append(int(n))
    assert all(v == list(range(1, len(v) + 1)) for v in per_vu.values()), per_vu
    # teardown sees setup's data as setup returned it.
    assert _lines(p.stderr, "teardown") == [["tok-123", "0"]]
    res = json.loads(p.stdout)
    s = res["script"]
    assert s["setup"]["requests"] == 1 and s["teardown"]["requests"] == 0
    # The scenarios' numbers hold their own requests only.
    assert res["totals"]["requests"] == 6


def test_setup_that_raises_stops_the_run(volley_bin, serve, tmp_path):
    f = tmp_path / "bad.lua"
    f.write_text('function setup() error("no login") end\nfunction default() '
                 'http.get(ENV.URL .. "/health") end\n')
    p = subprocess.run([volley_bin, "run", str(f), "-e", "URL=" + serve.url, "--no-save"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "setup() failed, so the scenarios did not run: " in p.stderr
    assert "bad.lua:1: no login" in p.stderr
