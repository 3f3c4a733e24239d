/* script_results: what only scripts record (checks, custom metrics,
 * WebSocket numbers, iterations and their errors, thresholds as written):
 * one block per worker, merged at the end, written to results.json
 * ("script") and printed in the summary. A leaf of the script layer: the
 * API parts record into it, script.c reports it. */
#include "script/script_results.h"

#include "core/clock.h"
#include "core/parse.h"
#include "script/lua_plan.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- results blocks ---- */

script_results *script_results_new(const char *path, const struct lua_plan *p)
{
    script_results *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->path, sizeof r->path, "%s", path ? path : "");
    r->seed = p ? p->seed : 0;
    size_t n = p ? p->nsc : 0;
    r->sc = calloc(n ? n : 1, sizeof *r->sc);
    if (!r->sc)
        goto fail;
    r->nsc = n;
    for (size_t i = 0; i < n; i++) {
        script_scenario *s = &r->sc[i];
        const lua_scenario *ls = &p->sc[i];
        snprintf(s->name, sizeof s->name, "%s", ls->name);
        snprintf(s->exec, sizeof s->exec, "%s", ls->exec);
        snprintf(s->executor, sizeof s->executor, "%s", lua_plan_kind_name(ls->kind));
        if (!(s->iteration_ns = hist_new()) || !(s->ws_connect_ns = hist_new()) ||
            !(s->ws_session_ns = hist_new()) || !(s->ws_rtt_ns = hist_new()))
            goto fail;
    }
    return r;
fail:
    script_results_free(r);
    return NULL;
}

void script_results_free(script_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->sc && i < r->nsc; i++) {
        hist_free(r->sc[i].iteration_ns);
        hist_free(r->sc[i].ws_connect_ns);
        hist_free(r->sc[i].ws_session_ns);
        hist_free(r->sc[i].ws_rtt_ns);
    }
    for (size_t i = 0; i < r->nmetrics; i++)
        hist_free(r->metrics[i].h);
    free(r->sc);
    free(r->checks);
    free(r->metrics);
    free(r->errors);
    free(r->thresholds);
    for (size_t i = 0; i < r->nnames; i++) {
        hist_free(r->names[i].latency);
        hist_free(r->names[i].ttfb);
    }
    free(r->names);
    free(r);
}

