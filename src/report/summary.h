/* summary: the end-of-run console summary, like k6's and wrk's combined:
 * plan line, totals and rates, latency / service time / TTFB / connect
 * percentiles, and status and error tables. Made only from results, so
 * `volley report` can print it again later. */
#ifndef VOLLEY_SUMMARY_H
#define VOLLEY_SUMMARY_H

#include "results/results.h"

#include <stdbool.h>
#include <stdio.h>

void summary_print(FILE *f, const results *r);
/* wrk's --latency block: "Latency Distribution" and the 50/75/90/99 %
 * latencies of the run, in wrk's units (us, ms, s). */
void summary_print_latency_dist(FILE *f, const results *r);

/* Whether distribution d of st is shown (summary and report), by its
 * `shown` policy in metrics.h; open: the run used the open model. */
bool summary_dist_shown(const results_stats *st, metrics_dist d, bool open);

/* Formats bytes as "12.3 MB" (powers of 1000) into out. */
void summary_format_bytes(double bytes, char *out, unsigned long cap);

#endif
