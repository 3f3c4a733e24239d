/* k6thr: a script's thresholds in k6's grammar (options.thresholds), checked
 * before any load and judged at the end on every metric volley measures:
 * the built-in http_*, iteration, data_*, ws_* and checks metrics, custom
 * Trend/Counter/Rate/Gauge metrics, and tag-filtered sub-metrics
 * ({scenario:NAME}, {status:CODE} on http_reqs, {group:::G} on checks, a
 * custom metric's own tags). A malformed expression, an unknown metric, or
 * an aggregation the metric does not have is an error before the load; a
 * metric that got no samples fails ("no data"). */
#ifndef VOLLEY_K6THR_H
#define VOLLEY_K6THR_H

#include "core/err.h"
#include "results/results.h"
#include "script/script_results.h"

#include <stdbool.h>
#include <stddef.h>

#define K6THR_MAX_TAGS 4

typedef enum { K6_TREND, K6_COUNTER, K6_RATE, K6_GAUGE } k6thr_type;

typedef struct k6thr {
    char key[160];           /* as written: "http_req_duration{scenario:api}" */
    char expr[200];          /* as written: "p(95)<200" */
    char metric[96];         /* the base metric */
    char tag_k[K6THR_MAX_TAGS][48], tag_v[K6THR_MAX_TAGS][64];
    size_t ntags;
    k6thr_type type;
    char agg[8];             /* avg min max med p count rate value */
    double pct;              /* p(pct) */
    char op[3];              /* < <= > >= == != */
    double value;            /* the bound, in the metric's unit (ms for time) */
    bool time;               /* a built-in time metric: values in ms */
} k6thr;

/* What the check sees of the script's custom metrics (declared at its top
 * level) - name and kind. */
typedef struct k6thr_custom {
    const char *name;
    script_metric_kind kind;
} k6thr_custom;

/* Parses one threshold (key of options.thresholds, one expression) and
 * checks it against the metrics a run can have. Errors name the threshold,
 * what is wrong and, for an unknown metric, the nearest known name. */
int k6thr_parse(const char *key, const char *expr, const k6thr_custom *custom, size_t ncustom,
                k6thr *out, err *e);

/* Judges t on a finished run. Returns true when it passes; *actual is the
 * measured value (ms for time), and *no_data is set when the metric got no
 * samples (then it fails). */
bool k6thr_eval(const k6thr *t, const script_results *sr, const results *r, double *actual,
                bool *no_data);

/* Whether t can be judged each second, on the engine's per-second rows:
 * http_req_duration, http_req_failed and http_reqs, without tag filters. */
bool k6thr_live(const k6thr *t);
/* t on the run so far: latency (ns) of every request, requests, failures,
 * seconds. Returns true when it passes; *actual as in k6thr_eval. */
bool k6thr_eval_live(const k6thr *t, const hist *latency, uint64_t requests, uint64_t errors,
                     uint64_t seconds, double *actual);

#endif
