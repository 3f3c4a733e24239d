/* results_json: the versioned results file (docs/results-format.md).
 * One results.json is the truth every report, comparison and merge is made
 * from (ARCHITECTURE.md decision 8): histograms are stored exactly. */
#ifndef VOLLEY_RESULTS_JSON_H
#define VOLLEY_RESULTS_JSON_H

#include "core/err.h"
#include "results/results.h"

#define RESULTS_SCHEMA_VERSION 1

/* Returns a malloc'd, NUL-terminated JSON text (indented), or NULL. */
char *results_json_dump(const results *r, err *e);

/* The same with extra top-level fields added by extra(root, ctx) (e.g. a
 * script's checks and custom metrics); extra may be NULL. */
struct json_t;
typedef int (*results_json_extra_fn)(struct json_t *root, const void *ctx);
char *results_json_dump_ext(const results *r, results_json_extra_fn extra, const void *ctx,
                            err *e);
int results_json_write_ext(const results *r, const char *path, results_json_extra_fn extra,
                           const void *ctx, err *e);

/* Writes results.json atomically (temp file + rename) to path. */
int results_json_write(const results *r, const char *path, err *e);

#endif
