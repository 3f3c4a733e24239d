/* scatter: requests.csv reduced, as it streams by, to what a scatter chart
 * of latency over time can show: per endpoint, per status class and per
 * time column, the fastest and the slowest request (at their own x), plus
 * every failure (an error or a 4xx/5xx) one by one. A 10M-row file becomes
 * a few thousand points in constant memory; report/chart draws them. */
#ifndef VOLLEY_SCATTER_H
#define VOLLEY_SCATTER_H

#include "core/err.h"
#include "results/csv.h"
#include "results/results.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCATTER_COLS 4096        /* time columns: more than a chart's pixels */
#define SCATTER_MAX_EPS 20       /* endpoints that get a scatter */
#define SCATTER_FAIL_MAX 250000  /* failures kept one by one, per endpoint */

/* Status classes, each its own colour on the chart. */
enum { SCATTER_ERRORS, SCATTER_2XX, SCATTER_3XX, SCATTER_4XX, SCATTER_5XX, SCATTER_NCLASS };

typedef struct scatter_pt {
    float x_s;  /* intended start, seconds since the start of the run */
    float y_ms; /* latency */
} scatter_pt;

/* The extremes of one column and class; empty while lo.y_ms > hi.y_ms. */
typedef struct scatter_cell {
    scatter_pt lo, hi;
} scatter_cell;

typedef struct scatter_ep {
    scatter_cell *cells;  /* ncols * SCATTER_NCLASS, column-major */
    scatter_pt *fails;    /* the first SCATTER_FAIL_MAX failures, in file order */
    uint8_t *fail_class;
    size_t nfails, fail_cap;
    uint64_t rows, failures; /* rows of this endpoint; failing ones among them */
} scatter_ep;

typedef struct scatter {
    scatter_ep *eps;      /* per endpoint of the results (the first SCATTER_MAX_EPS) */
    size_t neps;
    size_t ncols;
    double col_ms;        /* width of a column; doubles when a row lies beyond */
    uint64_t rows;        /* all rows read */
    size_t last_ep;       /* rows come in runs of one endpoint: tried first */
    const results *r;
} scatter;

/* Prepares an empty reduction for r's endpoints with ncols columns over
 * r's elapsed time (0: SCATTER_COLS; odd: one more). 0 or VOLLEY_ENOMEM. */
int scatter_init(scatter *s, const results *r, size_t ncols, err *e);
/* Adds one request. 0 or VOLLEY_ENOMEM. */
int scatter_add(scatter *s, const csv_request_row *row);
/* Streams requests.csv at path into s (errors as csv_scan_requests); a
 * file of 64 MiB or more is read by two threads, a half each. */
int scatter_read_csv(scatter *s, const char *path, err *e);
/* The same, split in two halves or not whatever the size. */
int scatter_read_csv_split(scatter *s, const char *path, bool split, err *e);
/* The class of a status (0: error). */
int scatter_class(int status);
void scatter_free(scatter *s);

#endif
