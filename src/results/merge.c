/* merge: merges results.json trees of one plan (see merge.h). Works on the
 * JSON trees so that counters volley adds later merge without code here:
 * integers add, histograms (objects with a "histogram" encoding) add bucket
 * by bucket through metrics/hist, series (objects with "columns" and
 * "rows") add row by row on wall-clock seconds. The merged tree is read
 * back by results_read, so every derived figure is computed again. */
#include "results/merge.h"

#include "core/buf.h"
#include "core/clock.h"
#include "results/results_read.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACC_KEY "\x01merge_acc" /* hidden key: index of an accumulator */

typedef struct acc_hist {
    json_t *obj; /* borrowed from the merged tree */
    hist *h;
} acc_hist;

typedef struct acc_series {
    json_t *obj;
    char **cols;   /* column names */
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
    hist *scratch;
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
};

typedef struct mctx {
    merger *m;
    int64_t off_s; /* this input's start, in whole seconds after the first's */
    int rc;
    err *e;
} mctx;

static void merge_obj(mctx *c, json_t *dst, json_t *src);

merger *merge_new(bool force, err *e)
{
    merger *m = calloc(1, sizeof *m);
    if (!m || !(m->root = json_object()) || !(m->scratch = hist_new())) {
        merge_free(m);
        err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
        return NULL;
    }
    m->force = force;
    return m;
}

void merge_free(merger *m)
{
    if (!m)
        return;
    json_decref(m->root);
    hist_free(m->scratch);
    for (size_t i = 0; i < m->nh; i++)
        hist_free(m->hists[i].h);
    for (size_t i = 0; i < m->ns; i++) {
        for (size_t k = 0; k < m->sers[i].ncols; k++)
            free(m->sers[i].cols[k]);
        free(m->sers[i].cols);
        free(m->sers[i].cells);
    }
    for (size_t i = 0; i < m->nthr; i++)
        free(m->thr[i]);
    free(m->thr);
    free(m->hists);
    free(m->sers);
    free(m->src);
    buf_free(&m->warn);
    free(m);
}

size_t merge_count(const merger *m) { return m->nsrc; }

const char *merge_warnings(const merger *m) { return m->warn.data ? m->warn.data : ""; }

static void warnf(merger *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(merger *m, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_printf(&m->warn, "%s\n", line);
}

static int nomem(mctx *c)
{
    if (!c->rc)
        c->rc = err_set(c->e, VOLLEY_ENOMEM, "merge: out of memory");
    return c->rc;
}

/* ---- accumulators, found through a hidden key of their object ---- */

static void *grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return arr;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(arr, n * size);
    if (p)
        *cap = n;
    return p;
}

static long acc_index(json_t *obj)
{
    json_t *v = json_object_get(obj, ACC_KEY);
    return v ? (long)json_integer_value(v) : -1;
}

static hist *hist_acc(mctx *c, json_t *obj)
{
    merger *m = c->m;
    long i = acc_index(obj);
    if (i >= 0)
        return m->hists[i].h;
    acc_hist *a = grow(m->hists, &m->caph, m->nh + 1, sizeof *a);
    if (!a)
        return NULL;
    m->hists = a;
    hist *h = hist_new();
    if (!h)
        return NULL;
    a[m->nh] = (acc_hist){obj, h};
    json_object_set_new(obj, ACC_KEY, json_integer((json_int_t)m->nh++));
    return h;
}

static void merge_hist(mctx *c, json_t *dst, json_t *src)
{
    const char *enc = json_string_value(json_object_get(src, "histogram"));
    hist *h = hist_acc(c, dst);
    if (!h) {
        nomem(c);
        return;
    }
    if (hist_decode(c->m->scratch, enc, strlen(enc), c->e)) {
        c->rc = c->e ? c->e->code : VOLLEY_EPARSE;
        return;
    }
    hist_merge(h, c->m->scratch);
    json_t *v;
    const char *k;
    json_object_foreach(src, k, v) /* other fields: the first's (recomputed later) */
        if (!json_object_get(dst, k))
            json_object_set(dst, k, v);
}

