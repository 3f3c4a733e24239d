/* Tests for metrics/series and the per-second interval it is built from:
 * the breakdown columns (status classes, error kinds) name the fields they
 * fill, and one shard's interval counts responses by class, errors by kind
 * and send lag in the second they happened. */
#include "metrics/metrics.h"
#include "metrics/series.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(series, breakdown_columns_name_classes_then_error_kinds)
{
    cr_assert_str_eq(series_breakdown_name(0), "status_other");
    for (int c = 1; c < METRICS_STATUS_CLASSES; c++) {
        char want[32];
        snprintf(want, sizeof want, "status_%dxx", c);
        cr_assert_str_eq(series_breakdown_name((size_t)c), want);
    }
    for (int k = 0; k < ERRK_COUNT; k++) {
        char want[64];
        snprintf(want, sizeof want, "errors_%s", metrics_err_kind_name((err_kind)k));
        cr_assert_str_eq(series_breakdown_name(METRICS_STATUS_CLASSES + (size_t)k), want);
        cr_assert_eq(series_breakdown_find(want), METRICS_STATUS_CLASSES + k);
    }
    cr_assert_null(series_breakdown_name(SERIES_NBREAKDOWN));
    cr_assert_eq(series_breakdown_find("status_6xx"), -1);
}

Test(series, breakdown_fields_are_the_rows_counts)
{
    series_row r = {0};
    *series_breakdown_field(&r, 4) = 7;
    *series_breakdown_field(&r, METRICS_STATUS_CLASSES + ERRK_TIMEOUT) = 3;
    cr_assert_eq(r.status_class[4], 7);
    cr_assert_eq(r.err_kind[ERRK_TIMEOUT], 3);
    cr_assert_null(series_breakdown_field(&r, SERIES_NBREAKDOWN));
}

Test(series, interval_counts_status_classes_error_kinds_and_send_lag)
{
    metrics_shard *s = metrics_shard_new();
    cr_assert_not_null(s);
    metrics_record_response(s, &(metrics_sample){.status = 200, .latency_ns = 1000});
    metrics_record_response(s, &(metrics_sample){.status = 503, .latency_ns = 1000});
    metrics_record_response(s, &(metrics_sample){.status = 503, .latency_ns = 1000});
    metrics_record_error(s, ERRK_RESET, 0, 0);
    metrics_record_send_lag(s, 5 * 1000 * 1000);
    metrics_record_retry(s);
    metrics_close_interval(s);
    metrics_record_retry(s);
    metrics_record_response(s, &(metrics_sample){.status = 404, .latency_ns = 1000});
    const metrics_interval *iv = metrics_interval_get(s, 0);
    cr_assert_eq(iv->status_class[2], 1);
    cr_assert_eq(iv->status_class[5], 2);
    cr_assert_eq(iv->status_class[4], 0, "the 404 is in the next second");
    cr_assert_eq(iv->err_kind[ERRK_RESET], 1);
    cr_assert_eq(iv->retries, 1, "a retry is counted in its second");
    cr_assert_eq(metrics_interval_get(s, 1)->retries, 1);
    cr_assert_eq(s->tot.retries, 2, "and in the totals");
    cr_assert_eq(hist_count(iv->send_lag), 1);
    cr_assert_eq(hist_count(s->send_lag), 1, "the run's send lag too");
    cr_assert_eq(metrics_interval_get(s, 1)->status_class[4], 1);
    cr_assert_eq(hist_count(metrics_interval_get(s, 1)->send_lag), 0);
    metrics_shard_free(s);
}

/* A reserved series takes its rows without moving (no doubling copies over
 * a run of known length), keeps the rows it had, and still grows past the
 * reservation. */
Test(series, reserve_holds_the_rows_in_one_block)
{
    series s;
    series_init(&s);
    series_row row = {.second = 0, .requests = 7};
    cr_assert_eq(series_append(&s, &row), 0);
    cr_assert_eq(series_reserve(&s, 603), 0);
    cr_assert_geq(s.cap, 603);
    const series_row *block = s.rows;
    for (uint32_t i = 1; i < 603; i++) {
        row.second = i;
        row.requests = i;
        cr_assert_eq(series_append(&s, &row), 0);
    }
    cr_assert_eq(s.rows, block, "the rows moved inside the reservation");
    cr_assert_eq(s.rows[0].requests, 7);
    cr_assert_eq(s.rows[602].second, 602);
    cr_assert_eq(series_reserve(&s, 10), 0); /* smaller: nothing changes */
    cr_assert_eq(s.cap, 603);
    row.second = 603;
    cr_assert_eq(series_append(&s, &row), 0);
    cr_assert_eq(s.len, 604);
    cr_assert_eq(s.rows[603].second, 603);
    series_free(&s);
}
