/* merge: merges results.json documents of one plan (see merge.h) into one
 * tree, reading each input once as a stream. Generic, so that counters
 * volley adds later merge without code here: integers add, histograms
 * (a "histogram" encoding) add bucket by bucket into metrics/hist, series
 * ("columns" and "rows") add row by row on wall-clock seconds. The merged
 * tree is read back by results_read, so every derived figure is computed
 * again; cmd/merge writes it. */
#include "results/merge.h"

#include "core/buf.h"
#include "core/clock.h"
#include "results/results_read.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
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


merger *merge_new(bool force, err *e)
{
    merger *m = calloc(1, sizeof *m);
    if (!m || !(m->root = json_object())) {
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

static void series_add_row(acc_series *s, const int *map, size_t ncols, const double *vals,
                           int64_t off_s, int req_col)
{
    int sec_col = col_of(s, "second");
    double sec = 0, req = req_col >= 0 ? vals[req_col] : 0;
    for (size_t k = 0; k < ncols; k++)
        if (map[k] >= 0 && map[k] == sec_col)
            sec = vals[k];
    double *cells = series_row_at(s, (int64_t)sec + off_s);
    if (!cells)
        return;
    for (size_t k = 0; k < ncols; k++) {
        if (map[k] < 0)
            continue;
        double v = vals[k], *d = &cells[map[k]];
        switch (rule_of(s->cols[map[k]])) {
        case COL_SECOND: break;
        case COL_MAX: *d = v > *d ? v : *d; break;
        case COL_MEAN: *d += v * req; break;
        case COL_SUM: *d += v; break;
        }
    }
}

/* ---- a JSON scanner that merges as it reads ----
 * Inputs are not parsed into trees: a thousand results files are hundreds
 * of megabytes. The walk reads each value once and adds it into the merged
 * tree in place; values it has no use for (derived figures) are skipped. */

typedef struct scan {
    const char *p, *end, *base;
} scan;

#define SCAN_SERIES_COLS 64

static int bad(mctx *c, const scan *s, const char *what)
{
    if (!c->rc)
        c->rc = err_set(c->e, VOLLEY_EPARSE, "%s: malformed JSON at byte %zu: %s", c->name,
                        (size_t)(s->p - s->base), what);
    return c->rc;
}

static void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static bool eat(scan *s, char ch)
{
    ws(s);
    if (s->p < s->end && *s->p == ch) {
        s->p++;
        return true;
    }
    return false;
}

/* At '"': the raw text between the quotes; *esc tells whether it has escapes. */
static int raw_string(mctx *c, scan *s, const char **str, size_t *len, bool *esc)
{
    const char *q = s->p + 1;
    *esc = false;
    for (;;) {
        const char *x = memchr(q, '"', (size_t)(s->end - q));
        if (!x)
            return bad(c, s, "unterminated string");
        size_t bs = 0;
        for (const char *b = x - 1; b >= q && *b == '\\'; b--)
            bs++;
        *esc |= memchr(q, '\\', (size_t)(x - q)) != NULL;
        q = x + 1;
        if (bs % 2 == 0)
            break;
    }
    *str = s->p + 1;
    *len = (size_t)(q - 1 - *str);
    s->p = q;
    return 0;
}

static int skip_value(mctx *c, scan *s)
{
    const char *str;
    size_t len;
    bool esc;
    ws(s);
    if (s->p >= s->end)
        return bad(c, s, "value expected");
    if (*s->p == '"')
        return raw_string(c, s, &str, &len, &esc);
    if (*s->p != '{' && *s->p != '[') {
        while (s->p < s->end && !strchr(",}] \n\r\t", *s->p))
            s->p++;
        return 0;
    }
    int depth = 0;
    while (s->p < s->end) {
        char ch = *s->p;
        if (ch == '"') {
            if (raw_string(c, s, &str, &len, &esc))
                return c->rc;
            continue;
        }
        s->p++;
        if (ch == '{' || ch == '[')
            depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0)
            return 0;
    }
    return bad(c, s, "unterminated object or array");
}

/* Any value as a jansson tree (for the few small values kept whole). */
static json_t *load_value(mctx *c, scan *s)
{
    ws(s);
    const char *from = s->p;
    if (skip_value(c, s))
        return NULL;
    json_error_t je;
    json_t *v = json_loadb(from, (size_t)(s->p - from), JSON_DECODE_ANY, &je);
    if (!v)
        bad(c, s, je.text);
    return v;
}

/* A member's key, unescaped into key (a short ASCII name in every file volley
 * writes). */
static int read_key(mctx *c, scan *s, char *key, size_t cap)
{
    const char *str;
    size_t len;
    bool esc;
    ws(s);
    if (s->p >= s->end || *s->p != '"')
        return bad(c, s, "key expected");
    if (raw_string(c, s, &str, &len, &esc))
        return c->rc;
    if (esc || len >= cap)
        return bad(c, s, "key too long or escaped");
    memcpy(key, str, len);
    key[len] = '\0';
    return eat(s, ':') ? 0 : bad(c, s, "':' expected");
}

/* Number at s->p: integers exactly; reals by a short path for plain
 * decimals, else strtod. */
static int read_number(mctx *c, scan *s, json_int_t *iv, double *dv, bool *is_int)
{
    const char *q = s->p;
    bool neg = q < s->end && *q == '-';
    q += neg;
    uint64_t v = 0;
    const char *d0 = q;
    while (q < s->end && *q >= '0' && *q <= '9' && q - d0 < 18)
        v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == d0)
        return bad(c, s, "number expected");
    bool more = q < s->end && ((*q >= '0' && *q <= '9') || *q == 'e' || *q == 'E');
    if (q < s->end && *q == '.' && !more) {
        double f = 0, scale = 1;
        const char *r = q + 1;
        while (r < s->end && *r >= '0' && *r <= '9' && scale > 1e-15) {
            f = f * 10 + (*r++ - '0');
            scale *= 10;
        }
        if (r < s->end && !strchr("0123456789eE", *r)) {
            *dv = ((double)v + f / scale) * (neg ? -1 : 1);
            *is_int = false;
            s->p = r;
            return 0;
        }
    }
    if (more || (q < s->end && *q == '.')) {
        char *e2;
        *dv = strtod(s->p, &e2);
        *is_int = false;
        s->p = e2;
        return 0;
    }
    *iv = neg ? -(json_int_t)v : (json_int_t)v;
    *is_int = true;
    s->p = q;
    return 0;
}

