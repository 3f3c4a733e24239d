/* Tests for results/results_read: results.json read back is exact (dump,
 * read, dump gives the same text, with endpoints and sweep steps), and bad
 * files (truncated, corrupt bytes, wrong types, inconsistent counts,
 * unknown versions) fail with a message naming the file and JSON path,
 * never a crash. */
#include "core/clock.h"
#include "results/results_json.h"
#include "results/results_read.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill_stats(results_stats *s, uint64_t seed, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = 50000 + (i * 7919 + seed * 104729) % 40000000; /* 50 µs .. 40 ms */
        s->tot.requests++;
        if (i % 17 == 3) {
            s->tot.errors++;
            s->tot.transport_errors++;
            s->tot.err_kind[i % 2 ? ERRK_TIMEOUT : ERRK_RESET]++;
            continue;
        }
        s->tot.responses++;
        s->tot.errors += i % 11 == 0; /* a 404 fails */
        s->tot.status[i % 11 == 0 ? 404 : 200]++;
        hist_record(s->latency, v);
        hist_record(s->service, v * 3 / 4);
        hist_record(s->ttfb, v / 2 + 1234);
        s->tot.bytes_in += 180 + i % 7;
        s->tot.bytes_out += 90;
    }
    hist_record(s->connect, 123456 + seed);
    hist_record(s->chunk_gap, 5000123);
    s->tot.connects = 4;
    s->tot.chunks = 3 * seed;
    s->tot.dropped = seed;
    s->elapsed_ns = 2000000000ULL + seed * 1234567;
    for (uint32_t k = 0; k < 3; k++) {
        series_row w = {
            .second = k, .requests = n / 3, .responses = n / 3 - 1, .errors = 1, .transport_errors = 1,
            .bytes_in = 1000 + k, .bytes_out = 500, .p50_ns = 1234000 + k * 1000,
            .p90_ns = 2345000, .p99_ns = 9876000, .max_ns = 40000000, .mean_ns = 1500123.0,
            .target_rps = 100.25, .active = 4, .dropped = k,
        };
        cr_assert_eq(series_append(&s->sec, &w), 0);
    }
}

/* A results struct with two endpoints and, if steps, two sweep steps. */
static void build(results *r, bool steps)
{
    cr_assert_eq(results_init(r), 0);
    results_plan *p = &r->plan;
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:8080/delay/1");
    snprintf(p->method, sizeof p->method, "GET");
    snprintf(p->executor, sizeof p->executor, "constant-vus");
    snprintf(p->label, sizeof p->label, "a \"label\", with, commas");
    p->connections = 4;
    p->threads = 2;
    p->duration_ns = 2 * NS_PER_S;
    p->timeout_ns = 30 * NS_PER_S;
    p->connect_timeout_ns = 10 * NS_PER_S;
    p->warmup_ns = 500 * NS_PER_MS;
    p->rate_per_s = steps ? 1000 : 0;
    p->keepalive = true;
    p->nheaders = 1;
    p->body_bytes = 5;
    r->start_wall_ns = 1714564800123456789ULL;
    r->end_wall_ns = 1714564802456000000ULL;
    r->warmup_requests = 17;
    r->series_overruns = 1;
    snprintf(r->warning, sizeof r->warning, "out of \"fds\"");
    cr_assert_not_null(results_add_endpoint(r, "slow", "GET", "http://127.0.0.1:8080/delay/1"));
    cr_assert_not_null(results_add_endpoint(r, "stream,x", "POST",
                                            "http://127.0.0.1:8080/stream?chunks=3"));
    r->eps[1].weight = 2.5;
    fill_stats(&r->st, 1, 300);
    fill_stats(&r->eps[0].st, 2, 200);
    fill_stats(&r->eps[1].st, 3, 100);
    hist_record(r->st.send_lag, 2345000);
    if (!steps)
        return;
    /* Thresholds and a monitor: the rest of what the writer writes. */
    r->thresholds = calloc(2, sizeof *r->thresholds);
    r->nthresholds = 2;
    snprintf(r->thresholds[0].expr, sizeof r->thresholds[0].expr, "p(99)<50ms");
    r->thresholds[0].ok = true;
    r->thresholds[0].actual = 12345678;
    snprintf(r->thresholds[0].actual_text, sizeof r->thresholds[0].actual_text, "12.35ms");
    snprintf(r->thresholds[1].expr, sizeof r->thresholds[1].expr, "errors<0.1%%");
    r->thresholds[1].actual = 0.0566666666667;
    r->thresholds_aborted = true;
    r->cold = (results_cold){.measured = true, .ready_ms = 12.5, .start_ms = 412.25,
                             .first_ms = 399.75, .status = 200, .attempts = 2};
    r->monitor.pid = 4242;
    snprintf(r->monitor.command, sizeof r->monitor.command, "nginx -g 'daemon off;'");
    r->monitor.interval_s = 0.5;
    r->monitor.cpu_seconds = 1.234;
    r->monitor.rss_max_bytes = 123456789;
    for (int i = 0; i < 3; i++) {
        monitor_sample sm = {.t_s = 0.5 * i, .cpu_pct = 12.5 + i, .rss_bytes = 1000000u + i};
        cr_assert_eq(results_monitor_add(&r->monitor, &sm), 0);
    }
    for (int i = 0; i < 2; i++) {
        results_step *st = results_add_step(r, 500.0 * (i + 1), 0);
        cr_assert_not_null(st);
        st->offset_ns = (uint64_t)i * 2 * NS_PER_S;
        fill_stats(&st->st, 4 + (uint64_t)i, 150);
        fill_stats(&st->eps[0].st, 6 + (uint64_t)i, 100);
        fill_stats(&st->eps[1].st, 8 + (uint64_t)i, 50);
    }
}

