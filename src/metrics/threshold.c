/* threshold: parse and evaluate k6-style thresholds (see threshold.h).
 * Grammar: [endpoint=NAME:][METRIC:]AGG OP VALUE
 *   METRIC = a distribution's name in metrics.h (default latency)
 *   or the whole EXPR = generator:lag_p99 OP VALUE (send_lag:p(99), the
 *   generator-honesty gate)
 *   AGG    = p(N) | avg | min | max | med | rate | errors | count | dropped
 *   OP     = < | <= | > | >= | == | !=
 *   VALUE  = a duration for time aggregates, N% or a fraction for errors,
 *            a number otherwise. */
#include "metrics/threshold.h"

#include "core/clock.h"
#include "core/parse.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(err *e, const char *expr, size_t pos, const char *why)
{
    return err_set(e, VOLLEY_EINVAL, "threshold '%s': at position %zu: %s", expr, pos + 1, why);
}

static bool is_time(threshold_agg a)
{
    return a == TH_PCT || a == TH_AVG || a == TH_MIN || a == TH_MAX || a == TH_MED;
}

static const struct {
    const char *name;
    threshold_agg a;
} aggs[] = {
    {"avg", TH_AVG},   {"min", TH_MIN},       {"max", TH_MAX},
    {"med", TH_MED},   {"rate", TH_RATE},     {"errors", TH_ERRORS},
    {"count", TH_COUNT}, {"dropped", TH_DROPPED},
};