static void merge_object(mctx *c, json_t *dst, scan *s);

static void merge_int(json_t *dst, const char *key, json_t *dv, json_int_t b)
{
    json_int_t a = json_integer_value(dv);
    bool special = strchr("ditso", key[0]) != NULL; /* the first letters below */
    if (special && !strcmp(key, "duration_ns")) /* the longest part is the run's length */
        json_integer_set(dv, a > b ? a : b);
    else if (!special || (strcmp(key, "index") && strcmp(key, "target_vus") &&
                          strcmp(key, "offset_ns") && strcmp(key, "schema_version")))
        json_integer_set(dv, a + b); /* a counter */
    (void)dst;
}

/* A number member: counters add; reals other than min and max are derived
 * figures (rates, means, percentiles), computed again from the merged
 * counts and histograms, so the first input's stand until then. */
static void merge_number(mctx *c, json_t *dst, const char *key, json_t *dv, scan *s)
{
    bool keep_real = dv && json_is_real(dv) &&
                     (key[0] != 'm' || (strcmp(key, "min") && strcmp(key, "max")));
    if (keep_real) {
        skip_value(c, s);
        return;
    }
    json_int_t iv = 0;
    double d = 0;
    bool is_int;
    if (read_number(c, s, &iv, &d, &is_int))
        return;
    if (!dv)
        json_object_set_new(dst, key, is_int ? json_integer(iv) : json_real(d));
    else if (is_int && json_is_integer(dv))
        merge_int(dst, key, dv, iv);
    else if (json_is_number(dv) && !strcmp(key, "min") && (is_int ? (double)iv : d) <
             json_number_value(dv))
        json_object_set_new(dst, key, is_int ? json_integer(iv) : json_real(d));
    else if (json_is_number(dv) && !strcmp(key, "max") && (is_int ? (double)iv : d) >
             json_number_value(dv))
        json_object_set_new(dst, key, is_int ? json_integer(iv) : json_real(d));
}

