/* ciexport: a results file in formats other tools read: JUnit XML (one
 * test case per threshold, for CI systems), HdrHistogram's percentile
 * distribution text (.hgrm, for its plotter) and the Prometheus text format
 * of the final numbers. Used by `volley report --format junit,hgrm,prom`. */
#ifndef VOLLEY_CIEXPORT_H
#define VOLLEY_CIEXPORT_H

#include "core/buf.h"
#include "metrics/hist.h"
#include "results/results.h"

/* Each appends to out; returns 0 or VOLLEY_ENOMEM. */
int ciexport_junit(const results *r, buf *out);
/* Values in milliseconds, as HdrHistogram's tools print them with a
 * scaling ratio of 1000 for microsecond recordings. */
int ciexport_hgrm(const hist *h, buf *out);
int ciexport_prom(const results *r, buf *out);

#endif
