/* chart: the standard figures of a results struct, drawn with the chart
 * model of chart_plot.h (included here, so users of the figures need only
 * this header). */
#ifndef VOLLEY_CHART_H
#define VOLLEY_CHART_H

#include "core/err.h"
#include "report/chart_plot.h"
#include "report/scatter.h"
#include "results/results.h"

#include <stddef.h>

/* The standard charts of a results struct, each a figure with a file stem
 * ("latency", "throughput", ...) and a caption. */
typedef struct chart_item {
    char stem[96];
    char caption[200];
    chart_fig *fig;
} chart_item;

typedef struct chart_set {
    chart_item *items;
    size_t n;
} chart_set;

/* Streamed: the first body byte came well before the response ended (p50
 * first body under half the p50 service time, and CHART_STREAMED_MIN_NS
 * before it). Compared with service time, not latency, which also holds
 * queueing before the request was sent. */
#define CHART_STREAMED_MIN_NS 1000000ull
bool chart_streamed(const results_stats *st);

/* Builds: latency (p50/p90/p99 per endpoint over time), throughput
 * (requests/s and error rate over time), status (status and error counts
 * per endpoint), spectrum (HDR percentile spectrum per endpoint), ttfb (TTFB
 * and first body byte beside service time, p50/p99 per endpoint), sweep (achieved rps, p99 and
 * success vs target rate; only with steps), and route-NAME per endpoint
 * (status-coloured latency scatter from the reduced requests.csv, error
 * rate over time, status counts). sc may be NULL (no requests.csv): the
 * route views then draw percentiles over time instead of the scatter. */
int chart_build_all(const results *r, const scatter *sc, chart_set *out, err *e);
void chart_set_free(chart_set *s);

#endif