static bool enc_u64(const char **p, const char *end, uint64_t *v)
{
    const char *q = *p;
    uint64_t x = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t)(*q - '0'), &x))
            return false;
        q++;
    }
    if (q == *p)
        return false;
    *p = q;
    *v = x;
    return true;
}

static bool enc_field(const char **p, const char *end, uint64_t *v)
{
    return enc_u64(p, end, v) && *p < end && *(*p)++ == ';';
}

/* Adds a histogram encoding (hist_encode's "v1;min;max;sum;clamped;
 * idx:c1:c2,...") to h bucket by bucket, touching only the buckets it
 * names: decoding into a whole histogram and merging that would scan every
 * bucket between the lowest and the highest, for each input. */
static int hist_text_add(hist *h, const char *s, size_t len, err *e)
{
    const char *p = s + 3, *end = s + len;
    uint64_t mn, mx, sum, cl, idx, n, added = 0;
    uint64_t had = hist_count(h), omin = hist_min(h), omax = hist_max(h), osum = hist_sum(h);
    uint64_t ocl = hist_clamped(h);
    if (!enc_field(&p, end, &mn) || !enc_field(&p, end, &mx) || !enc_field(&p, end, &sum) ||
        !enc_field(&p, end, &cl))
        return err_set(e, VOLLEY_EPARSE, "histogram: bad summary in '%.40s'", s);
    while (p < end) {
        if (!enc_u64(&p, end, &idx) || p >= end || *p != ':')
            return err_set(e, VOLLEY_EPARSE, "histogram: bad bucket at byte %zu", (size_t)(p - s));
        while (p < end && *p == ':') {
            p++;
            if (!enc_u64(&p, end, &n))
                return err_set(e, VOLLEY_EPARSE, "histogram: bad count at byte %zu",
                               (size_t)(p - s));
            int rc = hist_add_bucket(h, idx++, n, e);
            if (rc)
                return rc;
            added += n;
        }
        if (p < end && *p++ != ',')
            return err_set(e, VOLLEY_EPARSE, "histogram: ',' expected at byte %zu",
                           (size_t)(p - 1 - s));
    }
    if (!added)
        return 0;
    uint64_t tot = osum + sum < osum ? UINT64_MAX : osum + sum; /* the sum saturates */
    hist_set_summary(h, had && omin < mn ? omin : mn, had && omax > mx ? omax : mx, tot,
                     ocl + cl);
    return 0;
}

static void merge_hist_text(mctx *c, json_t *dst, const char *enc, size_t len)
{
    hist *h = hist_acc(c, dst);
    if (!h) {
        nomem(c);
        return;
    }
    if (hist_text_add(h, enc, len, c->e))
        c->rc = c->e && c->e->code ? c->e->code : VOLLEY_EPARSE;
}

/* A string member: a histogram's encoding merges; other strings are the
 * first input's. */
static void merge_string(mctx *c, json_t *dst, const char *key, json_t *dv, scan *s)
{
    const char *str;
    size_t len;
    bool esc;
    const char *from = s->p;
    if (raw_string(c, s, &str, &len, &esc))
        return;
    if (key[0] == 'h' && !strcmp(key, "histogram") && !esc && len > 3 &&
        !memcmp(str, "v1;", 3)) {
        merge_hist_text(c, dst, str, len);
        return;
    }
    if (dv)
        return;
    json_t *v = NULL;
    if (!esc) {
        v = json_stringn(str, len);
    } else {
        json_error_t je;
        v = json_loadb(from, (size_t)(s->p - from), JSON_DECODE_ANY, &je);
    }
    if (!v || json_object_set_new(dst, key, v))
        nomem(c);
}

/* A series object's columns: names, and the accumulator of dst. */
typedef struct series_in {
    acc_series *acc;
    int map[SCAN_SERIES_COLS];
    size_t ncols;
    int req_col;
} series_in;

