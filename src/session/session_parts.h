/* session_parts: the session's private pieces in their own files (raw
 * records, script thresholds); only session.c includes this. */
#ifndef VOLLEY_SESSION_PARTS_H
#define VOLLEY_SESSION_PARTS_H

#include "core/err.h"
#include "load/plan.h"
#include "results/results.h"
#include "script/script.h"

#include <stdint.h>
#include <stdio.h>

struct worker_raw;

/* requests.csv: one row per request (--raw). */
typedef struct session_raw {
    FILE *f;
    const plan *p;
    const results *r;        /* a script's endpoints (its scenarios), named by the engine */
    uint64_t rows;
} session_raw;

int session_raw_open(session_raw *w, const plan *p, const char *dir, err *e);
void session_raw_record(void *ctx, const struct worker_raw *r);
/* Closes the file; an error if anything failed to be written. */
int session_raw_close(session_raw *w, err *e);

/* The k6 thresholds of a script's options, judged on r where volley knows
 * the metric, added to r->thresholds. */
void session_script_thresholds(const script_results *sr, results *r);

#endif
