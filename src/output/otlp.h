/* otlp: a snapshot as an OTLP/HTTP JSON metrics export request
 * (ExportMetricsServiceRequest: resourceMetrics / scopeMetrics / metrics)
 * with cumulative sums (counters), gauges and the latency histogram, for an
 * OpenTelemetry Collector's otlphttp receiver (POST /v1/metrics). */
#ifndef VOLLEY_OTLP_H
#define VOLLEY_OTLP_H

#include "core/buf.h"
#include "output/snap.h"

/* Appends the request body. start_wall_ns: the run's start (the sums'
 * startTimeUnixNano); run: the "volley.run" resource attribute. Returns the
 * number of data points, or a negative code. */
int otlp_encode(const snap *s, uint64_t start_wall_ns, const char *run, buf *out);

#endif