static void read_columns(mctx *c, json_t *dst, scan *s, series_in *si)
{
    json_t *cols = load_value(c, s);
    if (!cols)
        return;
    if (!json_is_array(cols) || json_array_size(cols) > SCAN_SERIES_COLS) {
        json_decref(cols);
        bad(c, s, "series columns must be an array of at most 64 names");
        return;
    }
    si->acc = series_acc(c, dst, cols);
    si->ncols = json_array_size(cols);
    si->req_col = -1;
    for (size_t k = 0; si->acc && k < si->ncols; k++) {
        const char *n = json_string_value(json_array_get(cols, k));
        si->map[k] = n ? col_of(si->acc, n) : -1;
        if (n && !strcmp(n, "requests"))
            si->req_col = (int)k;
    }
    json_decref(cols);
    if (!si->acc)
        nomem(c);
}

static void read_rows(mctx *c, scan *s, const series_in *si)
{
    if (!eat(s, '['))
        return (void)bad(c, s, "series rows must be an array");
    if (eat(s, ']'))
        return;
    do {
        double vals[SCAN_SERIES_COLS] = {0};
        size_t k = 0;
        if (!eat(s, '['))
            return (void)bad(c, s, "a series row must be an array");
        if (!eat(s, ']')) {
            do {
                json_int_t iv;
                bool is_int;
                ws(s);
                double d = 0;
                if (read_number(c, s, &iv, &d, &is_int))
                    return;
                if (k < si->ncols)
                    vals[k] = is_int ? (double)iv : d;
                k++;
            } while (eat(s, ','));
            if (!eat(s, ']'))
                return (void)bad(c, s, "',' or ']' expected in a series row");
        }
        if (k != si->ncols)
            return (void)bad(c, s, "a series row has another number of values than columns");
        series_add_row(si->acc, si->map, si->ncols, vals, c->off_s, si->req_col);
    } while (eat(s, ','));
    if (!eat(s, ']'))
        bad(c, s, "',' or ']' expected after a series row");
}

/* What identifies an element of an array of objects: endpoints by name,
 * method and URL; sweep steps by index. */
typedef struct ident {
    char name[128], method[32], url[4200];
    bool has_name, has_index;
    json_int_t index;
} ident;

static void ident_str(mctx *c, scan *s, char *out, size_t cap)
{
    const char *str;
    size_t len;
    bool esc;
    if (raw_string(c, s, &str, &len, &esc))
        return;
    snprintf(out, cap, "%.*s", (int)len, str);
}

/* Reads the identity members of the object at s->p without moving s; stops
 * at the first nested value once an identity is known (volley writes them
 * first). */
static void read_ident(mctx *c, const scan *at, ident *id)
{
    scan s = *at;
    char key[256];
    memset(id, 0, offsetof(ident, index));
    id->name[0] = id->method[0] = id->url[0] = '\0';
    if (!eat(&s, '{') || eat(&s, '}'))
        return;
    do {
        if (read_key(c, &s, key, sizeof key))
            return;
        ws(&s);
        char ch = s.p < s.end ? *s.p : 0;
        if (ch == '"' && !strcmp(key, "name"))
            ident_str(c, &s, id->name, sizeof id->name), id->has_name = true;
        else if (ch == '"' && !strcmp(key, "method"))
            ident_str(c, &s, id->method, sizeof id->method);
        else if (ch == '"' && !strcmp(key, "url"))
            ident_str(c, &s, id->url, sizeof id->url);
        else if (!strcmp(key, "index") && ch != '{' && ch != '[') {
            double d;
            bool is_int;
            id->has_index = !read_number(c, &s, &id->index, &d, &is_int) && is_int;
        } else if ((ch == '{' || ch == '[') && (id->has_name || id->has_index))
            return;
        else if (skip_value(c, &s))
            return;
    } while (!c->rc && eat(&s, ','));
}

static bool str_is(json_t *o, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? !strcmp(v, want) : !*want;
}

static bool ident_match(json_t *o, const ident *id)
{
    if (!json_is_object(o))
        return false;
    if (id->has_index)
        return json_integer_value(json_object_get(o, "index")) == id->index &&
               json_is_integer(json_object_get(o, "index"));
    return str_is(o, "name", id->name) && str_is(o, "method", id->method) &&
           str_is(o, "url", id->url);
}

