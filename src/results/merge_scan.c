/* merge_scan: reads a results document once, as a stream, and merges each
 * value into the merged tree in place (results/merge): integers add,
 * histogram encodings add bucket by bucket, series rows add on wall-clock
 * seconds, arrays of endpoints and steps match by name or index. Values it
 * has no use for (derived figures) are skipped, never parsed into trees. */
#include "results/merge_scan.h"

#include "metrics/hist.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mscan_nomem(mctx *c)
{
    if (!c->rc)
        c->rc = err_set(c->e, VOLLEY_ENOMEM, "merge: out of memory");
    return c->rc;
}

/* ---- accumulators, found through a hidden key of their object ---- */

void *mscan_grow(void *arr, size_t *cap, size_t need, size_t size)
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
    acc_hist *a = mscan_grow(m->hists, &m->caph, m->nh + 1, sizeof *a);
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

/* A series' column names as met in an input: raw text, no escapes. */
typedef struct col_names {
    const char *name[SCAN_SERIES_COLS];
    size_t len[SCAN_SERIES_COLS];
    size_t n;
} col_names;

/* The accumulator of a series object dst, made on its first columns (which
 * dst keeps as its "columns"); the rule of each column is found once. */
static acc_series *series_acc(mctx *c, json_t *dst, const col_names *cn)
{
    merger *m = c->m;
    long i = acc_index(dst);
    if (i >= 0)
        return &m->sers[i];
    acc_series *a = mscan_grow(m->sers, &m->caps, m->ns + 1, sizeof *a);
    if (!a)
        return NULL;
    m->sers = a;
    acc_series *s = &a[m->ns];
    memset(s, 0, sizeof *s);
    s->obj = dst;
    s->ncols = cn->n;
    s->sec_col = -1;
    json_t *cols = json_array();
    s->cols = calloc(cn->n ? cn->n : 1, sizeof *s->cols);
    s->rules = calloc(cn->n ? cn->n : 1, sizeof *s->rules);
    if (!cols || !s->cols || !s->rules) {
        json_decref(cols);
        return NULL;
    }
    for (size_t k = 0; k < cn->n; k++) {
        if (!(s->cols[k] = strndup(cn->name[k], cn->len[k])) ||
            json_array_append_new(cols, json_string(s->cols[k]))) {
            json_decref(cols);
            return NULL;
        }
        s->rules[k] = mscan_rule(s->cols[k]);
        if (s->rules[k] == COL_SECOND && s->sec_col < 0)
            s->sec_col = (int)k;
    }
    json_object_set_new(dst, "columns", cols);
    json_object_set_new(dst, ACC_KEY, json_integer((json_int_t)m->ns++));
    return s;
}

int mscan_col(const acc_series *s, const char *name)
{
    for (size_t k = 0; k < s->ncols; k++)
        if (!strcmp(s->cols[k], name))
            return (int)k;
    return -1;
}

/* mscan_col for a name of len bytes (not terminated); the same position
 * first, as inputs list their columns in the same order. */
static int col_index(const acc_series *s, size_t hint, const char *name, size_t len)
{
    if (hint < s->ncols && !strncmp(s->cols[hint], name, len) && !s->cols[hint][len])
        return (int)hint;
    for (size_t k = 0; k < s->ncols; k++)
        if (!strncmp(s->cols[k], name, len) && !s->cols[k][len])
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

/* Percentile and max columns cannot add: the merged row keeps the largest
 * (an upper bound, exact for max); the mean is weighted by requests. */
col_rule mscan_rule(const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "second"))
        return COL_SECOND;
    if (!strcmp(name, "mean_ms"))
        return COL_MEAN;
    if (n > 3 && !strcmp(name + n - 3, "_ms") &&
        (name[0] == 'p' || !strncmp(name, "max", 3) || strstr(name, "_p")))
        return COL_MAX; /* p99_ms, max_ms, send_lag_p99_ms */
    return COL_SUM;
}

