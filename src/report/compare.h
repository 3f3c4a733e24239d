/* compare: what got better or worse between two runs (volley compare,
 * volley run --baseline). Per endpoint (by name) and for the whole run,
 * each metric's base and new values, the change, and a verdict that
 * accounts for noise. Each whole-run value (from the exact histograms) gets
 * a standard error: the larger of its sampling error over all requests
 * (rank interval for percentiles) and the spread of the run's per-second
 * values (the allowance for correlated neighbouring requests; runs under 3
 * full seconds double the sampling error instead). A t test of the
 * difference (per-second variance pooled over both runs) gives p; when the
 * spread is the larger error, the means of the per-second values must differ
 * significantly too; a change is better or worse only when p < 0.01 and it
 * is at least 10 % (error rates: a pooled two-proportion test scaled by the
 * per-second dispersion, and at least 0.1 percentage points). */
#ifndef VOLLEY_COMPARE_H
#define VOLLEY_COMPARE_H

#include "core/buf.h"
#include "core/err.h"
#include "results/results.h"

#include <stdbool.h>
#include <stdio.h>

typedef enum { CMP_SAME, CMP_BETTER, CMP_WORSE } cmp_verdict;

typedef struct cmp_row {
    char endpoint[64];  /* "total" for the whole run */
    char metric[16];    /* rps, mean, p50, p90, p99, errors */
    double base, cur;   /* ms for latencies, req/s, fraction for errors */
    double pct;         /* (cur - base) / base * 100; 0 when base is 0 */
    double p_value;     /* of the noise test; 1 when not computable */
    int samples_base, samples_cur;  /* requests */
    int seconds_base, seconds_cur;  /* per-second values used for the spread */
    double se_base, se_cur;         /* standard errors, in the row's unit */
    double df;          /* of the t test; CMP_DF_LARGE: normal */
    double ci;          /* half-width of the 99 % interval of the change: % of
                           base, percentage points for errors */
    cmp_verdict verdict;
    bool host;          /* a latency change the generator's own lateness
                           (send lag) accounts for: held at "same" */
} cmp_row;

typedef struct cmp_report {
    cmp_row *rows;
    size_t n;
    char plan_diff[600]; /* how the two plans differ ("" when they match) */
    char host_diff[200]; /* how the generator's own lateness differed ("" when
                            it did not matter) */
    char base_plan[400], cur_plan[400]; /* each run's plan in one line */
} cmp_report;

/* How the plans of a and b differ, in words ("executor constant-vus vs
 * constant-arrival-rate; connections 10 vs 20"), into out ("" when they
 * match: executor, mode, connections, threads, duration, rate, stages,
 * requests, pipeline, keep-alive, body, endpoints). Returns the count. */
int compare_plan_diff(const results *a, const results *b, char *out, size_t cap);

int compare_results(const results *base, const results *cur, cmp_report *out, err *e);
void compare_free(cmp_report *c);

const char *compare_verdict_name(cmp_verdict v);

void compare_print(FILE *f, const cmp_report *c, const char *base_name, const char *cur_name);
/* Appends a JSON document to out. */
int compare_json(const cmp_report *c, const char *base_name, const char *cur_name, buf *out,
                 err *e);
/* A self-contained HTML page: the table and the two runs' charts overlaid. */
int compare_html(const results *base, const results *cur, const cmp_report *c,
                 const char *base_name, const char *cur_name, const char *path, err *e);

/* --fail-if 'p(99)>+10%', 'rps<-5%', 'errors>+1%', 'mean>+20%': a change of
 * the whole run's metric beyond the limit fails the gate. */
typedef struct cmp_gate {
    char expr[64];
    char metric[16];
    bool increase;      /* '>' : fails when it grows more than pct */
    double pct;
} cmp_gate;

int compare_gate_parse(const char *s, cmp_gate *g, err *e);
/* True if the gate fails; why gets a sentence. */
bool compare_gate_fails(const cmp_gate *g, const cmp_report *c, char *why, size_t cap);

/* Degrees of freedom taken as infinite (the normal distribution). */
#define CMP_DF_LARGE 1e6

/* Two-sided p of Student's t with df degrees of freedom. */
double compare_t_p(double t, double df);

/* Mann-Whitney U two-sided p-value (normal approximation with ties). */
double compare_mann_whitney(const double *a, size_t na, const double *b, size_t nb);

#endif
