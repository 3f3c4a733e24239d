/* Tests for results/csv: summary.csv rows and values, byte-identical output
 * from a results struct and from its results.json read back, RFC 4180
 * quoting, and the requests.csv reader (columns by name, quoted fields,
 * even sampling above the row cap, errors naming file and line) and writer
 * (64-bit byte counts). */
#include "core/buf.h"
#include "core/clock.h"
#include "results/csv.h"
#include "results/results_json.h"
#include "results/results_read.h"
#include "session/session_parts.h"
#include "load/worker.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void record(results_stats *s, int status, uint64_t latency_ns)
{
    s->tot.requests++;
    if (status == 0) {
        s->tot.errors++;
        s->tot.transport_errors++;
        s->tot.err_kind[ERRK_TIMEOUT]++;
        return;
    }
    s->tot.responses++;
    s->tot.errors += status >= 400; /* outside the default --ok-status */
    s->tot.status[status]++;
    hist_record(s->latency, latency_ns);
    hist_record(s->service, latency_ns - 1000);
    hist_record(s->ttfb, latency_ns / 2);
    s->tot.bytes_in += 100;
    s->tot.bytes_out += 50;
}

/* Endpoint "a": 100 responses of 1..100 ms; "b, \"x\"": 8 of 200, 2 of
 * 500, 10 timeouts; the run block holds both. */
