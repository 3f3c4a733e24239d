/* results_script: the "script" block of results.json as plain data
 * (results_script.h), read by results_read and filled at the end of a
 * script run by the session from script_results' JSON, so the summary,
 * `volley report` and report.html show a script's names, checks, custom
 * metrics and scenarios from one representation. */
#include "results/results_script.h"

#include "core/err.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static uint64_t u64(const json_t *o, const char *k)
{
    double v = num(o, k);
    return v > 0 ? (uint64_t)llround(v) : 0;
}

static void str(const json_t *o, const char *k, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, k));
    snprintf(out, cap, "%s", s ? s : "");
}

static void *alloc_n(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

static void read_name(rs_name *n, const char *key, const json_t *o)
{
    snprintf(n->name, sizeof n->name, "%s", key);
    n->requests = u64(o, "requests");
    n->failures = u64(o, "failures");
    n->bytes_in = u64(o, "bytes_in");
    const json_t *l = json_object_get(o, "latency_ms");
    n->avg_ms = num(l, "avg");
    n->p50_ms = num(l, "p50");
    n->p90_ms = num(l, "p90");
    n->p95_ms = num(l, "p95");
    n->p99_ms = num(l, "p99");
    n->max_ms = num(l, "max");
    n->ttfb_p50_ms = num(o, "ttfb_p50_ms");
}

static void read_metric(rs_metric *m, const char *key, const json_t *o)
{
    snprintf(m->name, sizeof m->name, "%s", key);
    str(o, "type", m->type, sizeof m->type);
    m->count = num(o, "count");
    m->value = num(o, "value");
    m->min = num(o, "min");
    m->max = num(o, "max");
    m->avg = num(o, "avg");
    m->med = num(o, "med");
    m->p90 = num(o, "p90");
    m->p95 = num(o, "p95");
    m->p99 = num(o, "p99");
    m->rate = num(o, "rate");
    m->adds = u64(o, "adds");
    m->passes = u64(o, "passes");
    m->fails = u64(o, "fails");
}

static void read_scenario(rs_scenario *c, const char *key, const json_t *o)
{
    snprintf(c->name, sizeof c->name, "%s", key);
    str(o, "executor", c->executor, sizeof c->executor);
    str(o, "exec", c->exec, sizeof c->exec);
    c->iterations = u64(o, "iterations");
    c->iteration_errors = u64(o, "iteration_errors");
    c->dropped = u64(o, "dropped_iterations");
    const json_t *it = json_object_get(o, "iteration_duration");
    c->it_count = u64(it, "count");
    c->it_avg_ms = num(it, "mean");
    c->it_p50_ms = num(it, "p50");
    c->it_p95_ms = num(it, "p95");
    c->it_max_ms = num(it, "max");
    const json_t *w = json_object_get(o, "ws");
    c->ws_sessions = u64(w, "sessions");
    c->ws_errors = u64(w, "errors");
    c->ws_sent = u64(w, "messages_sent");
    c->ws_received = u64(w, "messages_received");
    const json_t *rtt = json_object_get(w, "rtt");
    c->ws_rtt_count = u64(rtt, "count");
    c->ws_rtt_p50_ms = num(rtt, "p50");
    c->ws_rtt_p95_ms = num(rtt, "p95");
    c->ws_connect_p50_ms = num(json_object_get(w, "connecting"), "p50");
}

static void read_phase(rs_phase *p, const json_t *o)
{
    if (!json_is_object(o))
        return;
    p->ran = true;
    p->requests = u64(o, "requests");
    p->errors = u64(o, "errors");
    p->duration_ms = num(o, "duration_ms");
    str(o, "error", p->error, sizeof p->error);
}

/* The objects keyed by name (names, metrics, scenarios). */
static int read_keyed(const json_t *o, void **arr, size_t *n, size_t size,
                      void (*fn)(void *, const char *, const json_t *))
{
    size_t k = json_is_object(o) ? json_object_size(o) : 0;
    char *a = alloc_n(k, size);
    if (!a)
        return VOLLEY_ENOMEM;
    const char *key;
    json_t *v;
    size_t i = 0;
    if (k)
        json_object_foreach((json_t *)o, key, v) fn(a + size * i++, key, v);
    *arr = a;
    *n = i;
    return 0;
}

static int read_lists(results_script *s, const json_t *o)
{
    const json_t *ch = json_object_get(o, "checks");
    size_t n = json_is_array(ch) ? json_array_size(ch) : 0;
    if (!(s->checks = alloc_n(n, sizeof *s->checks)))
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(ch, i);
        str(c, "name", s->checks[i].name, sizeof s->checks[i].name);
        s->checks[i].passes = u64(c, "passes");
        s->checks[i].fails = u64(c, "fails");
    }
    s->nchecks = n;
    const json_t *er = json_object_get(o, "errors");
    n = json_is_array(er) ? json_array_size(er) : 0;
    if (!(s->errors = alloc_n(n, sizeof *s->errors)))
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(er, i);
        str(e, "message", s->errors[i].msg, sizeof s->errors[i].msg);
        str(e, "first_seen", s->errors[i].where, sizeof s->errors[i].where);
        s->errors[i].count = u64(e, "count");
    }
    s->nerrors = n;
    return 0;
}

