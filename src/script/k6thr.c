/* k6thr: k6 thresholds on a script's metrics (see k6thr.h). A table of the
 * built-in metrics says each one's type, where volley keeps it and which
 * tags filter it; custom metrics come from the script's declarations. */
#include "script/k6thr.h"

#include "metrics/hist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    SRC_LATENCY, SRC_TTFB, SRC_CONNECT, SRC_TLS, SRC_FAILED, SRC_REQS, SRC_ITER, SRC_ITERS,
    SRC_DROPPED, SRC_DATA_IN, SRC_DATA_OUT, SRC_CHECKS, SRC_WS_CONNECT, SRC_WS_SESSION,
    SRC_WS_SESSIONS, SRC_WS_SENT, SRC_WS_RECV, SRC_CUSTOM,
} source;

static const struct builtin {
    const char *name;
    k6thr_type type;
    source src;
    const char *tags; /* the tags that filter it */
} builtins[] = {
    {"http_req_duration", K6_TREND, SRC_LATENCY, "scenario name"},
    {"http_req_waiting", K6_TREND, SRC_TTFB, "scenario name"},
    {"http_req_connecting", K6_TREND, SRC_CONNECT, "scenario"},
    {"http_req_tls_handshaking", K6_TREND, SRC_TLS, "scenario"},
    {"http_req_failed", K6_RATE, SRC_FAILED, "scenario name"},
    {"http_reqs", K6_COUNTER, SRC_REQS, "scenario status name"},
    {"iteration_duration", K6_TREND, SRC_ITER, "scenario"},
    {"iterations", K6_COUNTER, SRC_ITERS, "scenario"},
    {"dropped_iterations", K6_COUNTER, SRC_DROPPED, "scenario"},
    {"data_received", K6_COUNTER, SRC_DATA_IN, "scenario"},
    {"data_sent", K6_COUNTER, SRC_DATA_OUT, "scenario"},
    {"checks", K6_RATE, SRC_CHECKS, "group"},
    {"ws_connecting", K6_TREND, SRC_WS_CONNECT, "scenario"},
    {"ws_session_duration", K6_TREND, SRC_WS_SESSION, "scenario"},
    {"ws_sessions", K6_COUNTER, SRC_WS_SESSIONS, "scenario"},
    {"ws_msgs_sent", K6_COUNTER, SRC_WS_SENT, "scenario"},
    {"ws_msgs_received", K6_COUNTER, SRC_WS_RECV, "scenario"},
};
#define NBUILTINS (sizeof builtins / sizeof builtins[0])

/* k6 metrics volley does not measure: named as such, not as unknown. */
static const char *const unmeasured[] = {"http_req_blocked", "http_req_sending",
                                         "http_req_receiving", "vus", "vus_max",
                                         "group_duration", "ws_ping"};

static const char *type_name(k6thr_type t)
{
    static const char *const n[] = {"trend", "counter", "rate", "gauge"};
    return n[t];
}

