/* term: the txt report for a terminal: the console summary (report/summary)
 * followed by per-endpoint and per-step tables and small Unicode charts
 * (sparklines of requests/s and p99 per second, bars of statuses). */
#ifndef VOLLEY_TERM_H
#define VOLLEY_TERM_H

#include "results/results.h"

#include <stddef.h>
#include <stdio.h>

/* Width of a sparkline in characters (longer runs are bucketed). */
#define TERM_SPARK_WIDTH 60

void term_print(FILE *f, const results *r);

/* Writes the sparkline of v[0..n) (NaN = no value, a blank) into out
 * (UTF-8, at most width cells, up to 3 bytes each, NUL-terminated). Values
 * are bucketed to width cells by the mean (use_max: the maximum). Scale is
 * 0..max(v). */
void term_sparkline(const double *v, size_t n, size_t width, int use_max, char *out,
                    size_t cap);

#endif
