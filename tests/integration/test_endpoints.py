"""Several endpoints in one run: per-endpoint and mixed modes, targets files,
filters, streaming metrics and the raw requests.csv."""
import csv
import json
import subprocess

import pytest


def run(volley_bin, *args, timeout=60):
    p = subprocess.run([volley_bin, "run", "-q", *args], capture_output=True, text=True,
                       timeout=timeout)
    return p


def run_json(volley_bin, *args, timeout=60):
    p = run(volley_bin, "--no-save", "--json", *args, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def by_name(res):
    return {e["name"]: e for e in res["endpoints"]}


@pytest.mark.serial  # a rate's count within 1
def test_per_endpoint_mode_gives_each_endpoint_the_full_load(volley_bin, serve):
    res = run_json(volley_bin, "--endpoint", "a=" + serve.url + "/health",
                   "--endpoint", "b=" + serve.url + "/status/404",
                   "--rate", "100", "-d", "2s")
    eps = by_name(res)
    assert set(eps) == {"a", "b"}
    assert abs(eps["a"]["totals"]["requests"] - 200) <= 1
    assert abs(eps["b"]["totals"]["requests"] - 200) <= 1
    assert eps["a"]["totals"]["responses_by_status"] == {"200": eps["a"]["totals"]["responses"]}
    assert eps["b"]["totals"]["responses_by_status"] == {"404": eps["b"]["totals"]["responses"]}
    # The run's totals are the sum of the endpoints'.
    assert res["totals"]["requests"] == sum(e["totals"]["requests"] for e in res["endpoints"])
    assert res["latency"]["count"] == sum(e["latency"]["count"] for e in res["endpoints"])
    # Per-endpoint series add up too.
    for e in res["endpoints"]:
        cols = e["series"]["columns"]
        assert sum(r[cols.index("requests")] for r in e["series"]["rows"]) == e["totals"]["requests"]


def test_closed_model_per_endpoint_connections(volley_bin, serve):
    res = run_json(volley_bin, "--endpoint", "a=" + serve.url + "/delay/20",
                   "--endpoint", "b=" + serve.url + "/delay/20", "-c", "3", "-d", "2s")
    eps = by_name(res)
    # 3 connections each, ~20 ms per request: ~150 requests/s per endpoint.
    for e in eps.values():
        assert e["totals"]["connections_opened"] == 3
        assert 150 < e["totals"]["requests"] < 320


@pytest.mark.serial  # a rate's count within 1
def test_mixed_mode_spreads_requests_by_weight(volley_bin, serve):
    res = run_json(volley_bin, "--mode", "mixed",
                   "--endpoint", "a=" + serve.url + "/health",
                   "--endpoint", "b=" + serve.url + "/echo",
                   "--weight", "a=3", "--weight", "b=1", "--rate", "400", "-d", "2s")
    eps = by_name(res)
    a, b = eps["a"]["totals"]["requests"], eps["b"]["totals"]["requests"]
    assert abs(a + b - 800) <= 1
    assert abs(a / (a + b) - 0.75) < 0.02


def test_mixed_closed_model_spreads_by_weight(volley_bin, serve):
    res = run_json(volley_bin, "--mode", "mixed", "-n", "4000", "-c", "4",
                   "--endpoint", "a=" + serve.url + "/health",
                   "--endpoint", "b=" + serve.url + "/echo",
                   "--weight", "a=1", "--weight", "b=1")
    eps = by_name(res)
    a, b = eps["a"]["totals"]["requests"], eps["b"]["totals"]["requests"]
    assert a + b == 4000
    assert abs(a / 4000 - 0.5) < 0.05


def test_targets_file_in_vegeta_format(volley_bin, serve, tmp_path):
    body = tmp_path / "body.json"
    body.write_text('{"hello": "world"}')
    targets = tmp_path / "targets.txt"
    targets.write_text(
        "# name: health\n"
        f"GET {serve.url}/health\n"
        "\n"
        "# name: post-echo\n"
        f"POST {serve.url}/echo\n"
        "Content-Type: application/json\n"
        f"@{body}\n")
    res = run_json(volley_bin, "--targets", str(targets), "-n", "50", "-c", "2")
    eps = by_name(res)
    assert set(eps) == {"health", "post-echo"}
    assert eps["post-echo"]["method"] == "POST"
    assert eps["post-echo"]["totals"]["responses_by_status"] == {"200": 50}
    # The echo returns the 18-byte body with every response.
    assert eps["post-echo"]["totals"]["bytes_in"] > eps["health"]["totals"]["bytes_in"] + 50 * 15


def test_bad_targets_file_names_file_and_line(volley_bin, serve, tmp_path):
    targets = tmp_path / "t.txt"
    targets.write_text(f"GET {serve.url}/health\nNoColonHeader\n")
    p = run(volley_bin, "--no-save", "--targets", str(targets), "-n", "1")
    assert p.returncode == 2
    assert f"{targets}:2" in p.stderr


def test_filter_keeps_endpoints_by_path_prefix(volley_bin, serve):
    res = run_json(volley_bin, "--endpoint", "a=" + serve.url + "/status/200",
                   "--endpoint", "b=" + serve.url + "/health", "--filter", "/status", "-n", "10")
    assert [e["name"] for e in res["endpoints"]] == ["a"]
    p = run(volley_bin, "--no-save", "--endpoint", "a=" + serve.url + "/health",
            "--filter", "/nothing", "-n", "10")
    assert p.returncode == 2 and "--filter" in p.stderr


@pytest.mark.serial  # ttfb and chunk-gap bounds
def test_streaming_ttfb_is_early_and_buffered_late(volley_bin, serve):
    res = run_json(volley_bin,
                   "--endpoint", "stream=" + serve.url + "/stream?chunks=5&interval_ms=20",
                   "--endpoint", "buffered=" + serve.url + "/buffered?chunks=5&interval_ms=20",
                   "-c", "2", "-d", "2s")
    eps = by_name(res)
    s, b = eps["stream"], eps["buffered"]
    assert s["ttfb"]["percentiles"]["p50"] < 10
    assert b["ttfb"]["percentiles"]["p50"] >= 75
    # Both take the whole time to the last byte.
    assert s["latency"]["percentiles"]["p50"] >= 75
    assert b["latency"]["percentiles"]["p50"] >= 75
    # The stream's chunks arrive ~20 ms apart.
    assert s["totals"]["chunks"] >= 5 * s["totals"]["responses"]
    assert 15 <= s["chunk_gap"]["percentiles"]["p50"] <= 30


@pytest.mark.serial  # a rate's count
def test_raw_csv_has_a_row_per_request(volley_bin, serve, tmp_path):
    out = tmp_path / "r"
    p = run(volley_bin, "--out", str(out), "--raw", "--rate", "200", "-d", "2s",
            "--endpoint", "ok=" + serve.url + "/health",
            "--endpoint", "missing=" + serve.url + "/status/404")
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    with open(out / "requests.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["offset_ms", "step", "endpoint", "status", "latency_ms",
                                    "service_ms", "ttfb_ms", "bytes_in", "bytes_out", "error"]
    assert len(rows) == res["totals"]["requests"]
    for e in res["endpoints"]:
        assert sum(1 for r in rows if r["endpoint"] == e["name"]) == e["totals"]["requests"]
    assert {r["status"] for r in rows if r["endpoint"] == "missing"} == {"404"}
    offsets = sorted(float(r["offset_ms"]) for r in rows if r["endpoint"] == "ok")
    # Scheduled every 5 ms.
    assert abs(offsets[1] - offsets[0] - 5.0) < 0.01
    assert all(float(r["latency_ms"]) >= float(r["service_ms"]) for r in rows)


def test_default_output_directory_uses_timestamp_and_label(volley_bin, serve, tmp_path):
    p = subprocess.run([volley_bin, "run", "-n", "10", "-c", "1", "--label", "mylabel",
                        serve.url + "/health"], capture_output=True, text=True, timeout=30,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    dirs = list((tmp_path / "volley-results").iterdir())
    assert len(dirs) == 1 and dirs[0].name.endswith("-mylabel")
    assert (dirs[0] / "results.json").exists()
    assert str(dirs[0].relative_to(tmp_path)) in p.stdout
