/* compare: what got better or worse between two runs (volley compare,
 * volley run --baseline). Per endpoint (by name) and for the whole run,
 * each metric's base and new values, the change, and a verdict that
 * accounts for noise: the per-second values of both runs are compared with
 * a Mann-Whitney U test, and a change is called better or worse only when
 * it is both significant (p < 0.01; with too few seconds for that to be
 * possible, the two sets must not overlap) and larger than 10 %. */
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
    int samples_base, samples_cur;
    bool separated;     /* every per-second value of one run beyond the other's */
    double min_p;       /* the smallest p the test could give with these samples */
    cmp_verdict verdict;
} cmp_row;

typedef struct cmp_report {
    cmp_row *rows;
    size_t n;
} cmp_report;

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

/* Mann-Whitney U two-sided p-value (normal approximation with ties). */
double compare_mann_whitney(const double *a, size_t na, const double *b, size_t nb);

#endif