static void round_trip(bool steps)
{
    results r, back;
    err e = {0};
    build(&r, steps);
    char *a = results_json_dump(&r, &e);
    cr_assert_not_null(a, "%s", e.msg);
    int rc = results_json_parse(a, strlen(a), "r.json", &back, &e);
    cr_assert_eq(rc, 0, "%s", e.msg);
    char *b = results_json_dump(&back, &e);
    cr_assert_not_null(b);
    cr_assert_str_eq(a, b);
    cr_assert_eq(back.start_wall_ns, r.start_wall_ns);
    cr_assert_eq(back.end_wall_ns / NS_PER_MS, r.end_wall_ns / NS_PER_MS);
    cr_assert_eq(back.neps, 2);
    cr_assert_eq(back.nsteps, steps ? 2 : 0);
    cr_assert_eq(hist_sum(back.eps[1].st.latency), hist_sum(r.eps[1].st.latency));
    cr_assert_eq(back.st.elapsed_ns, r.st.elapsed_ns);
    cr_assert_eq(back.st.sec.rows[2].p50_ns, 1236000);
    cr_assert_eq(hist_count(back.st.send_lag), 1);
    cr_assert_eq(back.nthresholds, steps ? 2 : 0);
    cr_assert_eq(back.monitor.nsamples, steps ? 3 : 0);
    /* --cold and the server per step (derived from the samples) come back. */
    cr_assert_eq(back.cold.measured, steps);
    if (steps) {
        cr_assert_float_eq(back.cold.start_ms, 412.25, 1e-9);
        cr_assert_float_eq(back.cold.first_ms, 399.75, 1e-9);
        cr_assert_eq(back.cold.attempts, 2);
        cr_assert(strstr(a, "\"server\": {") || strstr(a, "\"server\":{"), "no steps[].server");
    }
    free(a);
    free(b);
    results_free(&r);
    results_free(&back);
}

Test(results_read, test_round_trip_is_byte_identical)
{
    round_trip(false);
}

Test(results_read, test_round_trip_with_sweep_steps)
{
    round_trip(true);
}

