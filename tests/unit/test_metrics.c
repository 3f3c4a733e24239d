/* Tests for metrics/metrics: which responses fail (--ok-status parsing and
 * the decision where a response is recorded), timeouts kept in latency as a
 * lower bound with latency_ok apart, the distribution table, the threshold
 * metrics it names, and 64-bit byte counts in raw request records. */
#include "load/worker.h"
#include "metrics/metrics.h"
#include "metrics/threshold.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(metrics, status_set_parses_lists_and_ranges)
{
    metrics_status_set s;
    err e = {0};
    cr_assert_eq(metrics_status_set_parse(&s, "200-299,404", "--ok-status", &e), 0, "%s", e.msg);
    cr_assert(metrics_status_ok(&s, 200));
    cr_assert(metrics_status_ok(&s, 299));
    cr_assert(metrics_status_ok(&s, 404));
    cr_assert(!metrics_status_ok(&s, 300));
    cr_assert(!metrics_status_ok(&s, 500));
    cr_assert(!metrics_status_ok(&s, 0), "no status (a transport error) is never ok");
    /* NULL is the default, k6's 200-399. */
    cr_assert(metrics_status_ok(NULL, 399));
    cr_assert(!metrics_status_ok(NULL, 400));
    cr_assert(!metrics_status_ok(NULL, 199));
}

Test(metrics, status_set_refuses_bad_lists_naming_the_flag)
{
    static const char *bad[] = {"", "abc", "99", "600", "300-200", "200-", "2OO", ",", "200-299,x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        metrics_status_set s;
        err e = {0};
        cr_assert_neq(metrics_status_set_parse(&s, bad[i], "--ok-status", &e), 0, "'%s'", bad[i]);
        cr_assert(strstr(e.msg, "--ok-status"), "'%s': %s", bad[i], e.msg);
    }
}

static metrics_sample sample(int status, uint64_t latency_ns)
{
    return (metrics_sample){.status = status, .latency_ns = latency_ns, .service_ns = latency_ns,
                            .ttfb_ns = latency_ns, .bytes_in = 10, .bytes_out = 5};
}

Test(metrics, unexpected_status_is_a_failure_not_a_transport_error)
{
    metrics_shard *s = metrics_shard_new();
    cr_assert_not_null(s);
    metrics_sample a = sample(200, 1000000), b = sample(500, 2000000), c = sample(404, 3000000);
    metrics_record_response(s, &a);
    metrics_record_response(s, &b);
    metrics_record_response(s, &c);
    metrics_record_error(s, ERRK_RESET, 0, 5);
    cr_assert_eq(s->tot.requests, 4);
    cr_assert_eq(s->tot.responses, 3);
    cr_assert_eq(s->tot.errors, 3, "500, 404 and the reset fail");
    cr_assert_eq(s->tot.transport_errors, 1);
    const metrics_interval *iv = metrics_cur(s);
    cr_assert_eq(iv->errors, 3);
    cr_assert_eq(iv->transport_errors, 1);
    cr_assert_eq(hist_count(s->dist[METRICS_DIST_LATENCY_OK]), 1);
    cr_assert_eq(hist_count(s->latency), 3);
    metrics_shard_free(s);
}

Test(metrics, ok_status_set_on_the_shard_decides)
{
    metrics_shard *s = metrics_shard_new();
    metrics_status_set ok;
    err e = {0};
    cr_assert_eq(metrics_status_set_parse(&ok, "500", "--ok-status", &e), 0);
    s->ok = &ok;
    metrics_sample a = sample(500, 1000), b = sample(200, 1000);
    metrics_record_response(s, &a);
    metrics_record_response(s, &b);
    cr_assert_eq(s->tot.errors, 1, "only the 200 is unexpected");
    metrics_shard_free(s);
}

Test(metrics, timeout_is_in_latency_at_its_timeout_and_not_in_latency_ok)
{
    metrics_shard *s = metrics_shard_new();
    metrics_sample a = sample(200, 5000000);
    metrics_record_response(s, &a);
    metrics_record_failure(s, ERRK_TIMEOUT, 300000000, 0, 5);
    metrics_record_failure(s, ERRK_RESET, 7000000, 0, 5);
    cr_assert_eq(hist_count(s->latency), 2, "the response and the timeout, not the reset");
    cr_assert_geq(hist_max(s->latency), 299000000);
    cr_assert_eq(hist_count(metrics_cur(s)->latency), 2);
    cr_assert_eq(hist_count(s->dist[METRICS_DIST_LATENCY_OK]), 1);
    cr_assert_lt(hist_max(s->dist[METRICS_DIST_LATENCY_OK]), 6000000);
    cr_assert_eq(s->tot.errors, 2);
    cr_assert_eq(s->tot.err_kind[ERRK_TIMEOUT], 1);
    metrics_shard_free(s);
}