static void build(results *r, bool steps)
{
    cr_assert_eq(results_init(r), 0);
    snprintf(r->plan.url, sizeof r->plan.url, "http://h/a");
    snprintf(r->plan.method, sizeof r->plan.method, "GET");
    snprintf(r->plan.executor, sizeof r->plan.executor, "constant-vus");
    r->plan.rate_per_s = 123.456;
    cr_assert_not_null(results_add_endpoint(r, "a", "GET", "http://h/a"));
    cr_assert_not_null(results_add_endpoint(r, "b, \"x\"", "POST", "http://h/b?x=1,2"));
    for (uint64_t i = 1; i <= 100; i++) {
        record(&r->eps[0].st, 200, i * NS_PER_MS);
        record(&r->st, 200, i * NS_PER_MS);
    }
    for (int i = 0; i < 20; i++) {
        int st = i < 8 ? 200 : i < 10 ? 500 : 0;
        record(&r->eps[1].st, st, 5 * NS_PER_MS);
        record(&r->st, st, 5 * NS_PER_MS);
    }
    r->st.elapsed_ns = 2 * NS_PER_S;
    r->eps[0].st.elapsed_ns = 2 * NS_PER_S;
    r->eps[1].st.elapsed_ns = 0; /* falls back to the run's */
    r->st.tot.dropped = 3;
    if (steps) {
        for (int k = 0; k < 2; k++) {
            results_step *s = results_add_step(r, 100.0 * (k + 1), 0);
            cr_assert_not_null(s);
            record(&s->eps[0].st, 200, 2 * NS_PER_MS);
            record(&s->st, 200, 2 * NS_PER_MS);
            s->st.elapsed_ns = NS_PER_S;
        }
    }
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static char *line_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s = strchr(s, '\n') + 1;
    size_t len = strcspn(s, "\n");
    char *out = malloc(len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

Test(csv, test_summary_rows_and_values)
{
    results r;
    build(&r, false);
    buf b = {0};
    cr_assert_eq(csv_summary_dump(&r, &b), 0);
    cr_assert_eq(count_lines(b.data), 4); /* header, a, b, total */
    char *h = line_n(b.data, 0);
    cr_assert_str_eq(h, CSV_SUMMARY_HEADER);
    char *a = line_n(b.data, 1);
    /* p50 of 1..100 ms: the 50th value, 50 ms, within the histogram's
     * resolution; mean exact: 50.5 ms. */
    cr_assert_str_eq(a, ",123.46,a,GET,http://h/a,100,100,0,100.00,50.00,50.016,90.048,"
                        "95.040,99.008,100.000,50.500,25.008,49.504,50.016,99.008,10000,5000,0,,");
    char *bl = line_n(b.data, 2);
    cr_assert(!strncmp(bl, ",123.46,\"b, \"\"x\"\"\",POST,\"http://h/b?x=1,2\",20,10,12,40.00,10.00,",
                       strlen(",123.46,\"b, \"\"x\"\"\",POST,\"http://h/b?x=1,2\",20,10,12,40.00,10.00,")),
              "%s", bl);
    char *t = line_n(b.data, 3);
    /* Each endpoint asked for the whole rate (per-endpoint mode): the
     * total asked for the sum of theirs. */
    cr_assert(!strncmp(t, ",246.91,total,,,120,110,12,", 27), "%s", t);
    /* dropped 3, and no server columns without a monitor */
    cr_assert(strlen(t) > 4 && !strcmp(t + strlen(t) - 4, ",3,,"), "%s", t);
    free(h);
    free(a);
    free(bl);
    free(t);
    buf_free(&b);
    results_free(&r);
}

Test(csv, test_summary_with_steps_has_rows_per_step_and_total)
{
    results r;
    build(&r, true);
    buf b = {0};
    cr_assert_eq(csv_summary_dump(&r, &b), 0);
    /* header + 2 steps x (2 endpoints + total) + run total */
    cr_assert_eq(count_lines(b.data), 1 + 2 * 3 + 1);
    char *s0 = line_n(b.data, 1);
    cr_assert(!strncmp(s0, "0,100.00,a,GET,", 15), "%s", s0);
    char *s1t = line_n(b.data, 6);
    cr_assert(!strncmp(s1t, "1,400.00,total,,,1,1,0,100.00,1.00,", 35), "%s", s1t);
    char *last = line_n(b.data, 7);
    cr_assert(!strncmp(last, ",,total,,,120,", 14), "%s", last);
    free(s0);
    free(s1t);
    free(last);
    buf_free(&b);
    results_free(&r);
}

/* The server under test per step: samples count in the step where the
 * middle of their interval lies; endpoint rows leave the columns empty. */
Test(csv, test_summary_server_columns_per_step)
{
    results r;
    build(&r, true);
    r.steps[1].offset_ns = NS_PER_S;
    r.monitor.pid = 42;
    r.monitor.interval_s = 0.5;
    r.monitor.rss_max_bytes = 9000;
    const monitor_sample sm[] = {{0.5, 10, 1000}, {1.0, 20, 2000}, {1.5, 60, 5000},
                                 {2.0, 80, 9000}};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(results_monitor_add(&r.monitor, &sm[i]), 0);
    double cpu;
    uint64_t rss;
    cr_assert(results_step_monitor(&r, &r.steps[0], &cpu, &rss));
    cr_assert_float_eq(cpu, 15.0, 1e-9);
    cr_assert_eq(rss, 2000);
    buf b = {0};
    cr_assert_eq(csv_summary_dump(&r, &b), 0);
    char *a0 = line_n(b.data, 1), *t0 = line_n(b.data, 3), *t1 = line_n(b.data, 6),
         *all = line_n(b.data, 7);
    cr_assert(!strcmp(a0 + strlen(a0) - 2, ",,"), "%s", a0);
    cr_assert(strstr(t0, ",15.0,2000") && !strcmp(strstr(t0, ",15.0,2000"), ",15.0,2000"), "%s", t0);
    cr_assert(strstr(t1, ",70.0,9000"), "%s", t1);
    cr_assert(strstr(all, ",42.5,9000"), "%s", all);
    free(a0);
    free(t0);
    free(t1);
    free(all);
    buf_free(&b);
    results_free(&r);
}

/* `volley report r.json --format csv` must reproduce `volley run`'s file. */
Test(csv, test_summary_identical_after_json_round_trip)
{
    for (int steps = 0; steps < 2; steps++) {
        results r, back;
        err e = {0};
        build(&r, steps);
        char *js = results_json_dump(&r, &e);
        cr_assert_not_null(js);
        cr_assert_eq(results_json_parse(js, strlen(js), "r.json", &back, &e), 0, "%s", e.msg);
        buf a = {0}, b = {0};
        cr_assert_eq(csv_summary_dump(&r, &a), 0);
        cr_assert_eq(csv_summary_dump(&back, &b), 0);
        cr_assert_str_eq(a.data, b.data);
        buf_free(&a);
        buf_free(&b);
        free(js);
        results_free(&r);
        results_free(&back);
    }
}

Test(csv, test_write_summary_file)
{
    results r;
    err e = {0};
    build(&r, false);
    char path[] = "/tmp/volley-test-csv-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(csv_write_summary(&r, path, &e), 0, "%s", e.msg);
    FILE *f = fopen(path, "r");
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert(!strncmp(line, "step,target_rps,endpoint,", 25));
    fclose(f);
    unlink(path);
    cr_assert_neq(csv_write_summary(&r, "/nonexistent-dir/x/summary.csv", &e), 0);
    cr_assert(strstr(e.msg, "/nonexistent-dir/x/summary.csv"), "%s", e.msg);
    results_free(&r);
}

Test(csv, test_field_quoting_rfc4180)
{
    buf b = {0};
    cr_assert_eq(csv_field(&b, "plain"), 0);
    cr_assert_eq(csv_field(&b, "|a,b|"), 0);
    cr_assert_eq(csv_field(&b, "say \"hi\""), 0);
    cr_assert_eq(csv_field(&b, "two\nlines"), 0);
    cr_assert_eq(buf_append(&b, "", 1), 0);
    cr_assert_str_eq(b.data, "plain\"|a,b|\"\"say \"\"hi\"\"\"\"two\nlines\"");
    buf_free(&b);
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/volley-test-rq-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* Collects the rows csv_scan_requests hands out (at most 16). */
typedef struct rows_got {
    csv_request_row rows[16];
    size_t n;
} rows_got;

static int collect(const csv_request_row *row, void *ctx)
{
    rows_got *g = ctx;
    if (g->n == 16)
        return VOLLEY_ENOMEM;
    g->rows[g->n++] = *row;
    return 0;
}

static int read_rows(const char *path, csv_request_row **rows, size_t *n, err *e)
{
    static rows_got g;
    g.n = 0;
    int rc = csv_scan_requests(path, false, collect, &g, e);
    *rows = g.rows;
    *n = g.n;
    return rc;
}

Test(csv, test_read_requests_by_column_name)
{
    /* Columns reordered, an unknown one, a quoted endpoint, an error row,
     * CRLF line ends and a blank line. */
    const char *text =
        "step,endpoint,offset_ms,extra,status,latency_ms,service_ms,ttfb_ms,bytes_in,"
        "bytes_out,error\r\n"
        "0,slow,0.500,zz,200,1.496,1.225,1.224,66,72,\r\n"
        "\r\n"
        ",\"a,\"\"b\"\"\",12.25,,0,30000.000,0,0,0,72,timeout\r\n";
    char *path = write_tmp(text);
    csv_request_row *rows;
    size_t n;
    err e = {0};
    cr_assert_eq(read_rows(path, &rows, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(rows[0].endpoint, "slow");
    cr_assert_eq(rows[0].status, 200);
    cr_assert_float_eq(rows[0].latency_ms, 1.496, 1e-9);
    cr_assert_float_eq(rows[0].offset_ms, 0.5, 1e-9);
    cr_assert_eq(rows[0].step, 0);
    cr_assert_eq(rows[0].bytes_in, 66);
    cr_assert_eq(rows[0].err_kind, -1);
    cr_assert_str_eq(rows[1].endpoint, "a,\"b\"");
    cr_assert_eq(rows[1].status, 0);
    cr_assert_eq(rows[1].step, -1);
    cr_assert_eq(rows[1].err_kind, ERRK_TIMEOUT);
    unlink(path);
}

/* A 5 GB body was once logged as 705,032,751 (32 bits): the writer
 * (session/raw) and the reader keep 64-bit byte counts. */
Test(csv, test_requests_csv_keeps_bodies_over_4gb)
{
    char dir[] = "/tmp/volley-test-raw-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static plan p;
    session_raw w = {0};
    err e = {0};
    cr_assert_eq(session_raw_open(&w, &p, dir, &e), 0, "%s", e.msg);
    worker_raw r = {.intended_ns = 1000000, .latency_ns = 2000000, .bytes_in = 5000000000ull,
                    .bytes_out = 5000000001ull, .status = 200, .err = -1};
    session_raw_record(&w, &r);
    cr_assert_eq(session_raw_close(&w, &e), 0, "%s", e.msg);
    char path[128];
    snprintf(path, sizeof path, "%s/requests.csv", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strstr(line, ",5000000000,5000000001,"), "%s", line);
    csv_request_row *rows;
    size_t n;
    cr_assert_eq(read_rows(path, &rows, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0].bytes_in, 5000000000ull);
    cr_assert_eq(rows[0].bytes_out, 5000000001ull);
    unlink(path);
    rmdir(dir);
}

Test(csv, test_read_requests_errors_name_file_and_line)
{
    csv_request_row *rows;
    size_t n;
    err e = {0};
    char *path = write_tmp("offset_ms,status\n1,200\n");
    cr_assert_neq(read_rows(path, &rows, &n, &e), 0);
    cr_assert(strstr(e.msg, path) && strstr(e.msg, ":1:") && strstr(e.msg, "latency_ms"),
              "%s", e.msg);
    unlink(path);
    path = write_tmp("offset_ms,status,latency_ms\n1,200,3\n2,abc,3\n");
    cr_assert_neq(read_rows(path, &rows, &n, &e), 0);
    cr_assert(strstr(e.msg, ":3: malformed row"), "%s", e.msg);
    unlink(path);
    path = write_tmp("offset_ms,status,latency_ms,endpoint\n1,200,3,\"open\n");
    cr_assert_neq(read_rows(path, &rows, &n, &e), 0);
    unlink(path);
    path = write_tmp("");
    cr_assert_neq(read_rows(path, &rows, &n, &e), 0);
    unlink(path);
    cr_assert_neq(read_rows("/nonexistent/requests.csv", &rows, &n, &e), 0);
    cr_assert(strstr(e.msg, "/nonexistent/requests.csv"), "%s", e.msg);
    /* Found by fuzzing: numbers that do not fit the row's types are
     * malformed rows, not undefined conversions. */
    static const char *bad[] = {
        "offset_ms,status,latency_ms,bytes_in\n1,200,3,8e123\n",
        "offset_ms,status,latency_ms,bytes_out\n1,200,3,1e19\n",
        "offset_ms,status,latency_ms\n1,nan,3\n",
        "offset_ms,status,latency_ms,bytes_in\n1,200,3,nan\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = write_tmp(bad[i]);
        cr_expect_neq(read_rows(path, &rows, &n, &e), 0, "%s", bad[i]);
        cr_expect(strstr(e.msg, ":2: malformed row"), "%s", e.msg);
        unlink(path);
    }
}

Test(csv, test_read_requests_numbers_equal_strtod)
{
    const char *vals[] = {"1.496", "30000.000", "0.001", "123456789.123", "7", "0.1",
                          "99999999.999", "1e3", "2.5E-1", "12345678901234567.5"};
    char text[1024] = "offset_ms,status,latency_ms\n";
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s,200,%s\n", vals[i],
                 vals[i]);
    char *path = write_tmp(text);
    static rows_got g;
    err e = {0};
    cr_assert_eq(csv_scan_requests(path, false, collect, &g, &e), 0, "%s", e.msg);
    cr_assert_eq(g.n, 10);
    for (size_t i = 0; i < g.n; i++) {
        cr_assert_eq(g.rows[i].offset_ms, strtod(vals[i], NULL), "%s", vals[i]);
        cr_assert_eq(g.rows[i].latency_ms, strtod(vals[i], NULL), "%s", vals[i]);
    }
    unlink(path);
}

static int count_offsets(const csv_request_row *row, void *ctx)
{
    int *seen = ctx;
    seen[(int)row->offset_ms]++;
    return 0;
}

Test(csv, test_parts_cover_every_row_once)
{
    char text[8192] = "offset_ms,status,latency_ms\n";
    for (int i = 0; i < 300; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,200,%d.5\n", i, i % 7);
    char *path = write_tmp(text);
    for (unsigned n = 1; n <= 7; n++) {
        int seen[300] = {0};
        err e = {0};
        for (unsigned k = 0; k < n; k++)
            cr_assert_eq(csv_scan_requests_part(path, true, k, n, count_offsets, seen, &e), 0,
                         "%s", e.msg);
        for (int i = 0; i < 300; i++)
            cr_assert_eq(seen[i], 1, "row %d seen %d times with %u parts", i, seen[i], n);
    }
    unlink(path);
}

/* Mixed mode: one load spread by weight; each endpoint's target is its
 * share, the total the plan's rate. */
Test(csv, test_mixed_mode_targets_are_weight_shares)
{
    results r;
    build(&r, false);
    snprintf(r.plan.mode, sizeof r.plan.mode, "mixed");
    r.eps[0].weight = 3;
    r.eps[1].weight = 1;
    r.plan.rate_per_s = 100;
    buf b = {0};
    cr_assert_eq(csv_summary_dump(&r, &b), 0);
    char *a = line_n(b.data, 1), *bl = line_n(b.data, 2), *t = line_n(b.data, 3);
    cr_assert(!strncmp(a, ",75.00,a,", 9), "%s", a);
    cr_assert(!strncmp(bl, ",25.00,", 7), "%s", bl);
    cr_assert(!strncmp(t, ",100.00,total,", 14), "%s", t);
    free(a);
    free(bl);
    free(t);
    buf_free(&b);
    results_free(&r);
}
