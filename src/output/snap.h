/* snap: what the live outputs show, one snapshot of the run so far. Built
 * on the main thread from the engine's per-second hand-off (series rows and
 * the latency histogram of each second) and, at the end, from the exact
 * results; every output encoder (prom, influx, otlp, dashboard, tui) reads
 * only this, so none of them touches the load or changes its numbers. */
#ifndef VOLLEY_SNAP_H
#define VOLLEY_SNAP_H

#include "metrics/hist.h"
#include "metrics/metrics.h"
#include "metrics/series.h"
#include "results/results.h"

#include <stdbool.h>
#include <stdint.h>

#define SNAP_STATUS_CLASSES METRICS_STATUS_CLASSES /* 0: other, 1..5: 1xx..5xx */
#define SNAP_MAX_EPS 64

typedef struct snap_endpoint {
    char name[64];
    uint64_t requests, responses, errors;
    uint64_t p50_ns, p99_ns;
    double rps;
} snap_endpoint;

typedef struct snap_threshold {
    char expr[256];
    bool ok;
    const char *state;     /* "pending", "passing"/"failing" (live), "ok"/"failed" */
    char actual[32];
} snap_threshold;

typedef struct snap {
    bool final;            /* built from the results: exact and complete */
    uint32_t seconds;      /* whole seconds collected */
    uint64_t wall_ns;      /* wall clock of the snapshot (for timestamps) */
    uint64_t requests, responses, errors, bytes_in, bytes_out, dropped;
    /* By status class and error kind: summed from the seconds while the
     * run goes (the rows carry them), exact from the results at the end. */
    bool have_breakdown;
    uint64_t status_class[SNAP_STATUS_CLASSES];
    uint64_t err_kind[ERRK_COUNT];
    uint64_t retries;      /* requests sent again after a stale connection */
    hist *latency;         /* cumulative, owned */
    bool have_last;
    series_row last;       /* the last whole second */
    double rps;            /* live: the last second's; final: the run's */
    uint32_t active;       /* connections / VUs */
    double target_rps;
    double cpu_s;          /* generator CPU seconds (user + sys) */
    uint64_t send_lag_p99_ns; /* open model: the last second's; final: the run's */
    snap_endpoint eps[SNAP_MAX_EPS]; /* live: summed seconds, rps and
                                        percentiles of the last second */
    size_t neps;
    snap_threshold *th;    /* owned; live where a threshold can be judged live */
    size_t nth;
    char report[512];      /* path of results.json when saved */
    bool report_served;    /* the dashboard serves the HTML report at /report */
} snap;

int snap_init(snap *s);
void snap_free(snap *s);
/* Adds one second of the run (the engine's row and latency histogram). */
void snap_add_second(snap *s, const series_row *row, const hist *latency, double cpu_s);
/* Adds one second of endpoint ep (the first SNAP_MAX_EPS are kept). */
void snap_add_endpoint_second(snap *s, uint32_t ep, const char *name, const series_row *row);
struct threshold;
/* Lists the run's thresholds as pending. Returns 0 or VOLLEY_ENOMEM. */
int snap_set_thresholds(snap *s, const struct threshold *t, size_t n);
/* Judges the whole-run thresholds that can be judged live on the seconds
 * so far (as --abort-on-fail does); the others stay pending. */
void snap_judge_thresholds(snap *s, const struct threshold *t, size_t n);
/* Replaces everything by the run's exact results. */
int snap_set_final(snap *s, const results *r, double cpu_s);
/* Generator CPU seconds of this process so far. */
double snap_cpu_seconds(void);
/* "2xx"... for class 1..5, "other" for 0. */
const char *snap_status_class_name(int cls);

#endif
