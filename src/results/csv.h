/* csv: the CSV outputs of a run. summary.csv (one row per endpoint and
 * sweep step, written here from a results struct) and a streaming reader
 * for requests.csv (one row per request, written by the engine) used by
 * report/scatter for the per-route scatter charts. */
#ifndef VOLLEY_CSV_H
#define VOLLEY_CSV_H

#include "core/buf.h"
#include "core/err.h"
#include "results/results.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* summary.csv columns, in order (the header line). */
#define CSV_SUMMARY_HEADER                                                                   \
    "step,target_rps,endpoint,method,url,requests,responses,errors,success_pct,"            \
    "achieved_rps,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,mean_ms,ttfb_p50_ms,ttfb_p99_ms,"       \
    "service_p50_ms,service_p99_ms,bytes_in,bytes_out,dropped,server_cpu_pct,"                \
    "server_rss_max_bytes"

/* Appends summary.csv to out: the header, then per step (or once, with an
 * empty step column, when there are no steps) a row per endpoint and a row
 * "total" for all endpoints of that step; with steps a last row "total"
 * (empty step) for the whole run. Values come only from what results.json
 * holds exactly (histograms, counts, duration_ns), so a results struct read
 * back from results.json gives the same bytes. Returns 0 or VOLLEY_ENOMEM. */
int csv_summary_dump(const results *r, buf *out);

/* Writes csv_summary_dump to path (temp file + rename). */
int csv_write_summary(const results *r, const char *path, err *e);

/* names.csv of a script run (Locust's per-name stats): the header, then a
 * row per request name (params.name, or the URL without its query) from
 * r->script, times in ms with %.3f. Nothing but the header without names. */
#define CSV_NAMES_HEADER                                                                        \
    "name,requests,failures,failure_pct,avg_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,"              \
    "ttfb_p50_ms,bytes_in"
int csv_names_dump(const results *r, buf *out);
/* Writes csv_names_dump to path (temp file + rename). */
int csv_write_names(const results *r, const char *path, err *e);

/* Appends s to out as one CSV field (RFC 4180: quoted when it holds a comma,
 * a quote, CR or LF; quotes doubled). */
int csv_field(buf *out, const char *s);

/* requests.csv: offset_ms,step,endpoint,status,latency_ms,service_ms,ttfb_ms,
 * bytes_in,bytes_out,error. status is 0 and error the kind name for errors;
 * offset_ms is the intended start from the start of the run. */
typedef struct csv_request_row {
    double offset_ms;
    double latency_ms, service_ms, ttfb_ms;
    uint64_t bytes_in, bytes_out;
    int32_t step;       /* -1 when empty */
    uint16_t status;    /* 0 for an error */
    int8_t err_kind;    /* err_kind, or -1 */
    char endpoint[64];
} csv_request_row;

/* Called for each data row of requests.csv, in file order; the row is
 * only valid during the call. A non-zero return (a VOLLEY_E* code) stops
 * the scan and is returned. */
typedef int (*csv_row_fn)(const csv_request_row *row, void *ctx);

/* Streams requests.csv at path through fn, one row at a time, in constant
 * memory (a 10M-row file is read in 4 MiB blocks). Columns are found by
 * name in the header (unknown ones are ignored; offset_ms, status and
 * latency_ms are required). brief: service_ms, ttfb_ms and the byte
 * counts of unquoted rows are not parsed (left 0; a scatter needs only
 * time, status and latency). Errors name the file and line: VOLLEY_ESYS,
 * VOLLEY_EPARSE, VOLLEY_ENOMEM, or fn's code. */
int csv_scan_requests(const char *path, bool brief, csv_row_fn fn, void *ctx, err *e);

/* The same for part `part` of nparts (threads reading one file): the rows
 * whose line starts in [size*part/nparts, size*(part+1)/nparts) of the
 * file, so the parts together are every row once. Errors outside part 0
 * name the byte offset instead of the line. */
int csv_scan_requests_part(const char *path, bool brief, unsigned part, unsigned nparts,
                           csv_row_fn fn, void *ctx, err *e);

#endif
