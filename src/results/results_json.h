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

/* Writes results.json atomically (temp file + rename) to path. */
int results_json_write(const results *r, const char *path, err *e);

#endif