script_check *script_results_check(script_results *r, const char *name)
{
    for (size_t i = 0; i < r->nchecks; i++)
        if (!strcmp(r->checks[i].name, name))
            return &r->checks[i];
    script_check *c = realloc(r->checks, (r->nchecks + 1) * sizeof *c);
    if (!c)
        return NULL;
    r->checks = c;
    c = &r->checks[r->nchecks++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

script_metric *script_results_metric(script_results *r, const char *name, script_metric_kind k)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (!strcmp(r->metrics[i].name, name))
            return &r->metrics[i];
    script_metric *m = realloc(r->metrics, (r->nmetrics + 1) * sizeof *m);
    if (!m)
        return NULL;
    r->metrics = m;
    m = &r->metrics[r->nmetrics];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->kind = k;
    if (k == SMETRIC_TREND && !(m->h = hist_new()))
        return NULL;
    r->nmetrics++;
    return m;
}

void script_results_error(script_results *r, const char *msg, const char *where, uint64_t n)
{
    for (size_t i = 0; i < r->nerrors; i++)
        if (!strcmp(r->errors[i].msg, msg)) {
            r->errors[i].count += n;
            return;
        }
    if (r->nerrors >= SCRIPT_MAX_ERRORS) {
        r->errors_other += n;
        return;
    }
    script_error *e = realloc(r->errors, (r->nerrors + 1) * sizeof *e);
    if (!e) {
        r->errors_other += n;
        return;
    }
    r->errors = e;
    e = &r->errors[r->nerrors++];
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    snprintf(e->where, sizeof e->where, "%s", where ? where : "");
    e->count = n;
}

static void merge_metric(script_metric *d, const script_metric *s)
{
    if (s->kind == SMETRIC_GAUGE || s->kind == SMETRIC_TREND) {
        if (s->count && (!d->count || s->min < d->min))
            d->min = s->min;
        if (s->count && (!d->count || s->max > d->max))
            d->max = s->max;
    }
    if (s->count)
        d->last = s->last;
    d->sum += s->sum;
    d->count += s->count;
    if (d->h && s->h)
        hist_merge(d->h, s->h);
}

int script_results_merge(script_results *dst, const script_results *src)
{
    for (size_t i = 0; i < dst->nsc && i < src->nsc; i++) {
        script_scenario *d = &dst->sc[i];
        const script_scenario *s = &src->sc[i];
        d->iterations += s->iterations;
        d->iteration_errors += s->iteration_errors;
        d->dropped += s->dropped;
        d->ws_sessions += s->ws_sessions;
        d->ws_errors += s->ws_errors;
        d->ws_msgs_sent += s->ws_msgs_sent;
        d->ws_msgs_received += s->ws_msgs_received;
        hist_merge(d->iteration_ns, s->iteration_ns);
        hist_merge(d->ws_connect_ns, s->ws_connect_ns);
        hist_merge(d->ws_session_ns, s->ws_session_ns);
        hist_merge(d->ws_rtt_ns, s->ws_rtt_ns);
    }
    for (size_t i = 0; i < src->nchecks; i++) {
        script_check *c = script_results_check(dst, src->checks[i].name);
        if (!c)
            return VOLLEY_ENOMEM;
        c->passes += src->checks[i].passes;
        c->fails += src->checks[i].fails;
    }
    for (size_t i = 0; i < src->nmetrics; i++) {
        script_metric *m = script_results_metric(dst, src->metrics[i].name, src->metrics[i].kind);
        if (!m)
            return VOLLEY_ENOMEM;
        if (m->kind == src->metrics[i].kind)
            merge_metric(m, &src->metrics[i]);
    }
    for (size_t i = 0; i < src->nnames; i++) {
        script_name *n = script_results_name(dst, src->names[i].name);
        if (!n)
            return VOLLEY_ENOMEM;
        n->requests += src->names[i].requests;
        n->failures += src->names[i].failures;
        n->bytes_in += src->names[i].bytes_in;
        hist_merge(n->latency, src->names[i].latency);
        hist_merge(n->ttfb, src->names[i].ttfb);
    }
    dst->names_folded |= src->names_folded;
    for (size_t i = 0; i < src->nerrors; i++)
        script_results_error(dst, src->errors[i].msg, src->errors[i].where,
                             src->errors[i].count);
    dst->errors_other += src->errors_other;
    return 0;
}

script_name *script_results_name(script_results *r, const char *name)
{
    for (size_t i = 0; i < r->nnames; i++)
        if (!strcmp(r->names[i].name, name))
            return &r->names[i];
    if (r->nnames >= SCRIPT_MAX_NAMES) {
        r->names_folded = true;
        name = "other";
        for (size_t i = 0; i < r->nnames; i++)
            if (!strcmp(r->names[i].name, name))
                return &r->names[i];
    }
    script_name *n = realloc(r->names, (r->nnames + 1) * sizeof *n);
    if (!n)
        return NULL;
    r->names = n;
    n = &r->names[r->nnames];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    if (!(n->latency = hist_new()) || !(n->ttfb = hist_new())) {
        hist_free(n->latency);
        return NULL;
    }
    r->nnames++;
    return n;
}

/* ---- results.json ---- */

static json_t *ms_json(uint64_t ns)
{
    return json_real(round((double)ns / 1000.0) / 1000.0);
}

static json_t *hist_summary(const hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)hist_count(h)));
    json_object_set_new(o, "min", ms_json(hist_min(h)));
    json_object_set_new(o, "mean", json_real(round(hist_mean(h) / 1000.0) / 1000.0));
    json_object_set_new(o, "p50", ms_json(hist_percentile(h, 50)));
    json_object_set_new(o, "p90", ms_json(hist_percentile(h, 90)));
    json_object_set_new(o, "p95", ms_json(hist_percentile(h, 95)));
    json_object_set_new(o, "p99", ms_json(hist_percentile(h, 99)));
    json_object_set_new(o, "max", ms_json(hist_max(h)));
    return o;
}

