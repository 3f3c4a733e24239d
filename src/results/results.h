/* results: what a run produced, in memory: the plan it ran, exact totals,
 * merged histograms and the per-second series. Built by the engine, written
 * by results_json, read back (later) for reports and comparisons. */
#ifndef VOLLEY_RESULTS_H
#define VOLLEY_RESULTS_H

#include "metrics/hist.h"
#include "metrics/metrics.h"
#include "metrics/series.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct results_plan {
    char url[4200];
    char method[32];
    char executor[32];
    uint32_t connections;
    uint32_t threads;
    uint64_t duration_ns;
    uint64_t requests;     /* -n, 0 = none */
    uint64_t timeout_ns;
    uint64_t connect_timeout_ns;
    bool keepalive;
    uint64_t body_bytes;
    uint32_t nheaders;
} results_plan;

typedef struct results {
    results_plan plan;
    uint64_t start_wall_ns, end_wall_ns;
    uint64_t elapsed_ns;   /* start of load to the last outcome */
    bool interrupted;      /* stopped by a signal */
    metrics_totals tot;
    hist *latency, *service, *ttfb, *connect;
    series sec;
    uint64_t series_overruns;
    char warning[256];     /* a condition the user must know (e.g. out of fds) */
} results;

/* Allocates the histograms. Returns 0 or VOLLEY_ENOMEM. */
int results_init(results *r);
void results_free(results *r);

/* Achieved requests (outcomes) per second over elapsed_ns. */
double results_rps(const results *r);

#endif