/* ---- per-second series ---- */

static acc_series *series_acc(mctx *c, json_t *dst, json_t *cols)
{
    merger *m = c->m;
    long i = acc_index(dst);
    if (i >= 0)
        return &m->sers[i];
    acc_series *a = grow(m->sers, &m->caps, m->ns + 1, sizeof *a);
    if (!a)
        return NULL;
    m->sers = a;
    acc_series *s = &a[m->ns];
    memset(s, 0, sizeof *s);
    s->obj = dst;
    s->ncols = json_array_size(cols);
    if (!(s->cols = calloc(s->ncols ? s->ncols : 1, sizeof *s->cols)))
        return NULL;
    for (size_t k = 0; k < s->ncols; k++) {
        const char *n = json_string_value(json_array_get(cols, k));
        if (!(s->cols[k] = strdup(n ? n : "")))
            return NULL;
    }
    json_object_set(dst, "columns", cols);
    json_object_set_new(dst, ACC_KEY, json_integer((json_int_t)m->ns++));
    return s;
}

static int col_of(const acc_series *s, const char *name)
{
    for (size_t k = 0; k < s->ncols; k++)
        if (!strcmp(s->cols[k], name))
            return (int)k;
    return -1;
}

/* Makes row `sec` exist; returns its cells or NULL. */
static double *series_row_at(acc_series *s, int64_t sec)
{
    if (!s->len)
        s->base = sec;
    int64_t lo = sec < s->base ? sec : s->base;
    int64_t hi = sec >= s->base + (int64_t)s->len ? sec + 1 : s->base + (int64_t)s->len;
    size_t n = (size_t)(hi - lo), shift = (size_t)(s->base - lo);
    if (n != s->len || shift) {
        double *p = realloc(s->cells, n * s->ncols * sizeof *p);
        if (!p)
            return NULL;
        memmove(p + shift * s->ncols, p, s->len * s->ncols * sizeof *p);
        memset(p, 0, shift * s->ncols * sizeof *p);
        size_t tail = n - shift - s->len;
        memset(p + (shift + s->len) * s->ncols, 0, tail * s->ncols * sizeof *p);
        s->cells = p;
        s->len = n;
        s->base = lo;
    }
    return s->cells + (size_t)(sec - s->base) * s->ncols;
}

typedef enum { COL_SUM, COL_MAX, COL_MEAN, COL_SECOND } col_rule;

/* Percentile and max columns cannot add: the merged row keeps the largest
 * (an upper bound, exact for max); the mean is weighted by requests. */
static col_rule rule_of(const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "second"))
        return COL_SECOND;
    if (!strcmp(name, "mean_ms"))
        return COL_MEAN;
    if (n > 3 && !strcmp(name + n - 3, "_ms") && (name[0] == 'p' || !strncmp(name, "max", 3)))
        return COL_MAX;
    return COL_SUM;
}

static void series_add_row(acc_series *s, const int *map, size_t ncols, json_t *row,
                           int64_t off_s, int req_col)
{
    int sec_col = col_of(s, "second");
    json_t *sv = sec_col >= 0 ? json_array_get(row, 0) : NULL;
    for (size_t k = 0; k < ncols; k++)
        if (map[k] == sec_col)
            sv = json_array_get(row, k);
    double *cells = series_row_at(s, (int64_t)json_number_value(sv) + off_s);
    if (!cells)
        return;
    double req = req_col >= 0 ? json_number_value(json_array_get(row, (size_t)req_col)) : 0;
    for (size_t k = 0; k < ncols; k++) {
        if (map[k] < 0)
            continue;
        double v = json_number_value(json_array_get(row, k));
        double *d = &cells[map[k]];
        switch (rule_of(s->cols[map[k]])) {
        case COL_SECOND: break;
        case COL_MAX: *d = v > *d ? v : *d; break;
        case COL_MEAN: *d += v * req; break;
        case COL_SUM: *d += v; break;
        }
    }
}

