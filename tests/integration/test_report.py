"""Integration tests for `volley report`: a real run against `volley serve`
(two endpoints: /delay/1 and a chunked /stream), then reports in every
format checked against results.json: summary.csv rows and counts, PNG
headers and pixels, SVG as XML, a self-contained HTML report that renders
in headless Chromium without console errors, and exit code 2 with the file
and position for bad input. Standard library only.
"""
import csv
import glob
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib

import pytest

from conftest import start_serve, volley_path

CHART_STEMS = ["latency", "throughput", "status", "spectrum", "ttfb"]
CSV_HEADER = ("step,target_rps,endpoint,method,url,requests,responses,errors,success_pct,"
              "achieved_rps,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,mean_ms,ttfb_p50_ms,ttfb_p99_ms,"
              "service_p50_ms,service_p99_ms,bytes_in,bytes_out,dropped,server_cpu_pct,"
              "server_rss_max_bytes").split(",")


def run(*args, timeout=120):
    return subprocess.run([volley_path()] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def volley_run(serve, out, *extra):
    p = run("run", "-q", "-c", 4, "--raw", "--out", out,
            "--endpoint", "slow=%s/delay/1" % serve.url,
            "--endpoint", "stream=%s/stream?chunks=3&interval_ms=5" % serve.url, *extra)
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.path.join(out, "results.json")), os.listdir(out)
    return os.path.join(out, "results.json")


@pytest.fixture(scope="module")
def runs():
    """One closed-model run and one sweep, against one server."""
    if not os.access(volley_path(), os.X_OK):
        pytest.fail("volley binary not found at %s" % volley_path())
    top = tempfile.mkdtemp(prefix="volley-report-")
    s = start_serve()
    try:
        plain = volley_run(s, os.path.join(top, "plain"), "-d", "2s")
        sweep = volley_run(s, os.path.join(top, "sweep"), "-d", "1s", "--rates", "100,200")
    finally:
        assert s.stop() == 0, s.stderr()
    yield {"top": top, "plain": plain, "sweep": sweep}
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def report(runs):
    out = os.path.join(runs["top"], "report-all")
    p = run("report", runs["plain"], "--out", out, "--format", "html,png,svg,txt,csv")
    assert p.returncode == 0, p.stderr
    return {"out": out, "proc": p, "results": json.load(open(runs["plain"]))}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


# ---- PNG -------------------------------------------------------------------------