Test(results_read, test_empty_results_round_trip)
{
    results r, back;
    err e = {0};
    cr_assert_eq(results_init(&r), 0);
    char *a = results_json_dump(&r, &e);
    cr_assert_eq(results_json_parse(a, strlen(a), "e.json", &back, &e), 0, "%s", e.msg);
    char *b = results_json_dump(&back, &e);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    results_free(&r);
    results_free(&back);
}

Test(results_read, test_read_file_and_missing_file)
{
    results r, back;
    err e = {0};
    build(&r, false);
    char path[] = "/tmp/volley-test-rr-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(results_json_write(&r, path, &e), 0, "%s", e.msg);
    cr_assert_eq(results_json_read(path, &back, &e), 0, "%s", e.msg);
    cr_assert_eq(back.st.tot.requests, r.st.tot.requests);
    results_free(&back);
    unlink(path);
    cr_assert_neq(results_json_read(path, &back, &e), 0);
    cr_assert(strstr(e.msg, path), "%s", e.msg);
    results_free(&r);
}

/* Every prefix of a valid file fails cleanly with the file name in the
 * message (and no leak or overread under ASan). */
Test(results_read, test_truncated_at_every_offset_fails_cleanly)
{
    results r, back;
    err e = {0};
    build(&r, true);
    char *a = results_json_dump(&r, &e);
    size_t len = strlen(a);
    /* Every offset near the start, then ~2000 spread over the rest (each
     * parse is linear, so all offsets of a 50 kB file would take a minute). */
    for (size_t cut = 0; cut < len; cut += cut < 2048 ? 1 : len / 2000 + 1) {
        /* A copy of exactly cut bytes, so ASan sees any read past the end. */
        char *t = malloc(cut ? cut : 1);
        memcpy(t, a, cut);
        int rc = results_json_parse(t, cut, "cut.json", &back, &e);
        cr_assert_neq(rc, 0, "prefix of %zu bytes accepted", cut);
        cr_assert(!strncmp(e.msg, "cut.json:", 9), "%s", e.msg);
        free(t);
    }
    free(a);
    results_free(&r);
}

/* Single changed bytes anywhere: accepted or rejected, never a crash; a
 * rejection names the file. */
Test(results_read, test_corrupt_bytes_never_crash)
{
    results r, back;
    err e = {0};
    build(&r, false);
    char *a = results_json_dump(&r, &e);
    size_t len = strlen(a);
    static const char subst[] = {'9', '0', '"', ':', ',', 'x', '-', '}'};
    size_t rejected = 0;
    size_t stride = len / 1500 + 1, tried = 0;
    for (size_t i = 0; i < len; i += stride, tried++) {
        char *t = malloc(len);
        memcpy(t, a, len);
        t[i] = subst[i % sizeof subst] == t[i] ? '1' : subst[i % sizeof subst];
        if (results_json_parse(t, len, "bad.json", &back, &e) == 0) {
            results_free(&back);
        } else {
            rejected++;
            cr_assert(!strncmp(e.msg, "bad.json", 8), "%s", e.msg);
        }
        free(t);
    }
    cr_assert_gt(rejected, tried / 2);
    free(a);
    results_free(&r);
}

/* Replaces the first occurrence of from with to in a dump, parses, and
 * expects failure with all of the needles in the message. */
static void expect_reject(const char *from, const char *to, const char *n1, const char *n2)
{
    results r, back;
    err e = {0};
    build(&r, true);
    char *a = results_json_dump(&r, &e);
    char *at = strstr(a, from);
    cr_assert_not_null(at, "'%s' not in the dump", from);
    size_t len = strlen(a) - strlen(from) + strlen(to);
    char *t = malloc(len + 1);
    size_t head = (size_t)(at - a);
    memcpy(t, a, head);
    memcpy(t + head, to, strlen(to));
    strcpy(t + head + strlen(to), at + strlen(from));
    int rc = results_json_parse(t, len, "r.json", &back, &e);
    cr_assert_neq(rc, 0, "accepted after replacing '%s' with '%s'", from, to);
    cr_assert(strstr(e.msg, "r.json"), "%s", e.msg);
    cr_assert(strstr(e.msg, n1), "'%s' not in: %s", n1, e.msg);
    if (n2)
        cr_assert(strstr(e.msg, n2), "'%s' not in: %s", n2, e.msg);
    free(t);
    free(a);
    results_free(&r);
}

