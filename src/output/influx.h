/* influx: InfluxDB line protocol of the run, one point a second
 * (measurement "volley", the second's counts, responses by status class
 * and errors by kind, latency percentiles, send-lag p99 and generator CPU)
 * and, at the end, a last point with what the whole seconds did not cover
 * plus the run's totals by status class and error kind ("volley_status",
 * "volley_error"), so that sum() over a run's "volley" points equals
 * results.json's totals. */
#ifndef VOLLEY_INFLUX_H
#define VOLLEY_INFLUX_H

#include "core/buf.h"
#include "metrics/series.h"
#include "output/snap.h"

/* Appends one line for a second's row. tag: the run tag's value (escaped
 * here). Returns 0 or VOLLEY_ENOMEM. */
int influx_second(buf *out, const char *tag, const series_row *row, uint64_t wall_ns);
/* Appends the end-of-run lines: the remainder (final - summed, as a row of
 * counts) and the breakdown. Returns the number of lines, or a negative code. */
int influx_final(buf *out, const char *tag, const snap *summed, const snap *final);

#endif
