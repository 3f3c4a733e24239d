/* outdir: the directory a run writes to, made sure of before any load. A
 * given --out is created and test-written; the default name is new for
 * every run (created exclusively, a suffix on collision), so two runs
 * started in the same second, or two segments of one run, never share it. */
#ifndef VOLLEY_OUTDIR_H
#define VOLLEY_OUTDIR_H

#include "core/err.h"

#include <stddef.h>

typedef struct outdir_name {
    const char *prefix;        /* before the time ("demo-"), may be NULL */
    const char *label;         /* after it, may be NULL or "" */
    unsigned segment_k, segment_n; /* "-seg1of2" when segment_n > 1 */
} outdir_name;

/* Creates given (with parents) or a new default directory under
 * volley-results/, checks that a file can be written in it, and copies its
 * path to out. Errors name the directory and the problem (VOLLEY_EINVAL). */
int outdir_prepare(const char *given, const outdir_name *n, char *out, size_t cap, err *e);

/* A run id: the time, the segment and 48 random bits ("20261202-031904-
 * s1of2-9f3a6c01b2d4"); unique across processes and machines. */
void outdir_run_id(const outdir_name *n, char *out, size_t cap);

#endif
