/* Tests for the live outputs' pure parts (output/snap, prom, influx, otlp,
 * dash, post, report/ciexport): seconds summed into a snapshot, the Prometheus
 * histogram buckets cumulative and equal to the count at +Inf, line
 * protocol escaping and the end-of-run remainder, OTLP bucket counts, and
 * the hgrm rows hitting 50% and 90% exactly, and the push queue bounded
 * with every point counted as delivered or not. */
#include "core/clock.h"
#include "output/dash.h"
#include "output/influx.h"
#include "output/otlp.h"
#include "output/post.h"
#include "output/prom.h"
#include "output/snap.h"
#include "report/ciexport.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *text(buf *b)
{
    buf_append(b, "", 1);
    b->len--;
    return b->data;
}

static void two_seconds(snap *s)
{
    hist *h = hist_new();
    series_row r = {.requests = 10, .responses = 9, .errors = 1, .bytes_in = 100, .active = 4,
                    .status_class = {[2] = 8, [5] = 1}, .err_kind = {[ERRK_TIMEOUT] = 1},
                    .send_lag_p99_ns = 3000000, .cpu_pct = 40, .retries = 2};
    for (int i = 1; i <= 10; i++)
        hist_record(h, (uint64_t)i * 1000000); /* 1..10 ms */
    snap_add_second(s, &r, h, 0.5);
    r.requests = 5;
    r.responses = 5;
    r.errors = 0;
    r.status_class[2] = 5;
    r.status_class[5] = 0;
    r.err_kind[ERRK_TIMEOUT] = 0;
    r.retries = 1;
    hist_reset(h);
    hist_record_n(h, 20000000000ULL, 5); /* 20 s: above every finite bucket */
    snap_add_second(s, &r, h, 0.75);
    hist_free(h);
}

Test(outputs, snap_sums_seconds)
{
    snap s;
    cr_assert_eq(snap_init(&s), 0);
    two_seconds(&s);
    cr_assert_eq(s.requests, 15);
    cr_assert_eq(s.responses, 14);
    cr_assert_eq(s.errors, 1);
    cr_assert_eq(s.bytes_in, 200);
    cr_assert_eq(hist_count(s.latency), 15);
    cr_assert_eq(s.seconds, 2);
    /* Statuses and error kinds are summed from the seconds, live. */
    cr_assert(s.have_breakdown);
    cr_assert_eq(s.status_class[2], 13);
    cr_assert_eq(s.status_class[5], 1);
    cr_assert_eq(s.err_kind[ERRK_TIMEOUT], 1);
    cr_assert_eq(s.retries, 3, "retries are summed from the seconds too");
    cr_assert_eq(s.send_lag_p99_ns, 3000000, "the last second's");
    snap_free(&s);
}

Test(outputs, prom_histogram_is_cumulative_and_complete)
{
    snap s;
    snap_init(&s);
    two_seconds(&s);
    buf b = {0};
    cr_assert_eq(prom_encode(&s, &b), 0);
    const char *t = text(&b);
    cr_assert(strstr(t, "volley_requests_total 15\n"), "%s", t);
    cr_assert(strstr(t, "volley_failed_requests_total 1\n"));
    cr_assert(strstr(t, "volley_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"), "%s", t);
    cr_assert(strstr(t, "volley_request_duration_seconds_bucket{le=\"0.01\"} 10\n"));
    cr_assert(strstr(t, "volley_request_duration_seconds_bucket{le=\"10\"} 10\n"));
    cr_assert(strstr(t, "volley_request_duration_seconds_bucket{le=\"+Inf\"} 15\n"));
    cr_assert(strstr(t, "volley_request_duration_seconds_count 15\n"));
    cr_assert(strstr(t, "volley_request_duration_seconds_sum 100.055000000\n"), "%s", t);
    /* The breakdown moves with the seconds. */
    cr_assert(strstr(t, "volley_responses_by_status_total{status_class=\"2xx\"} 13\n"), "%s", t);
    cr_assert(strstr(t, "volley_responses_by_status_total{status_class=\"5xx\"} 1\n"), "%s", t);
    cr_assert(strstr(t, "volley_errors_by_kind_total{kind=\"timeout\"} 1\n"), "%s", t);
    cr_assert(strstr(t, "volley_generator_cpu_percent 40\n"), "%s", t);
    cr_assert(strstr(t, "volley_send_lag_p99_seconds 0.003\n"), "%s", t);
    buf_free(&b);
    snap_free(&s);
}