static void merge_series(mctx *c, json_t *dst, json_t *src)
{
    json_t *cols = json_object_get(src, "columns"), *rows = json_object_get(src, "rows");
    acc_series *s = series_acc(c, dst, cols);
    if (!s) {
        nomem(c);
        return;
    }
    size_t ncols = json_array_size(cols);
    int map[64], req_col = -1;
    if (ncols > 64)
        ncols = 64;
    for (size_t k = 0; k < ncols; k++) {
        const char *n = json_string_value(json_array_get(cols, k));
        map[k] = n ? col_of(s, n) : -1;
        if (n && !strcmp(n, "requests"))
            req_col = (int)k;
    }
    size_t before = s->len;
    for (size_t r = 0; r < json_array_size(rows); r++)
        series_add_row(s, map, ncols, json_array_get(rows, r), c->off_s, req_col);
    if (s->len < before)
        nomem(c);
}

/* ---- the generic walk ---- */

static bool is_hist(json_t *o)
{
    return json_is_string(json_object_get(o, "histogram"));
}

static bool is_series(json_t *o)
{
    return json_is_array(json_object_get(o, "columns")) &&
           json_is_array(json_object_get(o, "rows"));
}

static bool same_str(json_t *a, json_t *b, const char *key)
{
    const char *x = json_string_value(json_object_get(a, key));
    const char *y = json_string_value(json_object_get(b, key));
    return (!x && !y) || (x && y && !strcmp(x, y));
}

/* Endpoints match by name, method and URL; steps by index; other objects
 * by name when they have one, else by position. */
static bool same_item(json_t *a, json_t *b)
{
    json_t *ia = json_object_get(a, "index"), *ib = json_object_get(b, "index");
    if (json_is_integer(ia) || json_is_integer(ib))
        return json_is_integer(ia) && json_is_integer(ib) &&
               json_integer_value(ia) == json_integer_value(ib);
    if (json_object_get(a, "name") || json_object_get(b, "name"))
        return same_str(a, b, "name") && same_str(a, b, "method") && same_str(a, b, "url");
    return false;
}

static json_t *find_item(json_t *arr, json_t *want, size_t hint)
{
    json_t *x = json_array_get(arr, hint);
    if (x && json_is_object(x) && same_item(x, want))
        return x;
    size_t i;
    json_array_foreach(arr, i, x)
        if (json_is_object(x) && same_item(x, want))
            return x;
    return NULL;
}

static bool keyed(json_t *o)
{
    return json_object_get(o, "index") || json_object_get(o, "name");
}

static void merge_array(mctx *c, json_t *dst, json_t *src)
{
    size_t i;
    json_t *sv;
    json_array_foreach(src, i, sv) {
        if (c->rc)
            return;
        if (!json_is_object(sv)) {
            if (i >= json_array_size(dst))
                json_array_append(dst, sv);
            continue;
        }
        json_t *dv = keyed(sv) ? find_item(dst, sv, i) : json_array_get(dst, i);
        if (!dv || !json_is_object(dv)) {
            dv = json_object();
            if (!dv || json_array_append_new(dst, dv)) {
                nomem(c);
                return;
            }
        }
        merge_obj(c, dv, sv);
    }
}

static void merge_int(json_t *dst, const char *key, json_t *dv, json_t *sv)
{
    json_int_t a = json_integer_value(dv), b = json_integer_value(sv);
    if (!strcmp(key, "duration_ns")) /* the longest part is the run's length */
        json_object_set_new(dst, key, json_integer(a > b ? a : b));
    else if (strcmp(key, "index") && strcmp(key, "target_vus") && strcmp(key, "offset_ns") &&
             strcmp(key, "schema_version"))
        json_object_set_new(dst, key, json_integer(a + b)); /* a counter */
}