Test(metrics, distribution_table_names_are_unique_and_aliases_line_up)
{
    for (int i = 0; i < METRICS_DIST_COUNT; i++) {
        cr_assert_not_null(metrics_dists[i].name);
        cr_assert_not_null(metrics_dists[i].json);
        cr_assert_eq(metrics_dist_from_name(metrics_dists[i].name, strlen(metrics_dists[i].name)),
                     i);
        for (int k = 0; k < i; k++) {
            cr_assert_str_neq(metrics_dists[i].json, metrics_dists[k].json);
            cr_assert_str_neq(metrics_dists[i].name, metrics_dists[k].name);
        }
    }
    metrics_shard *s = metrics_shard_new();
    cr_assert_eq(s->ttfb, s->dist[METRICS_DIST_TTFB]);
    cr_assert_eq(s->send_lag, s->dist[METRICS_DIST_SEND_LAG]);
    cr_assert_eq(s->tls_handshake, s->dist[METRICS_DIST_TLS_HANDSHAKE]);
    metrics_shard_free(s);
}

Test(metrics, every_distribution_is_a_threshold_metric)
{
    for (int i = 0; i < METRICS_DIST_COUNT; i++) {
        char expr[64];
        snprintf(expr, sizeof expr, "%s:p(99)<50ms", metrics_dists[i].name);
        threshold t;
        err e = {0};
        cr_assert_eq(threshold_parse(expr, &t, &e), 0, "%s: %s", expr, e.msg);
        cr_assert_eq(t.metric, (metrics_dist)i);
    }
    threshold t;
    err e = {0};
    cr_assert_neq(threshold_parse("nope:p(99)<50ms", &t, &e), 0);
    cr_assert(strstr(e.msg, "latency_ok"), "the error lists the metrics: %s", e.msg);
}

Test(metrics, errors_threshold_counts_failed_requests)
{
    metrics_totals tot = {.requests = 100, .responses = 100, .errors = 40, .transport_errors = 0};
    threshold t;
    err e = {0};
    cr_assert_eq(threshold_parse("errors<1%", &t, &e), 0);
    threshold_input in = {.tot = &tot, .elapsed_ns = 1000000000};
    cr_assert_float_eq(threshold_actual(&t, &in), 0.4, 1e-9);
    cr_assert(!threshold_check(&t, threshold_actual(&t, &in)));
}

Test(metrics, raw_records_hold_bodies_over_4gb)
{
    volatile uint64_t big = 5000000000ull; /* a 5 GB body */
    worker_raw r = {.bytes_in = big, .bytes_out = big + 1};
    cr_assert_eq(r.bytes_in, 5000000000ull);
    cr_assert_eq(r.bytes_out, 5000000001ull);
}

Test(metrics, ws_counts_per_second_and_open_sockets_carry_over)
{
    metrics_shard *s = metrics_shard_new();
    cr_assert_not_null(s);
    metrics_record_ws(s, METRICS_WS_OPENED);
    metrics_record_ws(s, METRICS_WS_OPENED);
    metrics_record_ws(s, METRICS_WS_SENT);
    metrics_record_ws(s, METRICS_WS_RECEIVED);
    metrics_record_ws_rtt(s, 2000000);
    metrics_close_interval(s);
    const metrics_interval *a = metrics_interval_get(s, 0);
    cr_assert_eq(a->ws_opened, 2);
    cr_assert_eq(a->ws_sent, 1);
    cr_assert_eq(a->ws_received, 1);
    cr_assert_eq(a->ws_rtts, 1);
    cr_assert_eq(hist_count(a->ws_rtt), 1);
    cr_assert_eq(a->ws_open, 2);
    /* a quiet second still has the sockets open; then one ends */
    cr_assert_eq(metrics_interval_get(s, 1)->ws_open, 2);
    cr_assert_eq(metrics_interval_get(s, 1)->ws_opened, 0);
    metrics_record_ws(s, METRICS_WS_CLOSED);
    metrics_close_interval(s);
    const metrics_interval *b = metrics_interval_get(s, 1);
    cr_assert_eq(b->ws_closed, 1);
    cr_assert_eq(b->ws_open, 1);
    cr_assert_eq(b->ws_rtts, 0);
    metrics_shard_free(s);
}

Test(metrics, a_second_is_cleared_once_main_has_read_it)
{
    metrics_shard *s = metrics_shard_new();
    cr_assert_not_null(s);
    metrics_sample m = {.status = 200, .latency_ns = 1500000000, .service_ns = 1000,
                        .ttfb_ns = 1000};
    metrics_record_response(s, &m); /* second 0: a stall's 1.5 s */
    metrics_close_interval(s);
    metrics_record_response(s, &m); /* second 1 */
    metrics_close_interval(s);
    cr_assert_eq(hist_count(metrics_interval_get(s, 0)->latency), 1);
    /* Main reads second 0 only; at the next close the worker clears its
     * slot (and gives back its pages), long before the ring comes round. */
    metrics_interval_release(s, 0);
    metrics_close_interval(s);
    const metrics_interval *a = metrics_interval_get(s, 0), *b = metrics_interval_get(s, 1);
    cr_assert_eq(hist_count(a->latency), 0);
    cr_assert_eq(hist_bucket_count(a->latency, hist_bucket_of(1500000000)), 0);
    cr_assert_eq(a->requests + a->responses + a->status_class[2], 0);
    /* Second 1 is not read yet: it is kept whole. */
    cr_assert_eq(hist_count(b->latency), 1);
    cr_assert_eq(b->requests, 1);
    cr_assert_eq(s->tot.requests, 2);
    metrics_shard_free(s);
}
