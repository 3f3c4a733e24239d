/* threshold: k6-style pass/fail criteria on a run's statistics, e.g.
 * "p(99)<50ms", "avg<10ms", "rate>=1000", "errors<1%", "ttfb:p(99)<100ms",
 * "endpoint=foo:p(99)<50ms". Parsed before any load is sent (errors name
 * the position), evaluated on results at the end, and on the per-second
 * data while the run goes for --abort-on-fail. */
#ifndef VOLLEY_THRESHOLD_H
#define VOLLEY_THRESHOLD_H

#include "core/err.h"
#include "metrics/hist.h"
#include "metrics/metrics.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    TH_PCT,     /* p(N) */
    TH_AVG,
    TH_MIN,
    TH_MAX,
    TH_MED,
    TH_RATE,    /* achieved requests per second */
    TH_ERRORS,  /* failed requests / requests, as a fraction (see metrics.h) */
    TH_COUNT,   /* requests */
    TH_DROPPED, /* dropped iterations */
} threshold_agg;
typedef enum { TH_LT, TH_LE, TH_GT, TH_GE, TH_EQ, TH_NE } threshold_op;

typedef struct threshold {
    char expr[256];
    char endpoint[64];  /* "" = the whole run */
    metrics_dist metric; /* for time aggregates (default latency) */
    threshold_agg agg;
    double pct;         /* TH_PCT */
    threshold_op op;
    double value;       /* ns for time aggregates, a fraction for errors */
} threshold;

/* Parses expr; errors read "threshold 'EXPR': at position N: ...". */
int threshold_parse(const char *expr, threshold *out, err *e);

/* What a threshold looks at: a run's or an endpoint's numbers. */
typedef struct threshold_input {
    const metrics_totals *tot;
    const hist *dist[METRICS_DIST_COUNT]; /* NULL: not available */
    uint64_t elapsed_ns;
} threshold_input;

/* The actual value (ns, fraction or count) and whether it passes. */
double threshold_actual(const threshold *t, const threshold_input *in);
bool threshold_check(const threshold *t, double actual);

/* True if the threshold can be judged from latency and counts alone (the
 * per-second data available while the run goes). */
bool threshold_live(const threshold *t);

/* Formats the actual value in the threshold's unit ("12.3ms", "0.52%", "1234/s"). */
void threshold_format_actual(const threshold *t, double actual, char *out, unsigned long cap);

#endif
