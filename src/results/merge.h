/* merge: several results.json of one plan (the segments of a distributed
 * run, ARCHITECTURE.md decision 6) merged into one, exactly: counters add,
 * histograms add bucket by bucket, per-second series align on wall-clock
 * seconds, endpoints match by name, method and URL, sweep steps by index.
 * Used by `volley merge` (cmd/merge) and bench/merge.sh. */
#ifndef VOLLEY_MERGE_H
#define VOLLEY_MERGE_H

#include "core/err.h"
#include "results/results.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct merger merger;
struct json_t;

/* force: merge runs of different plans and repeated segments anyway (the
 * difference is recorded as a warning). Returns NULL on ENOMEM (e set). */
merger *merge_new(bool force, err *e);
void merge_free(merger *m);

/* Adds one results document (a parsed tree, borrowed; name is used in
 * messages and recorded as the input's file). Errors: VOLLEY_EINVAL with
 * the difference named ("plan.rate_per_s: 2000 in b.json, 1000 in
 * a.json") for another plan or a segment given twice (unless force),
 * VOLLEY_EPARSE for a document that is not a results file. */
int merge_add_tree(merger *m, struct json_t *root, const char *name, err *e);
/* Parses len bytes holding one or more concatenated JSON documents (text
 * before a document, such as log lines, is skipped up to a '{' that starts
 * a line) and adds each. */
int merge_add_text(merger *m, const char *text, size_t len, const char *name, err *e);
size_t merge_count(const merger *m);

/* Warnings gathered so far (missing segments, forced differences), one per
 * line; "" if none. Valid until merge_free. */
const char *merge_warnings(const merger *m);

/* The merged run as a results struct (out initialised here; the caller
 * frees it). The merge's own record (inputs with host, segment, start
 * lateness; missing segments; warnings) and any top-level fields volley
 * does not model (a script's block) are kept in the tree given by
 * merge_extra_tree, to be written beside out with merge_write_extra.
 * thr_exprs/nthr receive the thresholds the inputs were run with (their
 * union, in order; borrowed). */
int merge_finish(merger *m, results *out, err *e);
const char *const *merge_thresholds(const merger *m, size_t *n);
/* A results_json_extra_fn: adds the merge record and the unmodelled
 * fields of the merged tree (ctx is the merger). */
int merge_write_extra(struct json_t *root, const void *ctx);

#endif