static void merge_real(json_t *dst, const char *key, json_t *dv, json_t *sv)
{
    double a = json_number_value(dv), b = json_number_value(sv);
    if (!strcmp(key, "min") && b < a)
        json_object_set_new(dst, key, json_real(b));
    else if (!strcmp(key, "max") && b > a)
        json_object_set_new(dst, key, json_real(b));
    /* other reals are derived (rates, means, percentiles): volley's own are
     * computed again from the merged counts and histograms */
}

static void merge_member(mctx *c, json_t *dst, const char *key, json_t *sv)
{
    json_t *dv = json_object_get(dst, key);
    if (json_is_object(sv) || json_is_array(sv)) {
        if (!dv || json_typeof(dv) != json_typeof(sv)) {
            dv = json_is_object(sv) ? json_object() : json_array();
            if (!dv || json_object_set_new(dst, key, dv)) {
                nomem(c);
                return;
            }
        }
        if (json_is_object(sv))
            merge_obj(c, dv, sv);
        else
            merge_array(c, dv, sv);
    } else if (!dv) {
        json_object_set(dst, key, sv);
    } else if (json_is_integer(sv) && json_is_integer(dv)) {
        merge_int(dst, key, dv, sv);
    } else if (json_is_number(sv) && json_is_number(dv)) {
        merge_real(dst, key, dv, sv);
    } else if (json_is_true(sv)) {
        json_object_set(dst, key, sv); /* flags: any input's true holds */
    }
}

static void merge_obj(mctx *c, json_t *dst, json_t *src)
{
    if (is_hist(src)) {
        merge_hist(c, dst, src);
        return;
    }
    if (is_series(src)) {
        merge_series(c, dst, src);
        return;
    }
    const char *k;
    json_t *sv;
    json_object_foreach(src, k, sv) {
        if (c->rc)
            return;
        merge_member(c, dst, k, sv);
    }
}

/* ---- one input ---- */

/* Top-level fields merged by their own rules, not by the generic walk. */
static const char *const own_keys[] = {
    "schema_version", "tool", "plan", "start", "end", "start_unix_ns", "duration_s",
    "duration_ns", "thresholds", "thresholds_aborted", "monitor", "host", "segment",
    "start_at_unix_ns", "start_late_ns", "merge", "warning",
};

static bool own_key(const char *k)
{
    for (size_t i = 0; i < sizeof own_keys / sizeof own_keys[0]; i++)
        if (!strcmp(k, own_keys[i]))
            return true;
    return false;
}

static char *compact(json_t *v)
{
    return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(absent)");
}

/* Names the first field in which two plans differ. */
static int plan_differs(merger *m, json_t *a, json_t *b, const char *name, err *e)
{
    const char *k;
    json_t *v;
    const char *key = NULL;
    json_object_foreach(a, k, v)
        if (!key && !json_equal(v, json_object_get(b, k)))
            key = k;
    json_object_foreach(b, k, v)
        if (!key && !json_object_get(a, k))
            key = k;
    char *x = compact(json_object_get(b, key)), *y = compact(json_object_get(a, key));
    int rc = err_set(e, VOLLEY_EINVAL, "%s: not the same plan as %s: plan.%s is %s there, %s in %s",
                     name, m->src[0].file, key ? key : "?", x ? x : "?", y ? y : "?",
                     m->src[0].file);
    free(x);
    free(y);
    if (m->force) {
        warnf(m, "%s (merged anyway: --force)", e ? e->msg : "plan differs");
        return 0;
    }
    return rc;
}

