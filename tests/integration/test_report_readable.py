"""Reports people read without squinting (issue 18): a run of 12 endpoints
against `volley serve`, one with a 60-character name, then checks that
names are never cut (summary, report.html, summary.csv), that report.html's
header names the run and its endpoint table fits 1,400 px with p95, p99 and
TTFB in view, and screenshots taken by headless Chromium (the whole report
at 1,400 px and the 12-endpoint latency chart) that are not blank. With
VOLLEY_SCREENS=DIR in the environment, copies of the screenshots go to DIR
for people to look at (report-1400.png, the whole page; report-1400-top.png,
the first screen; latency-12-chromium.png and ttfb-12-chromium.png, those
figures as Chromium shows them; latency-12.png, charts/latency.png).
"""
import base64
import csv
import json
import os
import shutil
import subprocess

import pytest

import cdp
import peerutil
from conftest import start_serve, volley_path
from test_report import png_colors, png_info

LONG = "checkout-payment-confirmation-with-three-d-secure-redirect-x"
SCREENS = os.environ.get("VOLLEY_SCREENS", "")


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    """A 2 s run of 12 endpoints (one with a 60-character name)."""
    assert len(LONG) == 60
    top = tmp_path_factory.mktemp("readable")
    out = str(top / "out")
    s = start_serve()
    try:
        eps = ["--endpoint", "%s=%s/delay/2" % (LONG, s.url)]
        for i in range(1, 12):
            eps += ["--endpoint", "ep%d=%s/delay/%d" % (i, s.url, 1 + i % 4)]
        p = subprocess.run([volley_path(), "run", "-c", "1", "-d", "2s", "--out", out] + eps,
                           capture_output=True, text=True, timeout=120)
    finally:
        assert s.stop() == 0, s.stderr()
    assert p.returncode == 0, p.stderr
    return {"top": top, "out": out, "stdout": p.stdout}


def test_long_names_are_whole_in_summary_html_and_csv(twelve):
    out = twelve["out"]
    assert LONG in twelve["stdout"], twelve["stdout"]
    rep = subprocess.run([volley_path(), "report", os.path.join(out, "results.json"),
                          "--format", "txt,csv", "--out", out],
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    # The per-endpoint table and the sparkline label both keep the name.
    lines = [l for l in rep.stdout.splitlines() if LONG in l]
    assert len(lines) >= 3, rep.stdout
    html = open(os.path.join(out, "report.html")).read()
    assert html.count(LONG) >= 2, "report.html cuts the name"
    with open(os.path.join(out, "summary.csv"), newline="") as f:
        names = [row["endpoint"] for row in csv.DictReader(f)]
    assert LONG in names, names


def test_html_header_names_the_run_not_the_first_url(twelve):
    html = open(os.path.join(twelve["out"], "report.html")).read()
    res = json.load(open(os.path.join(twelve["out"], "results.json")))
    assert res["plan"]["command"].startswith("volley run -c 1 -d 2s --out ")
    assert "<h1>12 endpoints (per-endpoint)</h1>" in html
    assert "<title>volley report: 12 endpoints (per-endpoint)</title>" in html
    assert "<code>volley run -c 1 -d 2s" in html
    assert "constant-vus: 1 connections, 1 thread" in html or "constant-vus: 1 " in html
    # The plan table does not give the first endpoint's URL as the run's.
    plan = html[html.index("<h2>Plan</h2>"):]
    assert res["endpoints"][0]["url"] not in plan, plan[:600]
    assert "12, in the Endpoints table above" in plan, plan[:600]


def test_command_masks_secrets(tmp_path):
    s = start_serve()
    try:
        out = str(tmp_path / "out")
        p = subprocess.run([volley_path(), "run", "-q", "-n", "3", "--no-report", "--out", out,
                            "-H", "Authorization: Bearer s3cr3t", "-H", "X-Trace: visible",
                            s.url.replace("http://", "http://al:pw123@") + "/health"],
                           capture_output=True, text=True, timeout=60)
    finally:
        assert s.stop() == 0, s.stderr()
    assert p.returncode == 0, p.stderr
    cmd = json.load(open(os.path.join(out, "results.json")))["plan"]["command"]
    assert "s3cr3t" not in cmd and "pw123" not in cmd, cmd
    assert "'Authorization: ***'" in cmd and "'X-Trace: visible'" in cmd, cmd
    assert "al:***@" in cmd, cmd


def save(png, name):
    """A copy for people in $VOLLEY_SCREENS, when it is set."""
    if not SCREENS:
        return
    os.makedirs(SCREENS, exist_ok=True)
    shutil.copy(png, os.path.join(SCREENS, name))


def shoot(br, path, beyond=True, **clip):
    params = {"format": "png", "captureBeyondViewport": beyond}
    if clip:
        params["clip"] = dict(clip, scale=1)
    data = br.call("Page.captureScreenshot", **params)["data"]
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))