static size_t word_len(const char *s)
{
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

static int parse_agg(const char *expr, size_t *pos, threshold *t, err *e)
{
    const char *s = expr + *pos;
    if (s[0] == 'p' && s[1] == '(') {
        char *end;
        double p = strtod(s + 2, &end);
        if (end == s + 2)
            return bad(e, expr, *pos + 2, "expected a percentile like p(99)");
        if (*end != ')')
            return bad(e, expr, (size_t)(end - expr), "expected ')'");
        if (p < 0 || p > 100)
            return bad(e, expr, *pos + 2, "percentile must be between 0 and 100");
        t->agg = TH_PCT;
        t->pct = p;
        *pos = (size_t)(end - expr) + 1;
        return 0;
    }
    size_t n = word_len(s);
    for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
        if (n == strlen(aggs[i].name) && !strncmp(s, aggs[i].name, n)) {
            t->agg = aggs[i].a;
            *pos += n;
            return 0;
        }
    return bad(e, expr, *pos,
               "expected p(N), avg, min, max, med, rate, errors, count or dropped");
}

static int parse_op(const char *expr, size_t *pos, threshold *t, err *e)
{
    const char *s = expr + *pos;
    static const struct {
        const char *tok;
        threshold_op op;
    } ops[] = {{"<=", TH_LE}, {">=", TH_GE}, {"==", TH_EQ}, {"!=", TH_NE},
               {"<", TH_LT},  {">", TH_GT}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strncmp(s, ops[i].tok, strlen(ops[i].tok))) {
            t->op = ops[i].op;
            *pos += strlen(ops[i].tok);
            return 0;
        }
    return bad(e, expr, *pos, "expected <, <=, >, >=, == or !=");
}

static int parse_value(const char *expr, size_t pos, threshold *t, err *e)
{
    const char *s = expr + pos;
    if (!*s)
        return bad(e, expr, pos, "expected a value");
    err sub = {0};
    if (is_time(t->agg)) {
        uint64_t ns;
        if (parse_duration_ns(s, "value", &ns, &sub))
            return bad(e, expr, pos, "expected a duration like 50ms, 1s, 250us");
        t->value = (double)ns;
        return 0;
    }
    size_t len = strlen(s);
    bool percent = len && s[len - 1] == '%';
    char num[64];
    if (len >= sizeof num)
        return bad(e, expr, pos, "value too long");
    memcpy(num, s, len + 1);
    if (percent)
        num[len - 1] = 0;
    double v;
    if (parse_double(num, "value", &v, &sub))
        return bad(e, expr, pos, percent ? "expected a number before '%'" : "expected a number");
    if (percent && t->agg != TH_ERRORS)
        return bad(e, expr, pos + len - 1, "'%' is only for errors");
    t->value = percent ? v / 100.0 : v;
    return 0;
}

static int unknown_metric(err *e, const char *expr, size_t pos)
{
    char names[256];
    size_t off = 0;
    for (int i = 0; i < METRICS_DIST_COUNT && off < sizeof names; i++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "",
                                metrics_dists[i].name);
    char why[300];
    snprintf(why, sizeof why, "unknown metric (%s)", names);
    return bad(e, expr, pos, why);
}

int threshold_parse(const char *expr, threshold *t, err *e)
{
    memset(t, 0, sizeof *t);
    if (strlen(expr) >= sizeof t->expr)
        return err_set(e, VOLLEY_EINVAL, "threshold '%.40s...': too long", expr);
    /* Spaces are allowed anywhere and ignored ("p(99) < 50ms"). */
    char s[256];
    size_t n = 0;
    for (const char *p = expr; *p; p++)
        if (*p != ' ')
            s[n++] = *p;
    s[n] = 0;
    snprintf(t->expr, sizeof t->expr, "%s", s);
    if (!n)
        return err_set(e, VOLLEY_EINVAL, "threshold: empty expression");
    size_t pos = 0;
    if (!strncmp(s, "endpoint=", 9)) {
        const char *colon = strchr(s + 9, ':');
        if (!colon || colon == s + 9)
            return bad(e, s, 9, "expected endpoint=NAME:...");
        size_t l = (size_t)(colon - s - 9);
        if (l >= sizeof t->endpoint)
            return bad(e, s, 9, "endpoint name too long");
        memcpy(t->endpoint, s + 9, l);
        t->endpoint[l] = 0;
        pos = (size_t)(colon - s) + 1;
    }
    if (!strncmp(s + pos, "generator:lag_p99", 17)) {
        /* The generator's honesty gate: its send lag p99 (monitor/selfmon). */
        t->metric = METRICS_DIST_SEND_LAG, t->agg = TH_PCT, t->pct = 99;
        pos += 17;
        int rc = parse_op(s, &pos, t, e);
        return rc ? rc : parse_value(s, pos, t, e);
    }
    t->metric = METRICS_DIST_LATENCY;
    bool metric_given = false;
    size_t w = word_len(s + pos);
    if (s[pos + w] == ':') {
        metric_given = true;
        int m = metrics_dist_from_name(s + pos, w);
        if (m < 0)
            return unknown_metric(e, s, pos);
        t->metric = (metrics_dist)m;
        pos += w + 1;
    }
    int rc = parse_agg(s, &pos, t, e);
    if (!rc)
        rc = parse_op(s, &pos, t, e);
    if (!rc)
        rc = parse_value(s, pos, t, e);
    if (!rc && metric_given && !is_time(t->agg))
        rc = bad(e, s, 0, "rate, errors, count and dropped take no metric prefix");
    return rc;
}

double threshold_actual(const threshold *t, const threshold_input *in)
{
    const hist *h = (unsigned)t->metric < METRICS_DIST_COUNT ? in->dist[t->metric] : NULL;
    switch (t->agg) {
    case TH_PCT: return h ? (double)hist_percentile(h, t->pct) : 0;
    case TH_MED: return h ? (double)hist_percentile(h, 50) : 0;
    case TH_AVG: return h ? hist_mean(h) : 0;
    case TH_MIN: return h ? (double)hist_min(h) : 0;
    case TH_MAX: return h ? (double)hist_max(h) : 0;
    case TH_RATE:
        return in->elapsed_ns ? (double)in->tot->requests / ((double)in->elapsed_ns / NS_PER_S) : 0;
    case TH_ERRORS:
        return in->tot->requests ? (double)in->tot->errors / (double)in->tot->requests : 0;
    case TH_COUNT: return (double)in->tot->requests;
    case TH_DROPPED: return (double)in->tot->dropped;
    }
    return 0;
}

bool threshold_check(const threshold *t, double a)
{
    switch (t->op) {
    case TH_LT: return a < t->value;
    case TH_LE: return a <= t->value;
    case TH_GT: return a > t->value;
    case TH_GE: return a >= t->value;
    case TH_EQ: return a == t->value;
    case TH_NE: return a != t->value;
    }
    return false;
}

bool threshold_live(const threshold *t)
{
    return t->metric == METRICS_DIST_LATENCY;
}

void threshold_format_actual(const threshold *t, double a, char *out, unsigned long cap)
{
    if (is_time(t->agg))
        parse_format_duration((uint64_t)llround(a), out, cap);
    else if (t->agg == TH_ERRORS)
        snprintf(out, cap, "%.3f%%", a * 100);
    else if (t->agg == TH_RATE)
        snprintf(out, cap, "%.1f/s", a);
    else
        snprintf(out, cap, "%.0f", a);
}