static int read_source(json_t *root, merge_source *s, const char *name, err *e)
{
    memset(s, 0, sizeof *s);
    snprintf(s->file, sizeof s->file, "%s", name);
    json_t *ver = json_object_get(root, "schema_version"), *st = json_object_get(root, "start_unix_ns");
    if (!json_is_object(json_object_get(root, "plan")) || !json_is_integer(ver) || !json_is_integer(st))
        return err_set(e, VOLLEY_EPARSE, "%s: not a volley results file (no plan, "
                                         "schema_version or start_unix_ns)", name);
    if (json_integer_value(ver) != 1)
        return err_set(e, VOLLEY_ERANGE, "%s: schema_version %lld is not 1", name,
                       (long long)json_integer_value(ver));
    s->start_ns = (uint64_t)json_integer_value(st);
    s->dur_ns = (uint64_t)json_integer_value(json_object_get(root, "duration_ns"));
    s->start_at_ns = (uint64_t)json_integer_value(json_object_get(root, "start_at_unix_ns"));
    s->late_ns = (int64_t)json_integer_value(json_object_get(root, "start_late_ns"));
    const char *h = json_string_value(json_object_get(root, "host"));
    snprintf(s->host, sizeof s->host, "%s", h ? h : "");
    json_t *seg = json_object_get(root, "segment");
    s->seg_k = (uint32_t)json_integer_value(json_object_get(seg, "index"));
    s->seg_n = (uint32_t)json_integer_value(json_object_get(seg, "count"));
    return 0;
}

static int check_segment(merger *m, const merge_source *s, err *e)
{
    for (size_t i = 0; i < m->nsrc; i++) {
        const merge_source *o = &m->src[i];
        if (o->seg_n != s->seg_n) {
            int rc = err_set(e, VOLLEY_EINVAL, "%s: segment %u/%u is not of the same split as "
                             "%s (segment %u/%u)", s->file, s->seg_k, s->seg_n, o->file,
                             o->seg_k, o->seg_n);
            if (!m->force)
                return rc;
            warnf(m, "%s (merged anyway: --force)", e ? e->msg : "");
            return 0;
        }
        if (o->seg_k == s->seg_k) {
            int rc = err_set(e, VOLLEY_EINVAL, "%s: segment %u/%u was given twice (also %s)",
                             s->file, s->seg_k, s->seg_n ? s->seg_n : 1, o->file);
            if (!m->force)
                return rc;
            warnf(m, "%s (merged anyway: --force)", e ? e->msg : "");
            return 0;
        }
    }
    return 0;
}

static void add_thresholds(merger *m, json_t *root)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(root, "thresholds"), i, t) {
        const char *x = json_string_value(json_object_get(t, "expr"));
        bool seen = !x;
        for (size_t k = 0; k < m->nthr && !seen; k++)
            seen = !strcmp(m->thr[k], x);
        char **a = seen ? NULL : realloc(m->thr, (m->nthr + 1) * sizeof *a);
        if (a) {
            m->thr = a;
            if ((a[m->nthr] = strdup(x)))
                m->nthr++;
        }
    }
}

int merge_add_tree(merger *m, json_t *root, const char *name, err *e)
{
    merge_source s;
    int rc = read_source(root, &s, name, e);
    if (rc)
        return rc;
    json_t *plan = json_object_get(root, "plan");
    if (m->nsrc && !json_equal(plan, json_object_get(m->root, "plan")) &&
        (rc = plan_differs(m, json_object_get(m->root, "plan"), plan, name, e)))
        return rc;
    if ((rc = check_segment(m, &s, e)))
        return rc;
    merge_source *a = grow(m->src, &m->capsrc, m->nsrc + 1, sizeof *a);
    if (!a)
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    m->src = a;
    if (!m->nsrc) {
        m->ref_start_ns = s.start_ns;
        json_object_set(m->root, "schema_version", json_object_get(root, "schema_version"));
        json_object_set(m->root, "tool", json_object_get(root, "tool"));
        json_object_set(m->root, "plan", plan);
    }
    a[m->nsrc++] = s;
    int64_t off = llround(((double)s.start_ns - (double)m->ref_start_ns) / 1e9);
    if (off < m->min_off_s)
        m->min_off_s = off;
    if (s.start_ns + s.dur_ns > m->end_ns)
        m->end_ns = s.start_ns + s.dur_ns;
    const char *w = json_string_value(json_object_get(root, "warning"));
    if (w && *w)
        warnf(m, "%s: %s", name, w);
    add_thresholds(m, root);
    mctx c = {.m = m, .off_s = off, .e = e};
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!own_key(k))
            merge_member(&c, m->root, k, v);
        if (c.rc)
            return c.rc;
    }
    return 0;
}