static json_t *find_element(json_t *arr, const ident *id, size_t hint)
{
    if (!id->has_name && !id->has_index)
        return json_array_get(arr, hint); /* by position */
    if (ident_match(json_array_get(arr, hint), id))
        return json_array_get(arr, hint);
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
        if (ident_match(x, id))
            return x;
    return NULL;
}

static void merge_array(mctx *c, json_t *dst, scan *s)
{
    if (!eat(s, '[') || eat(s, ']'))
        return;
    size_t i = 0;
    do {
        ws(s);
        if (s->p < s->end && *s->p == '{') {
            ident id;
            read_ident(c, s, &id);
            json_t *dv = find_element(dst, &id, i);
            if (!dv || !json_is_object(dv)) {
                if (!(dv = json_object()) || json_array_append_new(dst, dv))
                    return (void)nomem(c);
            }
            merge_object(c, dv, s);
        } else if (i >= json_array_size(dst)) {
            json_t *v = load_value(c, s);
            if (v && json_array_append_new(dst, v))
                nomem(c);
        } else {
            skip_value(c, s);
        }
        i++;
    } while (!c->rc && eat(s, ','));
    if (!c->rc && !eat(s, ']'))
        bad(c, s, "',' or ']' expected in an array");
}

/* One member of an object: key read, s at its value. */
static void merge_member(mctx *c, json_t *dst, const char *key, json_t *dv, scan *s,
                         series_in *si)
{
    ws(s);
    if (s->p >= s->end)
        return (void)bad(c, s, "value expected");
    char ch = *s->p;
    if (ch == '[' && !strcmp(key, "columns")) {
        read_columns(c, dst, s, si);
    } else if (ch == '[' && !strcmp(key, "rows") && si->acc) {
        read_rows(c, s, si);
    } else if (ch == '{' || ch == '[') {
        bool obj = ch == '{';
        if (!dv || (obj ? !json_is_object(dv) : !json_is_array(dv))) {
            dv = obj ? json_object() : json_array();
            if (!dv || json_object_set_new(dst, key, dv))
                return (void)nomem(c);
        }
        if (obj)
            merge_object(c, dv, s);
        else
            merge_array(c, dv, s);
    } else if (ch == '"') {
        merge_string(c, dst, key, dv, s);
    } else if (ch == 't' || ch == 'f' || ch == 'n') {
        json_t *v = load_value(c, s);
        if (v && (!dv || json_is_true(v)))  /* flags: any input's true holds */
            json_object_set(dst, key, v);
        json_decref(v);
    } else {
        merge_number(c, dst, key, dv, s);
    }
}