Test(outputs, influx_line_escapes_the_tag_and_types_integers)
{
    buf b = {0};
    series_row r = {.requests = 3, .responses = 2, .errors = 1, .p99_ns = 1500000};
    cr_assert_eq(influx_second(&b, "a b,c=d", &r, 42), 0);
    const char *t = text(&b);
    cr_assert(!strncmp(t, "volley,run=a\\ b\\,c\\=d requests=3i,responses=2i,errors=1i,", 52), "%s", t);
    cr_assert(strstr(t, "p99_ms=1.500,"), "%s", t);
    cr_assert(strstr(t, ",status_2xx=0i,"), "%s", t);
    cr_assert(strstr(t, ",errors_timeout=0i,"), "%s", t);
    cr_assert(strstr(t, " 42\n"));
    buf_free(&b);
}

Test(outputs, influx_final_carries_the_remainder)
{
    snap sum, fin;
    snap_init(&sum);
    snap_init(&fin);
    sum.requests = 10;
    sum.wall_ns = 100;
    fin.requests = 13;
    fin.errors = 2;
    fin.wall_ns = 200;
    fin.status_class[2] = 11;
    sum.retries = 4;
    fin.retries = 6;
    buf b = {0};
    int n = influx_final(&b, "r", &sum, &fin);
    cr_assert_eq(n, 1 + 5 + ERRK_COUNT);
    const char *t = text(&b);
    cr_assert(strstr(t, "volley,run=r requests=3i,responses=0i,errors=2i,"), "%s", t);
    cr_assert(strstr(t, ",dropped=0i,retries=2i,"), "%s", t);
    cr_assert(strstr(t, "volley_status,run=r,status_class=2xx count=11i 200\n"), "%s", t);
    buf_free(&b);
    snap_free(&sum);
    snap_free(&fin);
}

Test(outputs, otlp_bucket_counts_sum_to_count)
{
    snap s;
    snap_init(&s);
    two_seconds(&s);
    s.wall_ns = 2000;
    buf b = {0};
    int points = otlp_encode(&s, 1000, "run1", &b);
    /* 7 sums, 5 gauges, the histogram, 5 status classes and the error kinds. */
    cr_assert_eq(points, 13 + 5 + ERRK_COUNT);
    cr_assert(strstr(text(&b), "{\"name\":\"volley.retries\""), "%s", text(&b));
    const char *t = text(&b);
    cr_assert(strstr(t, "\"resourceMetrics\":[{\"resource\""), "%s", t);
    cr_assert(strstr(t, "{\"key\":\"status_class\",\"value\":{\"stringValue\":\"5xx\"}}]"
                        ",\"asInt\":\"1\""), "%s", t);
    cr_assert(strstr(t, "\"asInt\":\"15\""), "%s", t);
    cr_assert(strstr(t, "\"count\":\"15\""));
    cr_assert(strstr(t, "\"startTimeUnixNano\":\"1000\""));
    /* Per bucket, not cumulative: 1 ms | 2 ms | 3-5 ms | 6-10 ms; the
     * last (+Inf) bucket holds the five 20 s values. */
    cr_assert(strstr(t, "\"bucketCounts\":[\"0\",\"1\",\"1\",\"3\",\"5\",\"0\""), "%s", t);
    cr_assert(strstr(t, "\"5\"]"), "%s", t);
    buf_free(&b);
    snap_free(&s);
}