def png_info(path):
    """(width, height, bit depth, colour type, raw decompressed IDAT)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % path
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert ihdr, "%s: no IHDR" % path
    return ihdr[0], ihdr[1], ihdr[2], ihdr[3], zlib.decompress(idat)


def png_colors(path, max_rows=None):
    """The distinct pixel colours (8-bit RGB / RGBA), un-filtering each row."""
    w, h, depth, ctype, raw = png_info(path)
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    bpp = 3 if ctype == 2 else 4
    stride = w * bpp
    assert len(raw) == h * (stride + 1), "%s: IDAT size" % path
    prev = bytearray(stride)
    colors = set()
    for y in range(h if max_rows is None else min(h, max_rows)):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ft == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ft == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        for x in range(0, stride, bpp * 3):
            colors.add(bytes(line[x:x + 3]))
        prev = line
    return colors


# ---- the report of a plain run ------------------------------------------------------

def test_report_writes_every_format(report):
    out, p = report["out"], report["proc"]
    assert os.path.exists(os.path.join(out, "report.html"))
    assert os.path.exists(os.path.join(out, "summary.csv"))
    for stem in CHART_STEMS + ["route-slow", "route-stream"]:
        for ext in ("png", "svg"):
            path = os.path.join(out, "charts", "%s.%s" % (stem, ext))
            assert os.path.exists(path), path
            # with txt on stdout, the written paths go to stderr
            assert path in p.stderr
    # txt: the console summary and the terminal charts
    assert "latency" in p.stdout and "req/s" in p.stdout
    assert "\u2588" in p.stdout  # block characters of the bars


def test_summary_csv_matches_results_json(report):
    res = report["results"]
    rows = read_csv(os.path.join(report["out"], "summary.csv"))
    assert rows[0] == CSV_HEADER
    body = rows[1:]
    assert len(body) == len(res["endpoints"]) + 1
    for row, ep in zip(body, res["endpoints"]):
        d = dict(zip(CSV_HEADER, row))
        t = ep["totals"]
        assert d["endpoint"] == ep["name"] and d["url"] == ep["url"]
        assert int(d["requests"]) == t["requests"]
        assert int(d["responses"]) == t["responses"]
        assert int(d["errors"]) == t["errors"]
        assert int(d["bytes_in"]) == t["bytes_in"]
        # percentiles: the writer's rounded ms and the CSV's agree to 1 µs
        assert abs(float(d["p99_ms"]) - ep["latency"]["percentiles"]["p99"]) <= 0.0011
        assert abs(float(d["max_ms"]) - ep["latency"]["max"]) <= 0.0011
        assert float(d["success_pct"]) == 100.0
    total = dict(zip(CSV_HEADER, body[-1]))
    assert total["endpoint"] == "total"
    assert int(total["requests"]) == res["totals"]["requests"]
    assert sum(int(r[5]) for r in body[:-1]) == int(total["requests"])


def test_summary_csv_is_reproducible(runs, report):
    """`report --format csv` gives the same bytes every time, and the same as
    the summary.csv `volley run --out` wrote."""
    mine = open(os.path.join(report["out"], "summary.csv"), "rb").read()
    again = os.path.join(runs["top"], "csv-again")
    p = run("report", runs["plain"], "--out", again, "--format", "csv")
    assert p.returncode == 0, p.stderr
    assert open(os.path.join(again, "summary.csv"), "rb").read() == mine
    # `volley run --out` always writes one; it must be the same bytes.
    by_run = os.path.join(os.path.dirname(runs["plain"]), "summary.csv")
    assert open(by_run, "rb").read() == mine


def test_pngs_are_valid_and_not_blank(report):
    pngs = sorted(glob.glob(os.path.join(report["out"], "charts", "*.png")))
    assert len(pngs) >= len(CHART_STEMS)
    for path in pngs:
        w, h, depth, ctype, raw = png_info(path)
        assert (w, h) == (1200, 600), path
        assert len(set(raw)) > 8, "%s: too uniform" % path
    # Full decode of a few: many colours (anti-aliased lines, text, palette).
    for stem in ("latency", "spectrum", "route-stream"):
        colors = png_colors(os.path.join(report["out"], "charts", stem + ".png"))
        assert len(colors) > 20, "%s: %d colours" % (stem, len(colors))


def test_size_flag_sets_png_size(runs):
    out = os.path.join(runs["top"], "small")
    p = run("report", runs["plain"], "--out", out, "--format", "png", "--size", "640x360")
    assert p.returncode == 0, p.stderr
    for path in glob.glob(os.path.join(out, "charts", "*.png")):
        w, h, _, _, _ = png_info(path)
        assert (w, h) == (640, 360), path
    assert len(png_colors(os.path.join(out, "charts", "status.png"))) > 5


def test_svgs_parse_as_xml(report):
    svgs = glob.glob(os.path.join(report["out"], "charts", "*.svg"))
    assert len(svgs) >= len(CHART_STEMS)
    for path in svgs:
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg"), path


def test_html_is_self_contained(report):
    html = open(os.path.join(report["out"], "report.html"), encoding="utf-8").read()
    assert html.startswith("<!DOCTYPE html>")
    refs = re.findall(r'''(?:src|href|xlink:href)\s*=\s*["']?\s*(https?:|//)''', html, re.I)
    assert not refs, refs
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html, re.I)
    assert not re.search(r"@import|<link\b", html, re.I)
    assert "Content-Security-Policy" in html
    figures = re.findall(r'<figure id="([^"]+)"><svg', html)
    assert set(CHART_STEMS) <= set(figures)
    # ids are unique across the inlined charts (cairo reuses glyph ids)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for ep in report["results"]["endpoints"]:
        assert ">%s<" % ep["name"] in html


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def test_html_renders_in_chromium(report, tmp_path):
    browser = chromium_path()
    if not browser:
        pytest.fail("chromium is not installed: the HTML report cannot be checked "
                    "(Debian package 'chromium'; scripts/setup-deps.sh should install it)")
    page = "file://" + os.path.abspath(os.path.join(report["out"], "report.html"))
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--user-data-dir=%s" % (tmp_path / "profile"),
            "--enable-logging=stderr", "--v=0"]
    p = subprocess.run(base + ["--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    m = re.search(r'data-charts-rendered="(\d+)/(\d+)"', p.stdout)
    assert m, "the report's script did not run to the end"
    assert int(m.group(2)) >= len(CHART_STEMS) and m.group(1) == m.group(2), m.group(0)
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l or "Uncaught" in l]
    assert not console, console
    shot = tmp_path / "shot.png"
    p = subprocess.run(base + ["--screenshot=%s" % shot, "--window-size=1200,2000", page],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l or "Uncaught" in l]
    assert not console, console
    w, h, _, _, _ = png_info(str(shot))
    assert (w, h) == (1200, 2000)
    assert len(png_colors(str(shot), max_rows=700)) > 20, "screenshot is blank"


# ---- sweeps and several files ---------------------------------------------------------

def test_sweep_report_rows_and_chart(runs):
    res = json.load(open(runs["sweep"]))
    assert len(res["steps"]) == 2
    out = os.path.join(runs["top"], "report-sweep")
    p = run("report", runs["sweep"], "--out", out, "--format", "csv,png")
    assert p.returncode == 0, p.stderr
    rows = read_csv(os.path.join(out, "summary.csv"))
    neps = len(res["endpoints"])
    assert len(rows) == 1 + len(res["steps"]) * (neps + 1) + 1
    for i, step in enumerate(res["steps"]):
        block = rows[1 + i * (neps + 1):1 + (i + 1) * (neps + 1)]
        assert [r[0] for r in block] == [str(step["index"])] * (neps + 1)
        assert block[-1][2] == "total"
        assert int(block[-1][5]) == step["totals"]["requests"]
    assert rows[-1][:3] == ["", "", "total"]
    w, h, _, _, _ = png_info(os.path.join(out, "charts", "sweep.png"))
    assert (w, h) == (1200, 600)
    # paths go to stdout when there is no txt
    assert os.path.join(out, "charts", "sweep.png") in p.stdout


def test_several_files_get_one_report_each(runs):
    out = os.path.join(runs["top"], "multi")
    p = run("report", runs["plain"], runs["sweep"], "--out", out, "--format", "html,txt")
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.path.join(out, "1-plain", "report.html"))
    assert os.path.exists(os.path.join(out, "2-sweep", "report.html"))
    assert runs["plain"] in p.stdout and runs["sweep"] in p.stdout


def test_default_out_is_the_results_directory(runs, tmp_path):
    d = tmp_path / "copy"
    d.mkdir()
    shutil.copy(runs["plain"], d / "results.json")
    p = run("report", d / "results.json", "--format", "html")
    assert p.returncode == 0, p.stderr
    assert (d / "report.html").exists()
    assert str(d / "report.html") in p.stdout


# ---- bad input ----------------------------------------------------------------------------

def test_truncated_results_exit_2_with_file_and_position(runs, tmp_path):
    text = open(runs["plain"], "rb").read()
    for cut in (0, 1, len(text) // 3, len(text) // 2, len(text) - 3):
        bad = tmp_path / ("cut%d.json" % cut)
        bad.write_bytes(text[:cut])
        p = run("report", bad, "--out", tmp_path / "o", "--format", "html,png,csv")
        assert p.returncode == 2, (cut, p.stderr)
        assert str(bad) in p.stderr
        assert re.search(re.escape(str(bad)) + r":\d+:\d+: .*\(byte \d+\)", p.stderr), p.stderr
        assert not (tmp_path / "o").exists()


def test_corrupt_histogram_names_the_json_path(runs, tmp_path):
    res = json.load(open(runs["plain"]))
    h = res["endpoints"][1]["latency"]["histogram"]
    res["endpoints"][1]["latency"]["histogram"] = h[:len(h) // 2] + "x" + h[len(h) // 2 + 1:]
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps(res))
    p = run("report", bad, "--format", "csv")
    assert p.returncode == 2
    assert "%s: endpoints[1].latency.histogram: " % bad in p.stderr, p.stderr
    assert "at byte" in p.stderr


def test_inconsistent_and_unknown_version_rejected(runs, tmp_path):
    res = json.load(open(runs["plain"]))
    res["totals"]["requests"] += 1
    bad = tmp_path / "counts.json"
    bad.write_text(json.dumps(res))
    p = run("report", bad, "--format", "csv")
    assert p.returncode == 2 and "inconsistent counts" in p.stderr, p.stderr
    res = json.load(open(runs["plain"]))
    res["schema_version"] = 99
    bad = tmp_path / "v99.json"
    bad.write_text(json.dumps(res))
    p = run("report", bad, "--format", "csv")
    assert p.returncode == 2 and "schema_version" in p.stderr and "99" in p.stderr, p.stderr


def test_bad_flags_and_missing_file_exit_2(runs, tmp_path):
    p = run("report", tmp_path / "nope.json")
    assert p.returncode == 2 and "nope.json" in p.stderr
    p = run("report", runs["plain"], "--format", "html,pdfx")
    assert p.returncode == 2 and "--format" in p.stderr and "pdfx" in p.stderr
    p = run("report", runs["plain"], "--size", "12x")
    assert p.returncode == 2 and "--size" in p.stderr
    p = run("report", runs["plain"], "--size", "50x50")
    assert p.returncode == 2 and "--size" in p.stderr
    p = run("report")
    assert p.returncode == 2
    p = run("report", "--help")
    assert p.returncode == 0 and "--format" in p.stdout


@pytest.mark.serial  # ttfb p50 bounds
def test_demo_runs_serve_load_and_report_in_one_command(volley_bin, tmp_path):
    out = tmp_path / "demo"
    p = subprocess.run([volley_bin, "demo", "--quick", "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for name in ["buffering-simple", "buffering-dynamic", "streaming-simple", "streaming-dynamic"]:
        assert name in p.stdout
    assert str(out / "report.html") in p.stdout
    res = json.loads((out / "results.json").read_text())
    assert res["plan"]["executor"] == "ramping-arrival-rate"
    eps = {e["name"]: e for e in res["endpoints"]}
    assert set(eps) == {"buffering-simple", "buffering-dynamic", "streaming-simple",
                        "streaming-dynamic"}
    # Streaming: first byte early; buffering: first byte with the last.
    assert eps["streaming-simple"]["ttfb"]["percentiles"]["p50"] < 20
    assert eps["buffering-simple"]["ttfb"]["percentiles"]["p50"] >= 75
    for f in ["summary.csv", "requests.csv", "charts/latency.png", "charts/ttfb.svg"]:
        assert (out / f).exists(), f


def ttfb_caption(out):
    """The ttfb figure's caption in report.html (the chart's note says the same)."""
    html = (out / "report.html").read_text(encoding="utf-8")
    return re.search(r'<figure id="[^"]*ttfb[^"]*">.*?<figcaption>(.*?)</figcaption>', html,
                     re.S).group(1)


@pytest.mark.serial  # first-body and service-time p50s
def test_ttfb_chart_labels_streamed_against_service_time_not_latency(tmp_path):
    """A buffered route under queueing (latency far above TTFB) is not
    'streamed'; a chunked route whose first chunk comes long before its last is.
    The HTML endpoint table shows the first body byte per endpoint."""
    s = start_serve()
    try:
        buf = tmp_path / "buf"
        p = run("run", "-q", "--rate", 150, "--max-connections", 10, "-d", "2s", "--out", buf,
                "--endpoint", "buffered=%s/delay/20" % s.url)
        assert p.returncode == 0, p.stderr
        st = tmp_path / "st"
        p = run("run", "-q", "-c", 2, "-d", "2s", "--out", st,
                "--endpoint", "chunky=%s/stream?chunks=5&interval_ms=50" % s.url)
        assert p.returncode == 0, p.stderr
    finally:
        assert s.stop() == 0, s.stderr()
    for d in (buf, st):
        p = run("report", d / "results.json", "--out", d / "rep", "--format", "html,svg")
        assert p.returncode == 0, p.stderr
    res = json.loads((buf / "results.json").read_text())["endpoints"][0]
    fb, sv = res["first_body"]["percentiles"]["p50"], res["service_time"]["percentiles"]["p50"]
    assert fb > sv / 2, (fb, sv)  # the body came with the headers
    note = ttfb_caption(buf / "rep")
    assert "streamed (first body byte well before service end): none (all buffered)" in note, note
    res = json.loads((st / "results.json").read_text())["endpoints"][0]
    fb, sv = res["first_body"]["percentiles"]["p50"], res["service_time"]["percentiles"]["p50"]
    assert fb < sv / 2 and sv >= 150, (fb, sv)
    note = ttfb_caption(st / "rep")
    assert "streamed (first body byte well before service end): chunky" in note, note
    html = (st / "rep" / "report.html").read_text(encoding="utf-8")
    assert "<th>1st body p50</th>" in html
    row = re.search(r">chunky<.*?</tr>", html, re.S).group(0)
    cells = [int(v) for v in re.findall(r'data-v="(\d+)"', row)]
    assert int(fb * 1e6 * 0.9) <= cells[-3] <= int(fb * 1e6 * 1.1) + 1000, (cells, fb)


WS_SCRIPT = """
options = { scenarios = { chat = { executor = "constant-vus", vus = 3, duration = "1500ms" } } }
function default()
  local s = ws.open(ENV.WS_URL)
  for i = 1, 4 do s:send("m" .. i, { rtt = true }); s:recv(2) end
  sleep(0.1)
  s:close()