static void merge_object(mctx *c, json_t *dst, scan *s)
{
    if (!eat(s, '{'))
        return (void)bad(c, s, "'{' expected");
    if (eat(s, '}'))
        return;
    series_in si = {.acc = NULL};
    char key[256];
    /* Every input has the same members in the same order, and jansson keeps
     * insertion order: a cursor finds most members without hashing. */
    void *it = json_object_iter(dst);
    do {
        if (read_key(c, s, key, sizeof key))
            return;
        json_t *dv = NULL;
        const char *ik = it ? json_object_iter_key(it) : NULL;
        if (ik && ik[0] == key[0] && !strcmp(ik, key)) {
            dv = json_object_iter_value(it);
            it = json_object_iter_next(dst, it);
        } else if ((dv = json_object_get(dst, key))) {
            it = json_object_iter_next(dst, json_object_key_to_iter(key));
        }
        merge_member(c, dst, key, dv, s, &si);
    } while (!c->rc && eat(s, ','));
    if (!c->rc && !eat(s, '}'))
        bad(c, s, "',' or '}' expected in an object");
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
            int rc = s->seg_n ? err_set(e, VOLLEY_EINVAL, "%s: segment %u/%u was given twice "
                                        "(also %s)", s->file, s->seg_k, s->seg_n, o->file)
                              : err_set(e, VOLLEY_EINVAL, "%s and %s are whole runs (no "
                                        "--segment): --force merges repeated runs", o->file,
                                        s->file);
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

/* The members a document must have before any of it is merged. */
static bool has_required(json_t *head)
{
    return json_object_get(head, "schema_version") && json_object_get(head, "plan") &&
           json_object_get(head, "start_unix_ns") && json_object_get(head, "segment");
}

/* From a member boundary, reads the top-level members merge needs first
 * (plan, segment, start) into head; volley writes them near the top. */
static void prescan_head(mctx *c, scan s, json_t *head)
{
    char key[256];
    do {
        if (read_key(c, &s, key, sizeof key))
            return;
        if (own_key(key) && strcmp(key, "monitor") && !json_object_get(head, key)) {
            json_t *v = load_value(c, &s);
            if (!v)
                return;
            json_object_set_new(head, key, v);
        } else if (skip_value(c, &s)) {
            return;
        }
    } while (!has_required(head) && eat(&s, ','));
}

/* Checks plan and segment against the inputs so far; on success the
 * document's members may be merged (c->off_s set). */
static int admit(mctx *c, json_t *head)
{
    merger *m = c->m;
    merge_source s;
    int rc = read_source(head, &s, c->name, c->e);
    if (rc)
        return rc;
    json_t *plan = json_object_get(head, "plan");
    if (!c->partial && m->nsrc && !json_equal(plan, json_object_get(m->root, "plan")) &&
        (rc = plan_differs(m, json_object_get(m->root, "plan"), plan, c->name, c->e)))
        return rc;
    if (!c->partial && (rc = check_segment(m, &s, c->e)))
        return rc;
    if (!m->nsrc && !m->ref_set)
        m->ref_start_ns = s.start_ns;
    if (!m->nsrc && !json_object_get(m->root, "plan")) {
        json_object_set(m->root, "schema_version", json_object_get(head, "schema_version"));
        json_object_set(m->root, "tool", json_object_get(head, "tool"));
        json_object_set(m->root, "plan", plan);
    }
    c->off_s = llround(((double)s.start_ns - (double)m->ref_start_ns) / 1e9);
    if (c->off_s < m->min_off_s)
        m->min_off_s = c->off_s;
    return 0;
}

/* After the document: its record among the inputs. */
static int record_partial(merger *m, const merger *p);

static int record(mctx *c, json_t *head)
{
    merger *m = c->m;
    if (c->partial)
        return record_partial(m, c->partial) ? err_set(c->e, VOLLEY_ENOMEM, "out of memory") : 0;
    merge_source s;
    int rc = read_source(head, &s, c->name, c->e);
    if (rc)
        return rc;
    merge_source *a = grow(m->src, &m->capsrc, m->nsrc + 1, sizeof *a);
    if (!a)
        return err_set(c->e, VOLLEY_ENOMEM, "merge: out of memory");
    m->src = a;
    a[m->nsrc++] = s;
    if (s.start_ns + s.dur_ns > m->end_ns)
        m->end_ns = s.start_ns + s.dur_ns;
    const char *w = json_string_value(json_object_get(head, "warning"));
    if (w && *w)
        warnf(m, "%s: %s", c->name, w);
    add_thresholds(m, head);
    return 0;
}

/* The top-level members of one document. */
static void merge_members(mctx *c, scan *s, json_t *head, bool *admitted)
{
    bool prescanned = false;
    char key[256];
    series_in none = {.acc = NULL};
    do {
        if (!*admitted && !prescanned) {
            prescan_head(c, *s, head);
            prescanned = true;
        }
        if (read_key(c, s, key, sizeof key))
            return;
        if (own_key(key)) {
            json_t *v = NULL;
            if (!strcmp(key, "monitor") || json_object_get(head, key))
                skip_value(c, s);
            else if ((v = load_value(c, s)))
                json_object_set_new(head, key, v);
            continue;
        }
        if (!*admitted && admit(c, head)) {
            c->rc = c->rc ? c->rc : (c->e ? c->e->code : VOLLEY_EINVAL);
            return;
        }
        *admitted = true;
        merge_member(c, c->m->root, key, json_object_get(c->m->root, key), s, &none);
    } while (!c->rc && eat(s, ','));
}

/* Merges the document at the start of text; *used: its length. */
static int merge_doc(merger *m, const char *text, size_t len, const char *name, size_t *used,
                     merger *partial, err *e)
{
    scan s = {text, text + len, text};
    mctx c = {.m = m, .e = e, .name = name, .partial = partial};
    json_t *head = json_object();
    bool admitted = false;
    if (!head)
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    if (!eat(&s, '{'))
        bad(&c, &s, "a results document is a JSON object");
    else if (!eat(&s, '}'))
        merge_members(&c, &s, head, &admitted);
    if (!c.rc && !eat(&s, '}'))
        bad(&c, &s, "',' or '}' expected");
    if (!c.rc && !admitted && admit(&c, head))
        c.rc = e && e->code ? e->code : VOLLEY_EINVAL;
    if (!c.rc)
        c.rc = record(&c, head);
    json_decref(head);
    *used = (size_t)(s.p - text);
    return c.rc;
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
        char doc[300];
        if (n)
            snprintf(doc, sizeof doc, "%s#%zu", name, n + 1);
        else
            snprintf(doc, sizeof doc, "%s", name);
        size_t used = 0;
        int rc = merge_doc(m, text + off, len - off, doc, &used, NULL, e);
        if (rc)
            return rc;
        n++;
        off = next_doc(text, len, off + used);
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
        hist_free(m->hists[i].h); /* encoded: its memory can go now */
        m->hists[i].h = NULL;
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

/* ---- merging in parallel ---- */

void merge_set_reference(merger *m, uint64_t start_unix_ns)
{
    m->ref_start_ns = start_unix_ns;
    m->ref_set = true;
}

uint64_t merge_peek_start(const char *text, size_t len)
{
    size_t off = next_doc(text, len, 0);
    scan s = {text + off, text + len, text};
    err e = {0};
    mctx c = {.e = &e, .name = ""};
    json_t *head = json_object();
    if (head && off < len && eat(&s, '{'))
        prescan_head(&c, s, head);
    json_t *v = json_object_get(head, "start_unix_ns");
    uint64_t t = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
    json_decref(head);
    return t;
}

/* p's inputs, thresholds and warnings become m's. */
static int record_partial(merger *m, const merger *p)
{
    merge_source *a = grow(m->src, &m->capsrc, m->nsrc + p->nsrc, sizeof *a);
    if (!a)
        return VOLLEY_ENOMEM;
    m->src = a;
    memcpy(a + m->nsrc, p->src, p->nsrc * sizeof *a);
    m->nsrc += p->nsrc;
    if (p->end_ns > m->end_ns)
        m->end_ns = p->end_ns;
    if (p->warn.len)
        buf_printf(&m->warn, "%s", p->warn.data);
    json_t *th = json_object(), *arr = json_array();
    for (size_t i = 0; i < p->nthr; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "expr", json_string(p->thr[i]));
        json_array_append_new(arr, o);
    }
    json_object_set_new(th, "thresholds", arr);
    add_thresholds(m, th);
    json_decref(th);
    return 0;
}

int merge_absorb(merger *m, merger *p, err *e)
{
    if (!p->nsrc)
        return 0;
    int rc;
    for (size_t i = 0; i < p->nsrc; i++)
        if ((rc = check_segment(m, &p->src[i], e)))
            return rc;
    json_t *plan = json_object_get(p->root, "plan");
    if (m->nsrc && !json_equal(plan, json_object_get(m->root, "plan")) &&
        (rc = plan_differs(m, json_object_get(m->root, "plan"), plan, p->src[0].file, e)))
        return rc;
    if (finish_hists(p) || finish_series(p))
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    /* Its rows were shifted by its earliest second: so is its start. */
    uint64_t start = p->ref_start_ns + (uint64_t)(p->min_off_s * (int64_t)NS_PER_S);
    json_object_set_new(p->root, "start_unix_ns", json_integer((json_int_t)start));
    json_object_set_new(p->root, "segment", json_null());
    char *text = json_dumps(p->root, JSON_COMPACT);
    if (!text)
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    size_t used;
    rc = merge_doc(m, text, strlen(text), p->src[0].file, &used, p, e);
    free(text);
    return rc;
}