def test_report_fits_1400px_and_screenshots_are_not_blank(twelve, tmp_path):
    page = "file://" + os.path.abspath(os.path.join(twelve["out"], "report.html"))
    br = cdp.Browser(str(tmp_path), peerutil.free_port())
    try:
        br.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                deviceScaleFactor=1, mobile=False)
        br.call("Page.enable")
        br.call("Page.navigate", url=page)
        br.pump(1.0)
        for _ in range(100):  # the page marks itself when its script ran
            if br.eval("document.body && document.body.getAttribute('data-charts-rendered')"):
                break
            br.pump(0.2)
        rendered = br.eval("document.body.getAttribute('data-charts-rendered')")
        assert rendered and rendered.split("/")[0] == rendered.split("/")[1], rendered
        # Every header of the endpoint table is inside the 1,400 px window.
        geo = br.eval("""(function(){
            var t=document.querySelector('h2 + .scroll table');
            var hs=[].map.call(t.querySelectorAll('th'),function(h){
              var r=h.getBoundingClientRect();return [h.textContent,r.left,r.right];});
            var s=t.parentNode;
            return {w:document.documentElement.clientWidth,hs:hs,
                    sw:s.scrollWidth,cw:s.clientWidth};})()""")
        right = {h[0]: h[2] for h in geo["hs"]}
        for col in ("p95", "p99", "TTFB p50", "TTFB p99"):
            assert col in right, right
            assert right[col] <= geo["w"], (col, right[col], geo["w"])
        assert geo["sw"] <= geo["cw"], "the endpoint table scrolls: %s" % geo
        assert not br.errors, br.errors
        full = str(tmp_path / "report-1400.png")
        shoot(br, full)
        w, h, _, _, _ = png_info(full)
        assert 1370 <= w <= 1400 and h > 1000, (w, h)  # 1,400 less a scrollbar
        assert len(png_colors(full, max_rows=900)) > 20, "report screenshot is blank"
        save(full, "report-1400.png")
        top = str(tmp_path / "report-1400-top.png")  # what the first screen shows
        shoot(br, top, beyond=False)
        assert png_info(top)[:2] == (1400, 1000)
        assert len(png_colors(top)) > 20, "the first screen is blank"
        save(top, "report-1400-top.png")
        def box(fig):
            return br.eval("""(function(){var r=document.getElementById('%s')
              .getBoundingClientRect();return [r.left+scrollX,r.top+scrollY,r.width,r.height];
              })()""" % fig)
        b = box("latency")
        lat = str(tmp_path / "latency-12.png")
        shoot(br, lat, x=b[0], y=b[1], width=b[2], height=b[3])
        w, h, _, _, _ = png_info(lat)
        assert w >= 1000 and h >= 1000, (w, h)  # 12 small multiples: a tall figure
        assert len(png_colors(lat)) > 20, "latency screenshot is blank"
        save(lat, "latency-12-chromium.png")
        b = box("ttfb")  # twelve groups of bars, each named under it
        ttfb = str(tmp_path / "ttfb-12.png")
        shoot(br, ttfb, x=b[0], y=b[1], width=b[2], height=b[3])
        assert len(png_colors(ttfb)) > 20, "ttfb screenshot is blank"
        save(ttfb, "ttfb-12-chromium.png")
    finally:
        br.close()
    png = os.path.join(twelve["out"], "charts", "latency.png")
    w, h, _, _, _ = png_info(png)
    assert (w, h) == (1200, 1200), (w, h)  # 4 rows of 3 panels: twice the height
    save(png, "latency-12.png")


SCRIPT = r'''
local base = ENV.BASE_URL
local wait = metrics.trend("wait_ms")
local size = metrics.gauge("page_bytes")
local okr = metrics.rate("ok_rate")
local orders = metrics.counter("orders")
options = {
  vus = 2, iterations = 20,
  thresholds = { wait_ms = { "p(95)<100000" }, ok_rate = { "rate>0.999" },
                 orders = { "count>1000" } },
}
function default()
  group("browse", function()
    local r = http.get(base .. "/health", { name = "home-page-of-the-shop" })
    check(r, { ["status is 200"] = function(r) return r.status == 200 end })
    wait:add(12.5)
    size:add(2048)
    okr:add(r.status == 200)
  end)
  group("buy", function()
    local r = http.get(base .. "/status/500", { name = "checkout" })
    check(r, { ["order placed"] = function(r) return r.status == 200 end })
    orders:add(1)
  end)
end
'''