end
"""


def test_websocket_series_in_results_charts_html_and_text(runs, tmp_path):
    """A script's WebSocket sessions per second: ws_* columns in
    results.json's series (adding up to the script's totals), a websocket
    chart (PNG and report.html), sparklines in `volley report`'s text, also
    when made again from results.json. A run without WebSocket has none."""
    f = tmp_path / "ws.lua"
    f.write_text(WS_SCRIPT)
    s = start_serve()
    try:
        out = tmp_path / "out"
        p = run("run", f, "-q", "--out", out, "-e",
                "WS_URL=ws://%s:%d/ws" % (s.host, s.port))
        assert p.returncode == 0, p.stderr
    finally:
        assert s.stop() == 0, s.stderr()
    res = json.load(open(out / "results.json"))
    ser = res["series"]
    ws = res["script"]["scenarios"]["chat"]["ws"]
    col = {c: i for i, c in enumerate(ser["columns"])}
    for name, total in (("ws_msgs_sent", ws["messages_sent"]),
                        ("ws_msgs_received", ws["messages_received"]),
                        ("ws_sessions", ws["sessions"]), ("ws_rtts", ws["rtt"]["count"])):
        assert sum(r[col[name]] for r in ser["rows"]) == total > 0, name
    p99 = [r[col["ws_rtt_p99_ms"]] for r in ser["rows"] if r[col["ws_rtts"]]]
    assert p99 and all(0 < v <= ws["rtt"]["max"] + 0.01 for v in p99), (p99, ws["rtt"])
    # written by the run, and again by `volley report` from results.json
    again = tmp_path / "again"
    p = run("report", out, "--out", again, "--format", "html,png,txt")
    assert p.returncode == 0, p.stderr
    for d in (out, again):
        w, h, _, _, raw = png_info(str(d / "charts" / "websocket.png"))
        assert (w, h) == (1200, 600) and len(set(raw)) > 8
        html = open(d / "report.html", encoding="utf-8").read()
        assert '<figure id="websocket"><svg' in html
    text = p.stdout
    for label in ("ws sent/s", "ws recv/s", "ws open", "ws rtt p99"):
        assert label in text, text
    m = re.search(r"ws sent/s .*max (\d+)/s", text)
    assert int(m.group(1)) == max(r[col["ws_msgs_sent"]] for r in ser["rows"])
    # a URL run: no ws columns, no chart, no lines
    plain = json.load(open(runs["plain"]))
    assert not [c for c in plain["series"]["columns"] if c.startswith("ws_")]
    p = run("report", runs["plain"], "--out", tmp_path / "plain", "--format", "png,txt")
    assert p.returncode == 0 and "ws sent/s" not in p.stdout
    assert not os.path.exists(tmp_path / "plain" / "charts" / "websocket.png")