Test(outputs, dash_event_is_one_json_line)
{
    snap s;
    snap_init(&s);
    two_seconds(&s);
    buf b = {0};
    cr_assert_eq(dash_event(&s, 12.5, &b), 0);
    const char *t = text(&b);
    cr_assert_null(strchr(t, '\n'));
    cr_assert(strstr(t, "\"requests\":15"), "%s", t);
    cr_assert(strstr(t, "\"final\":false"));
    /* Failures by status and kind: the run's so far and the last second's. */
    cr_assert(strstr(t, "\"breakdown\":{\"status\":{\"2xx\":13,\"5xx\":1},\"errors\":{\"timeout\":1}"), "%s", t);
    cr_assert(strstr(t, "\"status\":{\"2xx\":5},\"error_kinds\":{}"), "%s", t);
    buf_free(&b);
    snap_free(&s);
}

Test(outputs, hgrm_has_the_50_and_90_percent_rows)
{
    hist *h = hist_new();
    for (int i = 1; i <= 1000; i++)
        hist_record(h, (uint64_t)i * 1000); /* 1..1000 us; a row shows the
                                               highest equivalent value */
    buf b = {0};
    cr_assert_eq(ciexport_hgrm(h, &b), 0);
    const char *t = text(&b);
    cr_assert(strstr(t, "       0.501 0.500000000000        500           2.00\n"), "%s", t);
    cr_assert(strstr(t, "       0.901 0.900000000000        900          10.00\n"), "%s", t);
    cr_assert(strstr(t, "       1.000 1.000000000000       1000\n"), "%s", t);
    cr_assert(strstr(t, "Total count    =         1000]"));
    buf_free(&b);
    hist_free(h);
}

Test(outputs, endpoint_seconds_are_live_and_labels_escaped)
{
    snap s;
    snap_init(&s);
    series_row r = {.requests = 7, .errors = 2, .p99_ns = 3000000};
    snap_add_endpoint_second(&s, 0, "a\"b\\c", &r);
    snap_add_endpoint_second(&s, 1, "ok", &r);
    snap_add_endpoint_second(&s, 1, "ok", &r);
    cr_assert_eq(s.neps, 2);
    cr_assert_eq(s.eps[1].requests, 14);
    buf b = {0};
    cr_assert_eq(prom_encode(&s, &b), 0);
    const char *t = text(&b);
    cr_assert(strstr(t, "volley_endpoint_requests_total{endpoint=\"a\\\"b\\\\c\"} 7\n"), "%s", t);
    cr_assert(strstr(t, "volley_endpoint_failed_requests_total{endpoint=\"ok\"} 4\n"), "%s", t);
    buf_free(&b);
    snap_free(&s);
}

/* A loopback port with nothing listening (bound, never listened on). */
static int dead_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(*fd, (struct sockaddr *)&a, len);
    getsockname(*fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

Test(outputs, poster_queue_is_bounded_and_every_point_is_counted)
{
    int fd, port = dead_port(&fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/write", port);
    poster_config pc = {.url = url, .flag = "--out-influx", .method = "POST",
                        .content_type = "text/plain", .max_queued = 2};
    err e = {0};
    poster *p = poster_new(&pc, &e);
    cr_assert_not_null(p, "%s", e.msg);
    for (int i = 0; i < 5; i++)
        poster_send(p, "x", 1, 10); /* the oldest are given up beyond two */
    poster_stats st;
    poster_finish(p, clock_now_ns() + 2 * NS_PER_S, &st); /* time for a few tries */
    cr_assert_eq(st.delivered, 0);
    cr_assert_eq(st.undelivered, 50);
    cr_assert_eq(st.bodies_failed, 5);
    cr_assert(st.retries >= 1);
    cr_assert(strstr(st.last_error, "refused"), "%s", st.last_error);
    close(fd);
}

Test(outputs, poster_refuses_https)
{
    poster_config pc = {.url = "https://127.0.0.1:1/", .flag = "--out-otlp", .method = "POST",
                        .content_type = "application/json", .max_queued = 1};
    err e = {0};
    cr_assert_null(poster_new(&pc, &e));
    cr_assert(strstr(e.msg, "--out-otlp"), "%s", e.msg);
}
