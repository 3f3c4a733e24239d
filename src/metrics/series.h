/* series: the per-second time series of a run, kept by the main thread.
 * Each row summarises one second of the run (second k covers
 * [start + k s, start + (k+1) s)). Workers never touch it: the engine builds
 * each row by merging the workers' finished interval shards. */
#ifndef VOLLEY_SERIES_H
#define VOLLEY_SERIES_H

#include "metrics/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct series_row {
    uint32_t second;      /* index from the start of the run */
    uint64_t requests;    /* completed requests (responses + transport errors) */
    uint64_t responses;
    uint64_t errors;      /* failed: transport errors + unexpected statuses */
    uint64_t transport_errors;
    uint64_t bytes_in, bytes_out;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
    double mean_ns;
    double target_rps;    /* open model: the schedule's rate; 0 otherwise */
    uint32_t active;      /* connections / VUs active at the end of the second */
    uint64_t dropped;     /* open model: iterations dropped in this second */
    uint64_t retries;     /* requests sent again in this second (stale connection) */
    /* responses by status class (0: other, 1..5: 1xx..5xx) and transport
     * errors by kind: each sums to responses / transport_errors */
    uint64_t status_class[METRICS_STATUS_CLASSES];
    uint64_t err_kind[ERRK_COUNT];
    uint64_t send_lag_p99_ns; /* open model: first byte written - scheduled time */
    double cpu_pct;       /* the generator's CPU in this second (100 = one core);
                             the run's row only, 0 in endpoint rows */
    /* WebSocket (scripts): sessions opened and ended, messages sent and
     * received, round trips (count, p50, p99) in this second; ws_open the
     * sockets open at its end. The counts add up to the script's totals. */
    uint64_t ws_opened, ws_closed, ws_sent, ws_received, ws_open;
    uint64_t ws_rtts, ws_rtt_p50_ns, ws_rtt_p99_ns;
} series_row;

typedef struct series {
    series_row *rows;
    size_t len, cap;
} series;

void series_init(series *s);
void series_free(series *s);
/* Makes room for rows rows in all, in one block (untouched until written:
 * a large one is mapped on demand), so that a run of known length does not
 * grow its series by doubling, each step leaving the old block behind in
 * the heap. 0 or VOLLEY_ENOMEM. */
int series_reserve(series *s, size_t rows);
/* Appends a copy of row; returns 0 or VOLLEY_ENOMEM. */
int series_append(series *s, const series_row *row);
const series_row *series_last(const series *s);
/* Whether a row of s has a WebSocket figure (results.json and the reports
 * show the ws_* columns only then). */
bool series_has_ws(const series *s);

/* The breakdown columns of a row, in results.json's order: "status_other",
 * "status_1xx".."status_5xx", then "errors_<kind>" for each error kind. */
#define SERIES_NBREAKDOWN (METRICS_STATUS_CLASSES + ERRK_COUNT)
const char *series_breakdown_name(size_t i);
/* The field of row r that breakdown column i names. */
uint64_t *series_breakdown_field(series_row *r, size_t i);
/* Column i of a name; -1 if it is not a breakdown column. */
int series_breakdown_find(const char *name);

#endif
