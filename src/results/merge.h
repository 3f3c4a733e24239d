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

/* Parses len bytes holding one or more concatenated results documents
 * (text before a document, such as log lines, is skipped up to a '{' that
 * starts a line) and adds each; name is used in messages and recorded as
 * the input's file. Errors: VOLLEY_EINVAL with the difference named
 * ("plan.rate_per_s is 2000 there, 1000 in a.json") for another plan or a
 * segment given twice (unless force), VOLLEY_EPARSE (with the byte offset)
 * for text that is not a results document. Inputs are read once, as a
 * stream, never held whole in memory as trees. */
int merge_add_text(merger *m, const char *text, size_t len, const char *name, err *e);
size_t merge_count(const merger *m);

/* Merging in parallel: several mergers, each given some of the inputs,
 * share the reference start (the first input's start_unix_ns, found by
 * merge_peek_start in its text; 0 if none) so their per-second rows align
 * alike; merge_absorb(m, p) then adds everything p merged to m (checking
 * plans and segments across them; p is spent, free it). */
void merge_set_reference(merger *m, uint64_t start_unix_ns);
uint64_t merge_peek_start(const char *text, size_t len);
int merge_absorb(merger *m, merger *p, err *e);

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
