/* merge_scan: the private half of results/merge: the merger's state, and
 * the JSON scanner that merges a document into the merged tree as it reads
 * it (merge_scan.c). Only merge.c and merge_scan.c include this. */
#ifndef VOLLEY_MERGE_SCAN_H
#define VOLLEY_MERGE_SCAN_H

#include "core/buf.h"
#include "results/merge.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define ACC_KEY "\x01merge_acc" /* hidden key: index of an accumulator */

typedef struct acc_hist {
    json_t *obj; /* borrowed from the merged tree */
    hist *h;
} acc_hist;

typedef enum { COL_SUM, COL_MAX, COL_MEAN, COL_SECOND } col_rule;

typedef struct acc_series {
    json_t *obj;
    char **cols;   /* column names */
    col_rule *rules; /* how each column merges (mscan_rule of its name) */
    int sec_col;   /* the "second" column, or -1 */
    size_t ncols;
    int64_t base;  /* wall second (relative to the first input) of row 0 */
    size_t len;
    double *cells; /* len * ncols */
} acc_series;

typedef struct merge_source {
    char file[256], host[128];
    uint32_t seg_k, seg_n;
    uint64_t start_ns, dur_ns, start_at_ns;
    int64_t late_ns;
} merge_source;

struct merger {
    bool force;
    json_t *root;
    acc_hist *hists;
    size_t nh, caph;
    acc_series *sers;
    size_t ns, caps;
    merge_source *src;
    size_t nsrc, capsrc;
    char **thr;
    size_t nthr;
    buf warn;
    uint64_t ref_start_ns;
    int64_t min_off_s;
    uint64_t end_ns;
    bool ref_set;  /* ref_start_ns given by merge_set_reference */
};

typedef struct mctx {
    merger *m;
    int64_t off_s; /* this input's start, in whole seconds after the first's */
    int rc;
    err *e;
    const char *name; /* the input, for messages */
    merger *partial;  /* the document is this merger's tree (merge_absorb) */
} mctx;

/* A document being read: [p, end), base for byte offsets in messages. */
typedef struct mscan {
    const char *p, *end, *base;
} mscan;

#define SCAN_SERIES_COLS 64

/* A series object's columns as met in an input, and the accumulator. */
typedef struct mscan_series {
    acc_series *acc;
    int map[SCAN_SERIES_COLS];
    size_t ncols;
    int req_col;
} mscan_series;

int mscan_nomem(mctx *c);
/* Grows arr (of size-byte items, capacity *cap) to hold need; NULL on ENOMEM. */
void *mscan_grow(void *arr, size_t *cap, size_t need, size_t size);
int mscan_col(const acc_series *s, const char *name);
/* How a series column merges: by name (percentile and max columns keep the
 * largest, mean_ms is weighted by requests, "second" is the index). */
col_rule mscan_rule(const char *name);

/* Scanner: an error with the byte offset (returns c->rc); skipping white
 * space; taking ch if next; skipping a value; a value as a jansson tree;
 * a member's key (and its ':'). */
int mscan_bad(mctx *c, const mscan *s, const char *what);
void mscan_ws(mscan *s);
bool mscan_eat(mscan *s, char ch);
int mscan_skip(mctx *c, mscan *s);
json_t *mscan_load(mctx *c, mscan *s);
int mscan_key(mctx *c, mscan *s, char *key, size_t cap);
/* Merges the value at s of member key into dst (dv: dst's member of that
 * key or NULL); si carries a series object's columns to its rows. */
void mscan_member(mctx *c, json_t *dst, const char *key, json_t *dv, mscan *s,
                  mscan_series *si);

#endif
