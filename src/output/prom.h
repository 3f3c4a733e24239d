/* prom: the Prometheus text exposition format (version 0.0.4, which
 * OpenMetrics scrapers also accept) of a snapshot: counters, gauges and the
 * latency as a histogram with fixed buckets. Used by /metrics
 * (output/httpd), the Pushgateway push and `volley report --format prom`. */
#ifndef VOLLEY_PROM_H
#define VOLLEY_PROM_H

#include "core/buf.h"
#include "output/snap.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The fixed latency buckets' upper bounds in seconds (+Inf implied). */
extern const double prom_buckets_s[];
extern const unsigned prom_nbuckets;

/* Appends the exposition of s to out. Returns 0 or VOLLEY_ENOMEM. */
int prom_encode(const snap *s, buf *out);

/* Count of values of h at or below bound_ns (bucket precision: HDR buckets
 * are at most 1/1024 of their value wide). */
uint64_t prom_hist_le(const hist *h, uint64_t bound_ns);

#endif