/* Skips to the next '{' that starts a line (or the text). */
static size_t next_doc(const char *t, size_t len, size_t off)
{
    for (; off < len; off++)
        if (t[off] == '{' && (off == 0 || t[off - 1] == '\n'))
            return off;
    return len;
}

int merge_add_text(merger *m, const char *text, size_t len, const char *name, err *e)
{
    size_t off = next_doc(text, len, 0), n = 0;
    while (off < len) {
        json_error_t je;
        json_t *root = json_loadb(text + off, len - off,
                                  JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
        if (!root)
            return err_set(e, VOLLEY_EPARSE, "%s: document %zu: %d:%d: %s", name, n + 1,
                           je.line, je.column, je.text);
        char doc[300];
        if (n || next_doc(text, len, off + (size_t)je.position) < len)
            snprintf(doc, sizeof doc, "%s#%zu", name, n + 1);
        else
            snprintf(doc, sizeof doc, "%s", name);
        int rc = merge_add_tree(m, root, doc, e);
        json_decref(root);
        if (rc)
            return rc;
        n++;
        off = next_doc(text, len, off + (size_t)je.position);
    }
    if (!n)
        return err_set(e, VOLLEY_EPARSE, "%s: no JSON document", name);
    return 0;
}

/* ---- the end: accumulators back into the tree ---- */

static int finish_hists(merger *m)
{
    buf b = {0};
    for (size_t i = 0; i < m->nh; i++) {
        b.len = b.off = 0;
        if (hist_encode(m->hists[i].h, &b))
            return VOLLEY_ENOMEM;
        json_t *o = m->hists[i].obj;
        json_object_set_new(o, "histogram", json_stringn(b.data ? b.data : "", b.len));
        json_object_set_new(o, "count", json_integer((json_int_t)hist_count(m->hists[i].h)));
        json_object_del(o, ACC_KEY);
    }
    buf_free(&b);
    return 0;
}

static json_t *cell_json(const char *col, double v)
{
    size_t n = strlen(col);
    if ((n > 3 && !strcmp(col + n - 3, "_ms")) || strstr(col, "rps"))
        return json_real(round(v * 1000) / 1000);
    return json_integer((json_int_t)llround(v));
}

static int finish_series(merger *m)
{
    for (size_t i = 0; i < m->ns; i++) {
        acc_series *s = &m->sers[i];
        int req = col_of(s, "requests");
        json_t *rows = json_array();
        if (!rows)
            return VOLLEY_ENOMEM;
        for (size_t r = 0; r < s->len; r++) {
            const double *cells = s->cells + r * s->ncols;
            json_t *row = json_array();
            for (size_t k = 0; k < s->ncols; k++) {
                double v = cells[k];
                col_rule rule = rule_of(s->cols[k]);
                if (rule == COL_SECOND)
                    v = (double)(s->base + (int64_t)r - m->min_off_s);
                else if (rule == COL_MEAN)
                    v = req >= 0 && cells[req] > 0 ? v / cells[req] : 0;
                json_array_append_new(row, cell_json(s->cols[k], v));
            }
            json_array_append_new(rows, row);
        }
        json_object_set_new(s->obj, "rows", rows);
        json_object_del(s->obj, ACC_KEY);
    }
    return 0;
}

/* Segments 1..n not given, as a warning. */
static void check_missing(merger *m, json_t *missing)
{
    uint32_t n = m->nsrc ? m->src[0].seg_n : 0;
    buf b = {0};
    for (uint32_t k = 1; k <= n; k++) {
        bool have = false;
        for (size_t i = 0; i < m->nsrc && !have; i++)
            have = m->src[i].seg_k == k;
        if (!have) {
            buf_printf(&b, "%s%u", b.len ? ", " : "", k);
            json_array_append_new(missing, json_integer(k));
        }
    }
    if (b.len)
        warnf(m, "segments missing: %s of %u (the merged run is not whole)", b.data, n);
    buf_free(&b);
}

static json_t *sources_json(const merger *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->nsrc; i++) {
        const merge_source *s = &m->src[i];
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(s->file));
        json_object_set_new(o, "host", json_string(s->host));
        if (s->seg_n) {
            char t[32];
            snprintf(t, sizeof t, "%u/%u", s->seg_k, s->seg_n);
            json_object_set_new(o, "segment", json_string(t));
        } else {
            json_object_set_new(o, "segment", json_null());
        }
        json_object_set_new(o, "start_unix_ns", json_integer((json_int_t)s->start_ns));
        json_object_set_new(o, "start_late_ns", json_integer((json_int_t)s->late_ns));
        json_object_set_new(o, "duration_ns", json_integer((json_int_t)s->dur_ns));
        json_array_append_new(a, o);
    }
    return a;
}

