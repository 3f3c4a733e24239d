/* script_results: the results only scripts have (see script_results.c).
 * jansson stays out of this header: json_t is only forward-declared. */
#ifndef VOLLEY_SCRIPT_RESULTS_H
#define VOLLEY_SCRIPT_RESULTS_H

#include "metrics/hist.h"

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct script_results script_results;
struct lua_plan;
struct json_t;

/* One check (k6 `check`): passes and fails, by name ("group::name" inside
 * groups). */
typedef struct script_check {
    char name[160];
    uint64_t passes, fails;
} script_check;

typedef enum { SMETRIC_COUNTER, SMETRIC_GAUGE, SMETRIC_RATE, SMETRIC_TREND } script_metric_kind;

/* A custom metric (metrics.counter/gauge/rate/trend). Tagged adds also go
 * to a sub-metric named "name{k:v,...}". */
typedef struct script_metric {
    char name[160];
    script_metric_kind kind;
    double sum;          /* counter: total; rate: trues; trend: sum */
    uint64_t count;      /* adds (rate: all samples) */
    double min, max, last; /* gauge: last value and its range */
    hist *h;             /* trend: value * 1e6 (3 significant digits, 0.001..3.6e6) */
} script_metric;

/* Per scenario: iterations, errors and WebSocket numbers. */
typedef struct script_scenario {
    char name[64];
    char executor[32];
    char exec[64];
    uint64_t iterations;      /* completed (with or without error) */
    uint64_t iteration_errors;
    uint64_t dropped;         /* arrival-rate: no free VU */
    hist *iteration_ns;       /* iteration duration */
    uint64_t ws_sessions, ws_errors, ws_msgs_sent, ws_msgs_received;
    hist *ws_connect_ns;      /* TCP connect + handshake */
    hist *ws_session_ns;      /* open to close */
    hist *ws_rtt_ns;          /* send(msg, {rtt=true}) to the next message */
} script_scenario;

typedef struct script_error {
    char msg[300];            /* "flow.lua:12: boom" */
    char where[96];           /* "VU 3, scenario default" (first time seen) */
    uint64_t count;
} script_error;

typedef struct script_threshold {
    char metric[160];         /* key of options.thresholds */
    char expr[200];           /* one of its expressions */
    bool abort_on_fail;
    uint64_t delay_abort_ns;
    bool aborted;             /* failed live: the run was stopped for it */
    double abort_actual;      /* the value that failed it (ms or a rate) */
} script_threshold;

/* The requests of one name (params.name, or the URL without its query):
 * Locust's per-name rows, k6's name tag. */
typedef struct script_name {
    char name[160];
    uint64_t requests, failures; /* failures: no response, or a status >= 400 */
    uint64_t bytes_in;
    hist *latency;            /* ns, from the call */
    hist *ttfb;               /* ns */
} script_name;

/* Names beyond this many fold into "other" (k6#2762: unbounded URLs). */
#define SCRIPT_MAX_NAMES 200

/* setup() or teardown(data): run once, apart from the scenarios. */
typedef struct script_phase {
    bool ran;
    uint64_t requests, errors; /* its HTTP requests (not in the run's totals) */
    double duration_ms;
    char error[300];          /* what it raised, "" if it ended well */
} script_phase;

struct script_results {
    char path[4096];
    script_phase setup, teardown;
    script_name *names;
    size_t nnames;
    bool names_folded;        /* some went to "other" */
    uint64_t seed;            /* the run's --seed: rand(), uuid(), math.random */
    bool handle_summary;      /* the script defines handle_summary(data) */
    char hook_error[512];     /* an end-of-run hook failed (wrk's done): exit 1 */
    script_scenario *sc;
    size_t nsc;
    script_check *checks;
    size_t nchecks;
    script_metric *metrics;
    size_t nmetrics;
    script_error *errors;     /* distinct messages, at most SCRIPT_MAX_ERRORS */
    size_t nerrors;
    uint64_t errors_other;    /* errors whose message did not fit the list */
    script_threshold *thresholds;
    size_t nthresholds;
};

#define SCRIPT_MAX_ERRORS 20

void script_results_free(script_results *r);

/* Adds "script": {...} to a results.json root object (docs/scripting.md). */
int script_results_json(const script_results *r, struct json_t *root);

/* Merge helpers for workers (lua_worker): find-or-add by name. */
script_check *script_results_check(script_results *r, const char *name);
script_metric *script_results_metric(script_results *r, const char *name, script_metric_kind k);
void script_results_error(script_results *r, const char *msg, const char *where, uint64_t n);
/* The stats of name (created; past SCRIPT_MAX_NAMES, "other"); NULL: no memory. */
script_name *script_results_name(script_results *r, const char *name);
/* A results block with the scenarios of the plan (names, histograms). */
script_results *script_results_new(const char *path, const struct lua_plan *p);
/* dst += src (same scenarios). Returns 0 or VOLLEY_ENOMEM. */
int script_results_merge(script_results *dst, const script_results *src);

#endif
