/* results_read: reads results.json back into a results struct, exactly
 * (histograms through hist_decode, durations from their _ns fields), so that
 * every report, chart and CSV can be made again later (ARCHITECTURE.md
 * decision 8). The inverse of results_json_dump: dump(read(dump(r))) ==
 * dump(r), byte for byte. */
#ifndef VOLLEY_RESULTS_READ_H
#define VOLLEY_RESULTS_READ_H

#include "core/err.h"
#include "results/results.h"

#include <stddef.h>

/* Parses len bytes of JSON text into out (which this initialises; the
 * caller calls results_free(out) on success; on failure out is freed and
 * empty). name is used in messages (a file name). Errors are VOLLEY_EPARSE
 * (malformed JSON: "NAME:LINE:COL: ... (byte N)"; a wrong or missing field:
 * "NAME: endpoints[1].latency.histogram: ..."), VOLLEY_ERANGE (unknown
 * schema_version, a value out of range) or VOLLEY_ENOMEM. */
int results_json_parse(const char *text, size_t len, const char *name, results *out, err *e);

/* Reads and parses the file at path (VOLLEY_ESYS if it cannot be read); a
 * run folder (`volley run --out DIR`) stands for its results.json. */
int results_json_read(const char *path, results *out, err *e);
/* True when path is a run folder holding a results.json: its path in out. */
bool results_json_in_folder(const char *path, char *out, size_t cap);

#endif
