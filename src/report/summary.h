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

/* The plan in one line, without a dangling comma: "constant-vus: 5 VUs,
 * 1 thread, 10m" (scripts count VUs, URL runs connections; each part only
 * when it applies). For the summary and report.html's header. */
void summary_plan_text(const results *r, char *out, size_t cap);

/* A script's own results (r->script): scenarios and iterations, requests
 * by name, checks (by group), custom metrics with their units, WebSocket
 * numbers, iteration errors. Nothing when the run was not a script. */
void summary_script_print(FILE *f, const results *r);

/* A threshold's value as shown: its actual_text, or for a custom metric
 * with a unit in its name the value with that unit ("12.50ms"). */
void summary_threshold_value(const results *r, const results_threshold *t, char *out,
                             size_t cap);

/* A custom metric's numbers with its unit, by type ("avg 12.5ms  med ..."). */
void summary_metric_text(const rs_metric *m, char *out, size_t cap);

/* Whether distribution d of st is shown (summary and report), by its
 * `shown` policy in metrics.h; open: the run used the open model. */
bool summary_dist_shown(const results_stats *st, metrics_dist d, bool open);

/* The width of a column of endpoint names: the longest name, at least
 * least characters (tables widen instead of cutting names). */
int summary_name_width(const results_endpoint *eps, size_t n, int least);

/* Formats bytes as "12.3 MB" (powers of 1000) into out. */
void summary_format_bytes(double bytes, char *out, unsigned long cap);

#endif
