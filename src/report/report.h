/* report: the files of a report made from one results struct - summary.csv,
 * CI exports, charts as PNG/SVG and report.html - written into a folder. One
 * implementation for `volley report` (cmd/report) and for the end of
 * `volley run` (session), so both write the same report. */
#ifndef VOLLEY_REPORT_H
#define VOLLEY_REPORT_H

#include "core/err.h"
#include "results/results.h"

#include <stdio.h>

enum {
    REPORT_FMT_HTML = 1,
    REPORT_FMT_PNG = 2,
    REPORT_FMT_SVG = 4,
    REPORT_FMT_TXT = 8, /* the text summary: the caller prints it */
    REPORT_FMT_CSV = 16,
    REPORT_FMT_JUNIT = 32, /* junit.xml: a test case per threshold */
    REPORT_FMT_HGRM = 64,  /* latency.hgrm: HdrHistogram percentile distribution */
    REPORT_FMT_PROM = 128, /* metrics.prom: Prometheus text */
};

typedef struct report_opts {
    unsigned formats;     /* REPORT_FMT_* bits; TXT is ignored here */
    int width, height;    /* chart size in pixels */
    const char *src_dir;  /* where requests.csv may sit (scatter charts) */
    const char *out_dir;  /* created if missing */
    FILE *said;           /* "  wrote PATH" lines go here; NULL: none */
    const char *who;      /* warning prefix: "volley report" */
} report_opts;

/* Writes the files o->formats asks for into o->out_dir. A bad or missing
 * requests.csv only costs the scatter charts (a warning on stderr). */
int report_write(const results *r, const report_opts *o, err *e);

#endif