/* Trend values are kept as value * 1e6 in the histogram. */
static json_t *trend_json(const script_metric *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("trend"));
    json_object_set_new(o, "count", json_integer((json_int_t)m->count));
    json_object_set_new(o, "min", json_real(m->min));
    json_object_set_new(o, "max", json_real(m->max));
    json_object_set_new(o, "avg", json_real(m->count ? m->sum / (double)m->count : 0));
    static const struct { const char *k; double p; } ps[] = {
        {"med", 50}, {"p90", 90}, {"p95", 95}, {"p99", 99}};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(o, ps[i].k,
                            json_real(m->h ? (double)hist_percentile(m->h, ps[i].p) / 1e6 : 0));
    return o;
}

static json_t *metric_json(const script_metric *m)
{
    if (m->kind == SMETRIC_TREND)
        return trend_json(m);
    json_t *o = json_object();
    switch (m->kind) {
    case SMETRIC_COUNTER:
        json_object_set_new(o, "type", json_string("counter"));
        json_object_set_new(o, "count", json_real(m->sum));
        json_object_set_new(o, "adds", json_integer((json_int_t)m->count));
        break;
    case SMETRIC_GAUGE:
        json_object_set_new(o, "type", json_string("gauge"));
        json_object_set_new(o, "value", json_real(m->last));
        json_object_set_new(o, "min", json_real(m->min));
        json_object_set_new(o, "max", json_real(m->max));
        break;
    case SMETRIC_RATE:
        json_object_set_new(o, "type", json_string("rate"));
        json_object_set_new(o, "rate", json_real(m->count ? m->sum / (double)m->count : 0));
        json_object_set_new(o, "passes", json_integer((json_int_t)m->sum));
        json_object_set_new(o, "fails", json_integer((json_int_t)(m->count - (uint64_t)m->sum)));
        break;
    default:
        break;
    }
    return o;
}