static void finish_top(merger *m)
{
    json_t *r = m->root;
    uint64_t start = m->ref_start_ns;
    int64_t late = 0;
    for (size_t i = 0; i < m->nsrc; i++) {
        if (m->src[i].start_ns < start)
            start = m->src[i].start_ns;
        if (m->src[i].late_ns > late)
            late = m->src[i].late_ns;
    }
    char t[40];
    clock_format_rfc3339(start, t, sizeof t);
    json_object_set_new(r, "start", json_string(t));
    clock_format_rfc3339(m->end_ns, t, sizeof t);
    json_object_set_new(r, "end", json_string(t));
    json_object_set_new(r, "start_unix_ns", json_integer((json_int_t)start));
    json_object_set_new(r, "duration_ns", json_integer((json_int_t)(m->end_ns - start)));
    json_object_set_new(r, "thresholds", json_array());
    json_object_set_new(r, "host", json_string(""));
    json_object_set_new(r, "segment", json_null());
    json_object_set_new(r, "start_at_unix_ns",
                        json_integer((json_int_t)(m->nsrc ? m->src[0].start_at_ns : 0)));
    json_object_set_new(r, "start_late_ns", json_integer((json_int_t)late));
    json_t *mg = json_object(), *missing = json_array();
    check_missing(m, missing);
    json_object_set_new(mg, "inputs", sources_json(m));
    json_object_set_new(mg, "segments", json_integer(m->nsrc ? m->src[0].seg_n : 0));
    json_object_set_new(mg, "missing_segments", missing);
    json_object_set_new(mg, "forced", json_boolean(m->force));
    json_object_set_new(mg, "warnings", json_string(merge_warnings(m)));
    json_object_set_new(r, "merge", mg);
    json_object_set_new(r, "warning", json_string(json_array_size(missing) ?
                        "segments missing: the merged run is not whole" : ""));
}

int merge_finish(merger *m, results *out, err *e)
{
    memset(out, 0, sizeof *out);
    if (!m->nsrc)
        return err_set(e, VOLLEY_EINVAL, "merge: no results given");
    if (finish_hists(m) || finish_series(m))
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    finish_top(m);
    char *text = json_dumps(m->root, JSON_COMPACT);
    if (!text)
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    int rc = results_json_parse(text, strlen(text), "merged results", out, e);
    free(text);
    return rc;
}

const char *const *merge_thresholds(const merger *m, size_t *n)
{
    *n = m->nthr;
    return (const char *const *)m->thr;
}

int merge_write_extra(json_t *root, const void *ctx)
{
    const merger *m = ctx;
    const char *k;
    json_t *v;
    json_object_foreach(m->root, k, v)
        if (!json_object_get(root, k) && json_object_set(root, k, v))
            return -1;
    return 0;
}