int results_script_from_json(results_script *s, const json_t *o)
{
    memset(s, 0, sizeof *s);
    if (!json_is_object(o))
        return 0;
    s->present = true;
    str(o, "file", s->file, sizeof s->file);
    s->seed = u64(o, "seed");
    s->iterations = u64(o, "iterations");
    s->iteration_errors = u64(o, "iteration_errors");
    s->errors_other = u64(o, "errors_not_listed");
    s->names_folded = json_is_true(json_object_get(o, "names_folded"));
    read_phase(&s->setup, json_object_get(o, "setup"));
    read_phase(&s->teardown, json_object_get(o, "teardown"));
    int rc = read_keyed(json_object_get(o, "names"), (void **)&s->names, &s->nnames,
                        sizeof *s->names, (void (*)(void *, const char *, const json_t *))read_name);
    if (!rc)
        rc = read_keyed(json_object_get(o, "metrics"), (void **)&s->metrics, &s->nmetrics,
                        sizeof *s->metrics,
                        (void (*)(void *, const char *, const json_t *))read_metric);
    if (!rc)
        rc = read_keyed(json_object_get(o, "scenarios"), (void **)&s->sc, &s->nsc, sizeof *s->sc,
                        (void (*)(void *, const char *, const json_t *))read_scenario);
    if (!rc)
        rc = read_lists(s, o);
    if (rc)
        results_script_free(s);
    return rc;
}

void results_script_free(results_script *s)
{
    free(s->names);
    free(s->checks);
    free(s->metrics);
    free(s->sc);
    free(s->errors);
    memset(s, 0, sizeof *s);
}

static bool ends(const char *name, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    return len > k && !strncmp(name + len - k, suffix, k);
}

const char *results_script_unit(const char *name)
{
    const char *brace = strchr(name, '{');
    size_t len = brace ? (size_t)(brace - name) : strlen(name);
    static const struct {
        const char *suffix, *unit;
    } u[] = {{"_ms", "ms"},     {"_duration", "ms"}, {"_us", "us"},       {"_seconds", "s"},
             {"_s", "s"},       {"_bytes", "B"},     {"_size", "B"},      {"_pct", "%"},
             {"_percent", "%"}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (ends(name, len, u[i].suffix))
            return u[i].unit;
    return "";
}

void results_script_fmt(const char *name, double v, char *out, size_t cap)
{
    const char *unit = results_script_unit(name);
    if (!strcmp(unit, "B")) {
        static const char *bu[] = {"B", "kB", "MB", "GB", "TB"};
        int k = 0;
        while (fabs(v) >= 1000 && k < 4) {
            v /= 1000;
            k++;
        }
        snprintf(out, cap, k ? "%.2f %s" : "%.0f %s", v, bu[k]);
        return;
    }
    /* Four significant digits, without trailing zeros or exponents for
     * the values people add (0.0001 .. 1e9). */
    char num_s[48];
    if (v != 0 && (fabs(v) >= 1e9 || fabs(v) < 1e-4))
        snprintf(num_s, sizeof num_s, "%.4g", v);
    else if (fabs(v) >= 1000 || v == floor(v))
        snprintf(num_s, sizeof num_s, "%.0f", v);
    else if (fabs(v) < 1)
        snprintf(num_s, sizeof num_s, "%.3g", v);
    else
        snprintf(num_s, sizeof num_s, "%.*f", fabs(v) >= 100 ? 1 : fabs(v) >= 10 ? 2 : 3, v);
    snprintf(out, cap, "%s%s", num_s, unit);
}