int script_results_json(const script_results *r, json_t *root)
{
    if (!r || !root)
        return VOLLEY_EINVAL;
    json_t *s = json_object();
    json_object_set_new(s, "file", json_string(r->path));
    json_object_set_new(s, "seed", json_integer((json_int_t)r->seed));
    json_t *names = json_object();
    for (size_t i = 0; i < r->nnames; i++) {
        const script_name *n = &r->names[i];
        json_t *o = json_object();
        json_object_set_new(o, "requests", json_integer((json_int_t)n->requests));
        json_object_set_new(o, "failures", json_integer((json_int_t)n->failures));
        json_object_set_new(o, "bytes_in", json_integer((json_int_t)n->bytes_in));
        json_t *l = json_object();
        json_object_set_new(l, "avg", json_real(hist_mean(n->latency) / 1e6));
        static const double ps[] = {50, 90, 95, 99};
        static const char *const pn[] = {"p50", "p90", "p95", "p99"};
        for (int k = 0; k < 4; k++)
            json_object_set_new(l, pn[k], json_real((double)hist_percentile(n->latency, ps[k]) / 1e6));
        json_object_set_new(l, "max", json_real((double)hist_max(n->latency) / 1e6));
        json_object_set_new(o, "latency_ms", l);
        json_object_set_new(o, "ttfb_p50_ms", json_real((double)hist_percentile(n->ttfb, 50) / 1e6));
        json_object_set_new(names, n->name, o);
    }
    json_object_set_new(s, "names", names);
    if (r->names_folded)
        json_object_set_new(s, "names_folded", json_true());
    const script_phase *ph[2] = {&r->setup, &r->teardown};
    static const char *const phn[2] = {"setup", "teardown"};
    for (int i = 0; i < 2; i++) {
        if (!ph[i]->ran)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "requests", json_integer((json_int_t)ph[i]->requests));
        json_object_set_new(o, "errors", json_integer((json_int_t)ph[i]->errors));
        json_object_set_new(o, "duration_ms", json_real(ph[i]->duration_ms));
        if (ph[i]->error[0])
            json_object_set_new(o, "error", json_string(ph[i]->error));
        json_object_set_new(s, phn[i], o);
    }
    uint64_t iters = 0, ierr = 0;
    json_t *scs = json_object();
    for (size_t i = 0; i < r->nsc; i++) {
        const script_scenario *c = &r->sc[i];
        iters += c->iterations;
        ierr += c->iteration_errors;
        json_t *o = json_object();
        json_object_set_new(o, "executor", json_string(c->executor));
        json_object_set_new(o, "exec", json_string(c->exec));
        json_object_set_new(o, "iterations", json_integer((json_int_t)c->iterations));
        json_object_set_new(o, "iteration_errors", json_integer((json_int_t)c->iteration_errors));
        json_object_set_new(o, "dropped_iterations", json_integer((json_int_t)c->dropped));
        json_object_set_new(o, "iteration_duration", hist_summary(c->iteration_ns));
        json_t *w = json_object();
        json_object_set_new(w, "sessions", json_integer((json_int_t)c->ws_sessions));
        json_object_set_new(w, "errors", json_integer((json_int_t)c->ws_errors));
        json_object_set_new(w, "messages_sent", json_integer((json_int_t)c->ws_msgs_sent));
        json_object_set_new(w, "messages_received", json_integer((json_int_t)c->ws_msgs_received));
        json_object_set_new(w, "connecting", hist_summary(c->ws_connect_ns));
        json_object_set_new(w, "session_duration", hist_summary(c->ws_session_ns));
        json_object_set_new(w, "rtt", hist_summary(c->ws_rtt_ns));
        json_object_set_new(o, "ws", w);
        json_object_set_new(scs, c->name, o);
    }
    json_object_set_new(s, "scenarios", scs);
    json_object_set_new(s, "iterations", json_integer((json_int_t)iters));
    json_object_set_new(s, "iteration_errors", json_integer((json_int_t)ierr));
    json_t *checks = json_array();
    for (size_t i = 0; i < r->nchecks; i++) {
        const script_check *c = &r->checks[i];
        json_t *o = json_object();
        uint64_t n = c->passes + c->fails;
        json_object_set_new(o, "name", json_string(c->name));
        json_object_set_new(o, "passes", json_integer((json_int_t)c->passes));
        json_object_set_new(o, "fails", json_integer((json_int_t)c->fails));
        json_object_set_new(o, "rate", json_real(n ? (double)c->passes / (double)n : 0));
        json_array_append_new(checks, o);
    }
    json_object_set_new(s, "checks", checks);
    json_t *ms = json_object();
    for (size_t i = 0; i < r->nmetrics; i++)
        json_object_set_new(ms, r->metrics[i].name, metric_json(&r->metrics[i]));
    json_object_set_new(s, "metrics", ms);
    json_t *errs = json_array();
    for (size_t i = 0; i < r->nerrors; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "message", json_string(r->errors[i].msg));
        json_object_set_new(o, "first_seen", json_string(r->errors[i].where));
        json_object_set_new(o, "count", json_integer((json_int_t)r->errors[i].count));
        json_array_append_new(errs, o);
    }
    json_object_set_new(s, "errors", errs);
    json_object_set_new(s, "errors_not_listed", json_integer((json_int_t)r->errors_other));
    json_t *th = json_array();
    for (size_t i = 0; i < r->nthresholds; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "metric", json_string(r->thresholds[i].metric));
        json_object_set_new(o, "expr", json_string(r->thresholds[i].expr));
        json_array_append_new(th, o);
    }
    json_object_set_new(s, "thresholds", th);
    return json_object_set_new(root, "script", s) ? VOLLEY_ENOMEM : 0;
}
