/* series: the per-second time series of a run, kept by the main thread.
 * Each row summarises one second of the run (second k covers
 * [start + k s, start + (k+1) s)). Workers never touch it: the engine builds
 * each row by merging the workers' finished interval shards. */
#ifndef VOLLEY_SERIES_H
#define VOLLEY_SERIES_H

#include <stddef.h>
#include <stdint.h>

typedef struct series_row {
    uint32_t second;      /* index from the start of the run */
    uint64_t requests;    /* completed requests (responses + transport errors) */
    uint64_t responses;
    uint64_t errors;      /* failed: transport errors + unexpected statuses */
    uint64_t transport_errors;
    uint64_t bytes_in, bytes_out;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
    double mean_ns;
    double target_rps;    /* open model: the schedule's rate; 0 otherwise */
    uint32_t active;      /* connections / VUs active at the end of the second */
    uint64_t dropped;     /* open model: iterations dropped in this second */
} series_row;

typedef struct series {
    series_row *rows;
    size_t len, cap;
} series;

void series_init(series *s);
void series_free(series *s);
/* Appends a copy of row; returns 0 or VOLLEY_ENOMEM. */
int series_append(series *s, const series_row *row);
const series_row *series_last(const series *s);

#endif
