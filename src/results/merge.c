/* merge: merges results.json documents of one plan (see merge.h) into one
 * tree, reading each input once as a stream. Generic, so that counters
 * volley adds later merge without code here: integers add, histograms
 * (a "histogram" encoding) add bucket by bucket into metrics/hist, series
 * ("columns" and "rows") add row by row on wall-clock seconds. The merged
 * tree is read back by results_read, so every derived figure is computed
 * again; cmd/merge writes it. */
#include "results/merge.h"

#include "results/merge_scan.h"

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
        free(m->sers[i].rules);
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

/* plan.command differs between the segments of one run (--out, --segment):
 * it records how a part was started, not what the plan was. */
static bool plan_key(const char *k)
{
    return strcmp(k, "command") != 0;
}

/* The first field in which two plans differ, or NULL. */
static const char *plan_diff_key(json_t *a, json_t *b)
{
    const char *k;
    json_t *v;
    const char *key = NULL;
    json_object_foreach(a, k, v)
        if (!key && plan_key(k) && !json_equal(v, json_object_get(b, k)))
            key = k;
    json_object_foreach(b, k, v)
        if (!key && plan_key(k) && !json_object_get(a, k))
            key = k;
    return key;
}

static bool plans_equal(json_t *a, json_t *b)
{
    return json_is_object(a) && json_is_object(b) ? !plan_diff_key(a, b) : json_equal(a, b);
}

/* Names the first field in which two plans differ. */
static int plan_differs(merger *m, json_t *a, json_t *b, const char *name, err *e)
{
    const char *key = plan_diff_key(a, b);
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
static void prescan_head(mctx *c, mscan s, json_t *head)
{
    char key[256];
    do {
        if (mscan_key(c, &s, key, sizeof key))
            return;
        if (own_key(key) && strcmp(key, "monitor") && !json_object_get(head, key)) {
            json_t *v = mscan_load(c, &s);
            if (!v)
                return;
            json_object_set_new(head, key, v);
        } else if (mscan_skip(c, &s)) {
            return;
        }
    } while (!has_required(head) && mscan_eat(&s, ','));
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
    if (!c->partial && m->nsrc && !plans_equal(plan, json_object_get(m->root, "plan")) &&
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
    merge_source *a = mscan_grow(m->src, &m->capsrc, m->nsrc + 1, sizeof *a);
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
static void merge_members(mctx *c, mscan *s, json_t *head, bool *admitted)
{
    bool prescanned = false;
    char key[256];
    mscan_series none = {.acc = NULL};
    do {
        if (!*admitted && !prescanned) {
            prescan_head(c, *s, head);
            prescanned = true;
        }
        if (mscan_key(c, s, key, sizeof key))
            return;
        if (own_key(key)) {
            json_t *v = NULL;
            if (!strcmp(key, "monitor") || json_object_get(head, key))
                mscan_skip(c, s);
            else if ((v = mscan_load(c, s)))
                json_object_set_new(head, key, v);
            continue;
        }
        if (!*admitted && admit(c, head)) {
            c->rc = c->rc ? c->rc : (c->e ? c->e->code : VOLLEY_EINVAL);
            return;
        }
        *admitted = true;
        mscan_member(c, c->m->root, key, json_object_get(c->m->root, key), s, &none);
    } while (!c->rc && mscan_eat(s, ','));
}

/* Merges the document at the start of text; *used: its length. */
static int merge_doc(merger *m, const char *text, size_t len, const char *name, size_t *used,
                     merger *partial, err *e)
{
    mscan s = {text, text + len, text};
    mctx c = {.m = m, .e = e, .name = name, .partial = partial};
    json_t *head = json_object();
    bool admitted = false;
    if (!head)
        return err_set(e, VOLLEY_ENOMEM, "merge: out of memory");
    if (!mscan_eat(&s, '{'))
        mscan_bad(&c, &s, "a results document is a JSON object");
    else if (!mscan_eat(&s, '}'))
        merge_members(&c, &s, head, &admitted);
    if (!c.rc && !mscan_eat(&s, '}'))
        mscan_bad(&c, &s, "',' or '}' expected");
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
        int req = mscan_col(s, "requests");
        json_t *rows = json_array();
        if (!rows)
            return VOLLEY_ENOMEM;
        for (size_t r = 0; r < s->len; r++) {
            const double *cells = s->cells + r * s->ncols;
            json_t *row = json_array();
            for (size_t k = 0; k < s->ncols; k++) {
                double v = cells[k];
                col_rule rule = s->rules[k];
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
    mscan s = {text + off, text + len, text};
    err e = {0};
    mctx c = {.e = &e, .name = ""};
    json_t *head = json_object();
    if (head && off < len && mscan_eat(&s, '{'))
        prescan_head(&c, s, head);
    json_t *v = json_object_get(head, "start_unix_ns");
    uint64_t t = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
    json_decref(head);
    return t;
}

/* p's inputs, thresholds and warnings become m's. */
static int record_partial(merger *m, const merger *p)
{
    merge_source *a = mscan_grow(m->src, &m->capsrc, m->nsrc + p->nsrc, sizeof *a);
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
    if (m->nsrc && !plans_equal(plan, json_object_get(m->root, "plan")) &&
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