static void series_add_row(acc_series *s, const int *map, size_t ncols, const double *vals,
                           int64_t off_s, int req_col)
{
    double sec = 0, req = req_col >= 0 ? vals[req_col] : 0;
    for (size_t k = 0; k < ncols; k++)
        if (map[k] >= 0 && map[k] == s->sec_col)
            sec = vals[k];
    double *cells = series_row_at(s, (int64_t)sec + off_s);
    if (!cells)
        return;
    for (size_t k = 0; k < ncols; k++) {
        if (map[k] < 0)
            continue;
        double v = vals[k], *d = &cells[map[k]];
        switch (s->rules[map[k]]) {
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

int mscan_bad(mctx *c, const mscan *s, const char *what)
{
    if (!c->rc)
        c->rc = err_set(c->e, VOLLEY_EPARSE, "%s: malformed JSON at byte %zu: %s", c->name,
                        (size_t)(s->p - s->base), what);
    return c->rc;
}

void mscan_ws(mscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

bool mscan_eat(mscan *s, char ch)
{
    mscan_ws(s);
    if (s->p < s->end && *s->p == ch) {
        s->p++;
        return true;
    }
    return false;
}

/* At '"': the raw text between the quotes; *esc tells whether it has escapes. */
static int raw_string(mctx *c, mscan *s, const char **str, size_t *len, bool *esc)
{
    const char *q = s->p + 1;
    *esc = false;
    for (;;) {
        const char *x = memchr(q, '"', (size_t)(s->end - q));
        if (!x)
            return mscan_bad(c, s, "unterminated string");
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

int mscan_skip(mctx *c, mscan *s)
{
    const char *str;
    size_t len;
    bool esc;
    mscan_ws(s);
    if (s->p >= s->end)
        return mscan_bad(c, s, "value expected");
    if (*s->p == '"')
        return raw_string(c, s, &str, &len, &esc);
    if (*s->p != '{' && *s->p != '[') {
        for (; s->p < s->end; s->p++) {
            char ch = *s->p;
            if (ch == ',' || ch == '}' || ch == ']' || ch == ' ' || ch == '\n' || ch == '\r' ||
                ch == '\t')
                break;
        }
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
    return mscan_bad(c, s, "unterminated object or array");
}

/* Any value as a jansson tree (for the few small values kept whole). */
json_t *mscan_load(mctx *c, mscan *s)
{
    mscan_ws(s);
    const char *from = s->p;
    if (mscan_skip(c, s))
        return NULL;
    json_error_t je;
    json_t *v = json_loadb(from, (size_t)(s->p - from), JSON_DECODE_ANY, &je);
    if (!v)
        mscan_bad(c, s, je.text);
    return v;
}

/* A member's key, unescaped into key (a short ASCII name in every file volley
 * writes). */
int mscan_key(mctx *c, mscan *s, char *key, size_t cap)
{
    const char *str;
    size_t len;
    bool esc;
    mscan_ws(s);
    if (s->p >= s->end || *s->p != '"')
        return mscan_bad(c, s, "key expected");
    if (raw_string(c, s, &str, &len, &esc))
        return c->rc;
    if (esc || len >= cap)
        return mscan_bad(c, s, "key too long or escaped");
    memcpy(key, str, len);
    key[len] = '\0';
    return mscan_eat(s, ':') ? 0 : mscan_bad(c, s, "':' expected");
}

/* Number at s->p: integers exactly; reals by a short path for plain
 * decimals, else strtod. */
static int read_number(mctx *c, mscan *s, json_int_t *iv, double *dv, bool *is_int)
{
    const char *q = s->p;
    bool neg = q < s->end && *q == '-';
    q += neg;
    uint64_t v = 0;
    const char *d0 = q;
    while (q < s->end && *q >= '0' && *q <= '9' && q - d0 < 18)
        v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == d0)
        return mscan_bad(c, s, "number expected");
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

static void merge_object(mctx *c, json_t *dst, mscan *s);

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
static void merge_number(mctx *c, json_t *dst, const char *key, json_t *dv, mscan *s)
{
    bool keep_real = dv && json_is_real(dv) &&
                     (key[0] != 'm' || (strcmp(key, "min") && strcmp(key, "max")));
    if (keep_real) {
        mscan_skip(c, s);
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
 * names: decoding into a whole histogram and merging that would mscan every
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
        mscan_nomem(c);
        return;
    }
    if (hist_text_add(h, enc, len, c->e))
        c->rc = c->e && c->e->code ? c->e->code : VOLLEY_EPARSE;
}

/* A string member: a histogram's encoding merges; other strings are the
 * first input's. */
static void merge_string(mctx *c, json_t *dst, const char *key, json_t *dv, mscan *s)
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
        mscan_nomem(c);
}

/* A series object's columns: names, and the accumulator of dst. */

/* The names, read as raw strings (volley writes plain ASCII names): the
 * accumulator is found by them without building a tree for each input. */
static int scan_col_names(mctx *c, mscan *s, col_names *cn)
{
    cn->n = 0;
    if (!mscan_eat(s, '['))
        return mscan_bad(c, s, "series columns must be an array");
    if (mscan_eat(s, ']'))
        return 0;
    do {
        bool esc;
        mscan_ws(s);
        if (s->p >= s->end || *s->p != '"' || cn->n == SCAN_SERIES_COLS)
            return mscan_bad(c, s, "series columns must be an array of at most 64 names");
        if (raw_string(c, s, &cn->name[cn->n], &cn->len[cn->n], &esc))
            return c->rc;
        if (esc)
            return mscan_bad(c, s, "a series column name with escapes");
        cn->n++;
    } while (mscan_eat(s, ','));
    return mscan_eat(s, ']') ? 0 : mscan_bad(c, s, "',' or ']' expected in series columns");
}

static void read_columns(mctx *c, json_t *dst, mscan *s, mscan_series *si)
{
    col_names cn;
    if (scan_col_names(c, s, &cn))
        return;
    if (!(si->acc = series_acc(c, dst, &cn))) {
        mscan_nomem(c);
        return;
    }
    si->ncols = cn.n;
    si->req_col = -1;
    for (size_t k = 0; k < cn.n; k++) {
        si->map[k] = col_index(si->acc, k, cn.name[k], cn.len[k]);
        if (cn.len[k] == 8 && !memcmp(cn.name[k], "requests", 8))
            si->req_col = (int)k;
    }
}

static void read_rows(mctx *c, mscan *s, const mscan_series *si)
{
    if (!mscan_eat(s, '['))
        return (void)mscan_bad(c, s, "series rows must be an array");
    if (mscan_eat(s, ']'))
        return;
    do {
        double vals[SCAN_SERIES_COLS];
        size_t k = 0;
        if (!mscan_eat(s, '['))
            return (void)mscan_bad(c, s, "a series row must be an array");
        if (!mscan_eat(s, ']')) {
            do {
                json_int_t iv;
                bool is_int;
                mscan_ws(s);
                double d = 0;
                if (read_number(c, s, &iv, &d, &is_int))
                    return;
                if (k < si->ncols)
                    vals[k] = is_int ? (double)iv : d;
                k++;
            } while (mscan_eat(s, ','));
            if (!mscan_eat(s, ']'))
                return (void)mscan_bad(c, s, "',' or ']' expected in a series row");
        }
        if (k != si->ncols)
            return (void)mscan_bad(c, s, "a series row has another number of values than columns");
        series_add_row(si->acc, si->map, si->ncols, vals, c->off_s, si->req_col);
    } while (mscan_eat(s, ','));
    if (!mscan_eat(s, ']'))
        mscan_bad(c, s, "',' or ']' expected after a series row");
}

/* What identifies an element of an array of objects: endpoints by name,
 * method and URL; sweep steps by index. */
typedef struct ident {
    char name[128], method[32], url[4200];
    bool has_name, has_index;
    json_int_t index;
} ident;

static void ident_str(mctx *c, mscan *s, char *out, size_t cap)
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
static void read_ident(mctx *c, const mscan *at, ident *id)
{
    mscan s = *at;
    char key[256];
    memset(id, 0, offsetof(ident, index));
    id->name[0] = id->method[0] = id->url[0] = '\0';
    if (!mscan_eat(&s, '{') || mscan_eat(&s, '}'))
        return;
    do {
        if (mscan_key(c, &s, key, sizeof key))
            return;
        mscan_ws(&s);
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
        else if (mscan_skip(c, &s))
            return;
    } while (!c->rc && mscan_eat(&s, ','));
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

static void merge_array(mctx *c, json_t *dst, mscan *s)
{
    if (!mscan_eat(s, '[') || mscan_eat(s, ']'))
        return;
    size_t i = 0;
    do {
        mscan_ws(s);
        if (s->p < s->end && *s->p == '{') {
            ident id;
            read_ident(c, s, &id);
            json_t *dv = find_element(dst, &id, i);
            if (!dv || !json_is_object(dv)) {
                if (!(dv = json_object()) || json_array_append_new(dst, dv))
                    return (void)mscan_nomem(c);
            }
            merge_object(c, dv, s);
        } else if (i >= json_array_size(dst)) {
            json_t *v = mscan_load(c, s);
            if (v && json_array_append_new(dst, v))
                mscan_nomem(c);
        } else {
            mscan_skip(c, s);
        }
        i++;
    } while (!c->rc && mscan_eat(s, ','));
    if (!c->rc && !mscan_eat(s, ']'))
        mscan_bad(c, s, "',' or ']' expected in an array");
}

/* One member of an object: key read, s at its value. */
void mscan_member(mctx *c, json_t *dst, const char *key, json_t *dv, mscan *s,
                         mscan_series *si)
{
    mscan_ws(s);
    if (s->p >= s->end)
        return (void)mscan_bad(c, s, "value expected");
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
                return (void)mscan_nomem(c);
        }
        if (obj)
            merge_object(c, dv, s);
        else
            merge_array(c, dv, s);
    } else if (ch == '"') {
        merge_string(c, dst, key, dv, s);
    } else if (ch == 't' || ch == 'f' || ch == 'n') {
        json_t *v = mscan_load(c, s);
        if (v && (!dv || json_is_true(v)))  /* flags: any input's true holds */
            json_object_set(dst, key, v);
        json_decref(v);
    } else {
        merge_number(c, dst, key, dv, s);
    }
}

/* dst's histogram accumulator when dst is a metric (latency, ttfb, ...)
 * met before, else NULL. */
static hist *metric_hist(const mctx *c, json_t *dst)
{
    long i = acc_index(dst);
    return i >= 0 && (size_t)i < c->m->nh && c->m->hists[i].obj == dst ? c->m->hists[i].h : NULL;
}

/* The members of a metric met before: only its histogram merges, into h.
 * Its count, min, max, mean, stddev and percentiles are written again from
 * the merged histogram (results_json), so they are skipped unread: no key
 * lookups in the merged tree for three quarters of an input's members. */
static void merge_metric(mctx *c, hist *h, mscan *s)
{
    char key[256];
    do {
        if (mscan_key(c, s, key, sizeof key))
            return;
        mscan_ws(s);
        const char *str;
        size_t len;
        bool esc;
        if (key[0] != 'h' || strcmp(key, "histogram") || s->p >= s->end || *s->p != '"') {
            mscan_skip(c, s);
            continue;
        }
        if (raw_string(c, s, &str, &len, &esc))
            return;
        if (esc || len < 3 || memcmp(str, "v1;", 3))
            return (void)mscan_bad(c, s, "a histogram encoding (v1;...) expected");
        if (hist_text_add(h, str, len, c->e))
            c->rc = c->e && c->e->code ? c->e->code : VOLLEY_EPARSE;
    } while (!c->rc && mscan_eat(s, ','));
}

static void merge_members_of(mctx *c, json_t *dst, mscan *s)
{
    mscan_series si = {.acc = NULL};
    char key[256];
    /* Every input has the same members in the same order, and jansson keeps
     * insertion order: a cursor finds most members without hashing. */
    void *it = json_object_iter(dst);
    do {
        if (mscan_key(c, s, key, sizeof key))
            return;
        json_t *dv = NULL;
        const char *ik = it ? json_object_iter_key(it) : NULL;
        void *at;
        if (ik && ik[0] == key[0] && !strcmp(ik, key)) {
            dv = json_object_iter_value(it);
            it = json_object_iter_next(dst, it);
        } else if ((at = json_object_iter_at(dst, key))) {
            /* (json_object_key_to_iter takes only a key the object owns, not
             * a copy: it computes the member from the key's address) */
            dv = json_object_iter_value(at);
            it = json_object_iter_next(dst, at);
        }
        mscan_member(c, dst, key, dv, s, &si);
    } while (!c->rc && mscan_eat(s, ','));
}

static void merge_object(mctx *c, json_t *dst, mscan *s)
{
    if (!mscan_eat(s, '{'))
        return (void)mscan_bad(c, s, "'{' expected");
    if (mscan_eat(s, '}'))
        return;
    hist *h = metric_hist(c, dst);
    if (h)
        merge_metric(c, h, s);
    else
        merge_members_of(c, dst, s);
    if (!c->rc && !mscan_eat(s, '}'))
        mscan_bad(c, s, "',' or '}' expected in an object");
}