/* ---- parsing ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[128];
    if (lb >= 128)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int unknown_metric(const char *m, const k6thr_custom *c, size_t nc, const char *key, err *e)
{
    const char *best = NULL;
    size_t bd = 4;
    for (size_t i = 0; i < NBUILTINS; i++)
        if (edit_distance(m, builtins[i].name) < bd)
            bd = edit_distance(m, builtins[i].name), best = builtins[i].name;
    for (size_t i = 0; i < nc; i++)
        if (!strchr(c[i].name, '{') && edit_distance(m, c[i].name) < bd)
            bd = edit_distance(m, c[i].name), best = c[i].name;
    for (size_t i = 0; i < sizeof unmeasured / sizeof unmeasured[0]; i++)
        if (!strcmp(m, unmeasured[i]))
            return err_set(e, VOLLEY_EINVAL, "options.thresholds['%s']: volley does not measure "
                                             "%s (see docs/scripting.md for the metrics it has)",
                           key, m);
    return err_set(e, VOLLEY_EINVAL, "options.thresholds['%s']: no metric '%s'%s%s%s", key, m,
                   best ? " (did you mean '" : " (declare custom metrics at the script's top level)",
                   best ? best : "", best ? "'?)" : "");
}

/* "name{k:v,k2:v2}" into the metric and its tags. */
static int parse_key(const char *key, k6thr *t, err *e)
{
    const char *brace = strchr(key, '{');
    size_t ml = brace ? (size_t)(brace - key) : strlen(key);
    while (ml && key[ml - 1] == ' ')
        ml--;
    if (!ml || ml >= sizeof t->metric)
        return err_set(e, VOLLEY_EINVAL, "options.thresholds['%s']: bad metric name", key);
    memcpy(t->metric, key, ml);
    t->metric[ml] = 0;
    if (!brace)
        return 0;
    const char *end = strrchr(key, '}');
    if (!end || end[1])
        return err_set(e, VOLLEY_EINVAL, "options.thresholds['%s']: a tag filter is {tag:value}", key);
    for (const char *p = brace + 1; p < end;) {
        size_t n = strcspn(p, ",}");
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p || t->ntags == K6THR_MAX_TAGS)
            return err_set(e, VOLLEY_EINVAL, "options.thresholds['%s']: bad tag filter '%.*s' "
                                             "(tag:value, at most %d)", key, (int)n, p, K6THR_MAX_TAGS);
        snprintf(t->tag_k[t->ntags], sizeof t->tag_k[0], "%.*s", (int)(colon - p), p);
        snprintf(t->tag_v[t->ntags], sizeof t->tag_v[0], "%.*s", (int)(n - (size_t)(colon - p) - 1),
                 colon + 1);
        t->ntags++;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* "p(95)<200", "avg < 1s", "rate>=0.99", "count>10". */
static int parse_expr(const char *expr, k6thr *t, bool time_unit, err *e)
{
    const char *s = expr;
    while (*s == ' ')
        s++;
    size_t an = strspn(s, "abcdefghijklmnopqrstuvwxyz");
    if (!an || an >= sizeof t->agg)
        goto bad;
    snprintf(t->agg, sizeof t->agg, "%.*s", (int)an, s);
    s += an;
    if (!strcmp(t->agg, "p")) {
        char *end;
        if (*s != '(')
            goto bad;
        t->pct = strtod(s + 1, &end);
        if (end == s + 1 || *end != ')' || t->pct < 0 || t->pct > 100)
            goto bad;
        s = end + 1;
    }
    while (*s == ' ')
        s++;
    static const struct {
        const char *text, *op;
    } ops[] = {{"===", "=="}, {"!==", "!="}, {"<=", "<="}, {">=", ">="}, {"==", "=="},
               {"!=", "!="},  {"<", "<"},    {">", ">"}};
    size_t k = 0;
    while (k < sizeof ops / sizeof ops[0] && strncmp(s, ops[k].text, strlen(ops[k].text)))
        k++;
    if (k == sizeof ops / sizeof ops[0])
        goto bad;
    snprintf(t->op, sizeof t->op, "%s", ops[k].op);
    s += strlen(ops[k].text);
    while (*s == ' ')
        s++;
    char *end;
    t->value = strtod(s, &end);
    if (end == s)
        goto bad;
    /* Bare numbers are milliseconds (k6); a unit may be given. */
    double scale = 1;
    if (time_unit && !strcmp(end, "us"))
        scale = 0.001;
    else if (time_unit && !strcmp(end, "ms"))
        scale = 1;
    else if (time_unit && !strcmp(end, "s"))
        scale = 1000;
    else if (*end)
        goto bad;
    t->value *= scale;
    return 0;
bad:
    return err_set(e, VOLLEY_EINVAL,
                   "options.thresholds['%s']: '%s' is not AGGREGATION OPERATOR NUMBER "
                   "(e.g. p(95)<200, avg<100, rate<0.01, count>10)", t->key, expr);
}

static bool agg_allowed(const k6thr *t)
{
    const char *a = t->agg;
    switch (t->type) {
    case K6_TREND:
        return !strcmp(a, "avg") || !strcmp(a, "min") || !strcmp(a, "max") || !strcmp(a, "med") ||
               !strcmp(a, "p");
    case K6_COUNTER: return !strcmp(a, "count") || !strcmp(a, "rate");
    case K6_RATE: return !strcmp(a, "rate");
    default: return !strcmp(a, "value") || !strcmp(a, "min") || !strcmp(a, "max");
    }
}

static const struct builtin *builtin_of(const char *m)
{
    for (size_t i = 0; i < NBUILTINS; i++)
        if (!strcmp(builtins[i].name, m))
            return &builtins[i];
    return NULL;
}

int k6thr_parse(const char *key, const char *expr, const k6thr_custom *custom, size_t ncustom,
                k6thr *t, err *e)
{
    memset(t, 0, sizeof *t);
    snprintf(t->key, sizeof t->key, "%s", key);
    snprintf(t->expr, sizeof t->expr, "%s", expr);
    int rc = parse_key(key, t, e);
    if (rc)
        return rc;
    const struct builtin *b = builtin_of(t->metric);
    const k6thr_custom *c = NULL;
    for (size_t i = 0; !b && i < ncustom; i++)
        if (!strcmp(custom[i].name, t->metric))
            c = &custom[i];
    if (!b && !c)
        return unknown_metric(t->metric, custom, ncustom, key, e);
    static const k6thr_type of_kind[] = {[SMETRIC_COUNTER] = K6_COUNTER,
                                         [SMETRIC_GAUGE] = K6_GAUGE,
                                         [SMETRIC_RATE] = K6_RATE,
                                         [SMETRIC_TREND] = K6_TREND};
    t->type = b ? b->type : of_kind[c->kind];
    for (size_t i = 0; b && i < t->ntags; i++) {
        char want[64];
        snprintf(want, sizeof want, " %s ", b->tags);
        char have[64];
        snprintf(have, sizeof have, " %s ", t->tag_k[i]);
        if (!strstr(want, have))
            return err_set(e, VOLLEY_EINVAL,
                           "options.thresholds['%s']: volley keeps %s by %s, not by '%s'%s", key,
                           t->metric, b->tags, t->tag_k[i], "");
    }
    t->time = b && b->type == K6_TREND;
    if ((rc = parse_expr(expr, t, t->type == K6_TREND, e)))
        return rc;
    if (!agg_allowed(t))
        return err_set(e, VOLLEY_EINVAL, "options.thresholds['%s']: '%s' is a %s, which has no '%s' "
                                         "(a trend: avg min max med p(N); a counter: count rate; a "
                                         "rate: rate; a gauge: value min max)",
                       key, t->metric, type_name(t->type), t->agg);
    return 0;
}

/* ---- judging ---- */

typedef struct sample {
    const hist *h;     /* trend */
    double h_scale;    /* hist units per ms */
    double count, rate_num, rate_den, value, min, max;
    bool data;
} sample;

static const char *tag(const k6thr *t, const char *k)
{
    for (size_t i = 0; i < t->ntags; i++)
        if (!strcmp(t->tag_k[i], k))
            return t->tag_v[i];
    return NULL;
}

static const results_stats *stats_of(const results *r, const char *scen)
{
    if (!scen)
        return &r->st;
    for (size_t i = 0; i < r->neps; i++)
        if (!strcmp(r->eps[i].name, scen))
            return &r->eps[i].st;
    return NULL;
}

static double seconds(const results *r)
{
    double s = (double)r->st.elapsed_ns / 1e9;
    return s > 0 ? s : 1;
}

static void scenario_sums(const k6thr *t, const script_results *sr, source src, sample *out,
                          hist *merged)
{
    const char *scen = tag(t, "scenario");
    for (size_t i = 0; i < sr->nsc; i++) {
        const script_scenario *c = &sr->sc[i];
        if (scen && strcmp(c->name, scen))
            continue;
        switch (src) {
        case SRC_ITER: hist_merge(merged, c->iteration_ns); break;
        case SRC_WS_CONNECT: hist_merge(merged, c->ws_connect_ns); break;
        case SRC_WS_SESSION: hist_merge(merged, c->ws_session_ns); break;
        case SRC_ITERS: out->count += (double)c->iterations; break;
        case SRC_DROPPED: out->count += (double)c->dropped; break;
        case SRC_WS_SESSIONS: out->count += (double)c->ws_sessions; break;
        case SRC_WS_SENT: out->count += (double)c->ws_msgs_sent; break;
        case SRC_WS_RECV: out->count += (double)c->ws_msgs_received; break;
        default: break;
        }
    }
    if (merged && (src == SRC_ITER || src == SRC_WS_CONNECT || src == SRC_WS_SESSION)) {
        out->h = merged;
        out->h_scale = 1e6;
    }
    out->data = true;
}

static void checks_sample(const k6thr *t, const script_results *sr, sample *out)
{
    const char *g = tag(t, "group");
    char prefix[80] = "";
    if (g) /* k6's group tag is "::a::b"; volley names checks "a::b::check" */
        snprintf(prefix, sizeof prefix, "%s::", g[0] == ':' && g[1] == ':' ? g + 2 : g);
    for (size_t i = 0; i < sr->nchecks; i++) {
        if (prefix[0] && strncmp(sr->checks[i].name, prefix, strlen(prefix)))
            continue;
        out->rate_num += (double)sr->checks[i].passes;
        out->rate_den += (double)(sr->checks[i].passes + sr->checks[i].fails);
    }
    out->data = out->rate_den > 0;
}

/* {name:X}: the script's per-name statistics. */
static void name_sample(const script_results *sr, source src, const char *name, sample *out)
{
    for (size_t i = 0; i < sr->nnames; i++) {
        const script_name *n = &sr->names[i];
        if (strcmp(n->name, name))
            continue;
        out->h_scale = 1e6;
        out->h = src == SRC_TTFB ? n->ttfb : n->latency;
        out->count = (double)n->requests;
        out->rate_num = (double)n->failures;
        out->rate_den = (double)n->requests;
        out->data = n->requests > 0;
        return;
    }
}

static void http_sample(const k6thr *t, const results *r, source src, sample *out)
{
    const results_stats *st = stats_of(r, tag(t, "scenario"));
    if (!st)
        return;
    const char *status = tag(t, "status");
    out->h_scale = 1e6;
    switch (src) {
    case SRC_LATENCY: out->h = st->latency; break;
    case SRC_TTFB: out->h = st->ttfb; break;
    case SRC_CONNECT: out->h = st->connect; break;
    case SRC_TLS: out->h = st->tls_handshake; break;
    case SRC_FAILED:
        out->rate_num = (double)st->tot.errors;
        out->rate_den = (double)st->tot.requests;
        out->data = st->tot.requests > 0;
        return;
    case SRC_REQS: {
        int code = status ? atoi(status) : -1;
        out->count = code >= 0 ? (code < METRICS_STATUS_MAX ? (double)st->tot.status[code] : 0)
                               : (double)st->tot.requests;
        break;
    }
    case SRC_DATA_IN: out->count = (double)st->tot.bytes_in; break;
    case SRC_DATA_OUT: out->count = (double)st->tot.bytes_out; break;
    default: break;
    }
    out->data = true;
}

/* A custom metric, or its sub-metric for the filter's tags (sorted by key,
 * as the script names them). */
static const script_metric *custom_of(const k6thr *t, const script_results *sr)
{
    char name[200];
    size_t o = (size_t)snprintf(name, sizeof name, "%s", t->metric);
    if (t->ntags) {
        size_t idx[K6THR_MAX_TAGS];
        for (size_t i = 0; i < t->ntags; i++)
            idx[i] = i;
        for (size_t i = 1; i < t->ntags; i++)
            for (size_t j = i; j > 0 && strcmp(t->tag_k[idx[j - 1]], t->tag_k[idx[j]]) > 0; j--) {
                size_t x = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = x;
            }
        for (size_t i = 0; i < t->ntags && o < sizeof name; i++)
            o += (size_t)snprintf(name + o, sizeof name - o, "%s%s:%s", i ? "," : "{",
                                  t->tag_k[idx[i]], t->tag_v[idx[i]]);
        if (o < sizeof name - 1)
            strcat(name, "}");
    }
    for (size_t i = 0; i < sr->nmetrics; i++)
        if (!strcmp(sr->metrics[i].name, name))
            return &sr->metrics[i];
    return NULL;
}

static void custom_sample(const k6thr *t, const script_results *sr, sample *out)
{
    const script_metric *m = custom_of(t, sr);
    if (!m || !m->count)
        return;
    out->data = true;
    out->h = m->h;
    out->h_scale = 1e6; /* trends keep value * 1e6 */
    out->count = m->sum;
    out->rate_num = m->sum;
    out->rate_den = (double)m->count;
    out->value = m->last;
    out->min = m->min;
    out->max = m->max;
}

static double aggregate(const k6thr *t, const sample *s, const results *r);

static bool compare(const k6thr *t, double v)
{
    const char *op = t->op;
    return !strcmp(op, "<") ? v < t->value : !strcmp(op, "<=") ? v <= t->value
         : !strcmp(op, ">") ? v > t->value : !strcmp(op, ">=") ? v >= t->value
         : !strcmp(op, "==") ? v == t->value : v != t->value;
}

bool k6thr_live(const k6thr *t)
{
    return !t->ntags && (!strcmp(t->metric, "http_req_duration") ||
                         !strcmp(t->metric, "http_req_failed") || !strcmp(t->metric, "http_reqs"));
}

bool k6thr_eval_live(const k6thr *t, const hist *latency, uint64_t requests, uint64_t errors,
                     uint64_t seconds, double *actual)
{
    sample s = {.h = latency, .h_scale = 1e6, .count = (double)requests,
                .rate_num = (double)errors, .rate_den = (double)requests, .data = true};
    results r = {0};
    r.st.elapsed_ns = seconds * 1000000000ull;
    double v = aggregate(t, &s, &r);
    *actual = v;
    return !isnan(v) && compare(t, v);
}

static double aggregate(const k6thr *t, const sample *s, const results *r)
{
    const char *a = t->agg;
    if (t->type == K6_TREND) {
        if (!s->h || !hist_count(s->h))
            return NAN;
        if (!strcmp(a, "avg"))
            return hist_mean(s->h) / s->h_scale;
        if (!strcmp(a, "min"))
            return (double)hist_min(s->h) / s->h_scale;
        if (!strcmp(a, "max"))
            return (double)hist_max(s->h) / s->h_scale;
        return (double)hist_percentile(s->h, !strcmp(a, "med") ? 50 : t->pct) / s->h_scale;
    }
    if (t->type == K6_COUNTER)
        return !strcmp(a, "rate") ? s->count / seconds(r) : s->count;
    if (t->type == K6_RATE)
        return s->rate_den > 0 ? s->rate_num / s->rate_den : NAN;
    return !strcmp(a, "min") ? s->min : !strcmp(a, "max") ? s->max : s->value;
}

bool k6thr_eval(const k6thr *t, const script_results *sr, const results *r, double *actual,
                bool *no_data)
{
    sample s = {0};
    const struct builtin *b = builtin_of(t->metric);
    hist *merged = NULL;
    if (!b)
        custom_sample(t, sr, &s);
    else if (b->src == SRC_CHECKS)
        checks_sample(t, sr, &s);
    else if (tag(t, "name"))
        name_sample(sr, b->src, tag(t, "name"), &s);
    else if (b->src <= SRC_DATA_OUT && b->src != SRC_ITER && b->src != SRC_ITERS &&
             b->src != SRC_DROPPED)
        http_sample(t, r, b->src, &s);
    else if ((merged = hist_new()))
        scenario_sums(t, sr, b->src, &s, merged);
    double v = s.data ? aggregate(t, &s, r) : NAN;
    hist_free(merged);
    *no_data = isnan(v);
    *actual = v;
    return !*no_data && compare(t, v);
}