def test_script_results_in_report_html_and_txt(tmp_path):
    """Per-name rows, checks by group, custom metrics with units and
    thresholds (pass and FAIL) in report.html, at the end of the run and
    from `volley report` later, and in the txt report."""
    flow = tmp_path / "flow.lua"
    flow.write_text(SCRIPT)
    out = str(tmp_path / "out")
    s = start_serve()
    try:
        p = subprocess.run([volley_path(), "run", str(flow), "-e", "BASE_URL=" + s.url,
                            "--out", out], capture_output=True, text=True, timeout=120)
    finally:
        assert s.stop() == 0, s.stderr()
    assert p.returncode == 99, p.stderr  # orders count>1000 fails
    assert "2 VUs, 1 thread" in p.stdout or "2 VUs, 2 threads" in p.stdout, p.stdout
    assert "connections, " not in p.stdout.split("\n\n")[1], p.stdout
    end_html = open(os.path.join(out, "report.html")).read()
    rep = subprocess.run([volley_path(), "report", os.path.join(out, "results.json"),
                          "--out", str(tmp_path / "later"), "--format", "html,txt,csv"],
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    later = open(str(tmp_path / "later" / "report.html")).read()
    for html in (end_html, later):
        assert "<h1>script " in html
        assert "home-page-of-the-shop" in html and 'id="names"' in html
        assert '<td class="t">browse</td><td class="t pass">status is 200</td>' in html, html
        assert '<td class="t">buy</td><td class="t fail">order placed</td>' in html
        assert "avg 12.500ms" in html or "avg 12.50ms" in html, html[html.find("metrics"):][:800]
        assert "2.05 kB" in html  # page_bytes, a gauge in bytes
        assert '<td class="t pass">pass</td><td class="t">wait_ms: p(95)&lt;100000</td>' in html
        assert '<td class="t fail">FAIL</td><td class="t">orders: count&gt;1000</td>' in html
        assert "<h2>Thresholds: FAILED</h2>" in html
        assert "<td class=\"t\">wait_ms: p(95)&lt;100000</td><td class=\"\">12.50ms</td>" in html
    # names.csv: Locust's per-name rows, at the end of the run and later alike.
    res = json.load(open(os.path.join(out, "results.json")))["script"]["names"]
    for d in (out, str(tmp_path / "later")):
        with open(os.path.join(d, "names.csv"), newline="") as f:
            rows = {r["name"]: r for r in csv.DictReader(f)}
        assert set(rows) == {"home-page-of-the-shop", "checkout"}, rows
        assert rows["checkout"]["requests"] == "20" and rows["checkout"]["failures"] == "20"
        assert rows["checkout"]["failure_pct"] == "100.00"
        assert float(rows["home-page-of-the-shop"]["p95_ms"]) == pytest.approx(
            res["home-page-of-the-shop"]["latency_ms"]["p95"], abs=0.001)
    assert open(os.path.join(out, "names.csv")).read() == \
        open(str(tmp_path / "later" / "names.csv")).read()
    assert ", names.csv" in p.stdout
    txt = rep.stdout
    for want in ("requests by name", "home-page-of-the-shop", "group browse",
                 "x order placed", "wait_ms", "counter 20", "FAIL orders: count>1000"):
        assert want in txt, (want, txt)


def test_first_progress_line_shows_the_rate_so_far(tmp_path):
    """Before the first whole second is collected the line shows the rate
    so far, never a false 0; the plan line says "1 thread"."""
    s = start_serve()
    try:
        p = subprocess.run([volley_path(), "run", "-d", "2s", "-c", "2", "-t", "1", "--no-save",
                            s.url + "/health"], capture_output=True, text=True, timeout=60)
    finally:
        assert s.stop() == 0, s.stderr()
    assert p.returncode == 0, p.stderr
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("[")]
    assert lines, p.stdout + p.stderr
    first = lines[0]
    rps = float(first.split("rps ")[1].split()[0].split("/")[0])
    assert rps > 0, first
    assert "constant-vus: 2 connections, 1 thread, 2.00s\n" in p.stdout, p.stdout