Test(results_read, test_unknown_schema_version_named)
{
    expect_reject("\"schema_version\": 1", "\"schema_version\": 7", "schema_version",
                  "version 7");
}

Test(results_read, test_missing_field_named)
{
    expect_reject("\"executor\"", "\"executorX\"", "plan.executor", "missing");
}

Test(results_read, test_wrong_type_named)
{
    expect_reject("\"interrupted\": false", "\"interrupted\": \"no\"", "interrupted",
                  "true or false");
    expect_reject("\"connections\": 4", "\"connections\": 4.5", "plan.connections", "integer");
}

Test(results_read, test_inconsistent_counts_rejected)
{
    expect_reject("\"requests\": 300", "\"requests\": 301", "totals", "inconsistent counts");
}

Test(results_read, test_histogram_error_names_path_and_byte)
{
    /* The second endpoint's latency histogram: its "v1;" becomes "v2;". */
    results r;
    err e = {0};
    build(&r, false);
    char *a = results_json_dump(&r, &e);
    char *ep1 = strstr(a, "\"name\": \"stream,x\"");
    cr_assert_not_null(ep1);
    char *h = strstr(ep1, "\"histogram\": \"v1;");
    cr_assert_not_null(h);
    h[strlen("\"histogram\": \"v")] = '2';
    results back;
    cr_assert_neq(results_json_parse(a, strlen(a), "r.json", &back, &e), 0);
    cr_assert(strstr(e.msg, "r.json: endpoints[1].latency.histogram: "), "%s", e.msg);
    cr_assert(strstr(e.msg, "at byte 1"), "%s", e.msg);
    free(a);
    results_free(&r);
}

Test(results_read, test_histogram_count_mismatch_rejected)
{
    expect_reject("\"count\": ", "\"count\": 1", "latency.count", "histogram holds");
}

Test(results_read, test_step_endpoint_count_checked)
{
    expect_reject("\"steps\": [", "\"steps\": [{\"index\": 0, \"target_rps\": 1, "
                  "\"target_vus\": 0, \"endpoints\": []},",
                  "steps[0]", NULL);
}

Test(results_read, test_json_syntax_error_has_line_and_column)
{
    results back;
    err e = {0};
    const char *t = "{\n  \"schema_version\": 1,\n  \"plan\": {]\n}";
    cr_assert_neq(results_json_parse(t, strlen(t), "x.json", &back, &e), 0);
    cr_assert(!strncmp(e.msg, "x.json:3:", 9), "%s", e.msg);
    cr_assert(strstr(e.msg, "(byte "), "%s", e.msg);
}

Test(results_read, test_unknown_error_kind_and_status_rejected)
{
    expect_reject("\"timeout\": ", "\"timeoutX\": ", "errors_by_kind.timeoutX", "unknown");
    expect_reject("\"200\": ", "\"2000\": ", "responses_by_status.2000", "status");
}

Test(results_read, test_series_unknown_column_ignored_missing_zero)
{
    results r, back;
    err e = {0};
    build(&r, false);
    char *a = results_json_dump(&r, &e);
    /* Rename the first "max_ms" column: unknown now, so max reads as 0. */
    char *c = strstr(a, "\"max_ms\"");
    cr_assert_not_null(c);
    memcpy(c + 1, "zzz", 3);
    cr_assert_eq(results_json_parse(a, strlen(a), "r.json", &back, &e), 0, "%s", e.msg);
    cr_assert_eq(back.st.sec.rows[0].max_ns, 0);
    cr_assert_eq(back.st.sec.rows[0].p99_ns, 9876000);
    results_free(&back);
    free(a);
    results_free(&r);
}
