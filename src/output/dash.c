/* dash: snapshot -> the dashboard's JSON event (see dash.h), and the page
 * that draws it (page.html, a byte array made by the Makefile). Names are
 * escaped by jansson. */
#include "output/dash.h"

#include "dash_page_html.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const char *dash_page(void) { return (const char *)dash_page_html; }

static double ms(uint64_t ns) { return (double)ns / 1e6; }

/* Non-zero counts by status class and by error kind, as two objects
 * ("status" and kinds_key). */
static json_t *by_class_kind(const uint64_t *cls, const uint64_t *kinds, const char *kinds_key)
{
    json_t *st = json_object(), *ek = json_object();
    for (int c = 1; c < SNAP_STATUS_CLASSES; c++)
        if (cls[c])
            json_object_set_new(st, snap_status_class_name(c), json_integer((json_int_t)cls[c]));
    for (int k = 0; k < ERRK_COUNT; k++)
        if (kinds[k])
            json_object_set_new(ek, metrics_err_kind_name((err_kind)k),
                                json_integer((json_int_t)kinds[k]));
    return json_pack("{s:o,s:o}", "status", st, kinds_key, ek);
}

static json_t *last_second(const snap *s)
{
    const series_row *r = &s->last;
    json_t *o = json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:f,s:f}", "requests",
                          (json_int_t)r->requests, "target", r->target_rps, "p50_ms",
                          ms(r->p50_ns), "p90_ms", ms(r->p90_ns), "p99_ms", ms(r->p99_ns),
                          "max_ms", ms(r->max_ns), "errors", (json_int_t)r->errors,
                          "send_lag_p99_ms", ms(r->send_lag_p99_ns), "cpu_pct", r->cpu_pct);
    if (o) {
        json_object_set_new(o, "retries", json_integer((json_int_t)r->retries));
        json_object_update_new(o, by_class_kind(r->status_class, r->err_kind, "error_kinds"));
    }
    return o;
}

static json_t *breakdown(const snap *s)
{
    json_t *o = by_class_kind(s->status_class, s->err_kind, "errors");
    if (o)
        json_object_set_new(o, "retries", json_integer((json_int_t)s->retries));
    return o;
}

static json_t *endpoints(const snap *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->neps; i++) {
        const snap_endpoint *e = &s->eps[i];
        json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:f,s:f,s:f}", "name", e->name,
                                           "requests", (json_int_t)e->requests, "errors",
                                           (json_int_t)e->errors, "rps", e->rps, "p50_ms",
                                           ms(e->p50_ns), "p99_ms", ms(e->p99_ns)));
    }
    return a;
}

static json_t *thresholds(const snap *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nth; i++)
        json_array_append_new(a, json_pack("{s:s,s:b,s:s,s:s}", "expr", s->th[i].expr, "ok",
                                           s->th[i].ok, "actual", s->th[i].actual, "state",
                                           s->th[i].state ? s->th[i].state : "pending"));
    return a;
}

int dash_event(const snap *s, double cpu_pct, buf *out)
{
    json_t *o = json_pack("{s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:f,s:f,s:f}", "final", s->final,
                          "t", (int)s->seconds, "requests", (json_int_t)s->requests, "responses",
                          (json_int_t)s->responses, "errors", (json_int_t)s->errors, "bytes_in",
                          (json_int_t)s->bytes_in, "bytes_out", (json_int_t)s->bytes_out,
                          "dropped", (json_int_t)s->dropped, "active", (int)s->active, "cpu_s",
                          s->cpu_s, "cpu_pct", cpu_pct, "send_lag_p99_ms", ms(s->send_lag_p99_ns));
    if (!o)
        return VOLLEY_ENOMEM;
    json_object_set_new(o, "p99_ms", json_real(ms(hist_percentile(s->latency, 99))));
    json_object_set_new(o, "rps", json_real(s->rps));
    json_object_set_new(o, "p50_ms", json_real(ms(hist_percentile(s->latency, 50))));
    if (s->have_last)
        json_object_set_new(o, "last", last_second(s));
    if (s->have_breakdown)
        json_object_set_new(o, "breakdown", breakdown(s));
    json_object_set_new(o, "endpoints", endpoints(s));
    json_object_set_new(o, "thresholds", thresholds(s));
    if (s->report[0])
        json_object_set_new(o, "results", json_string(s->report));
    if (s->report_served)
        json_object_set_new(o, "report", json_string("/report"));
    char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!txt)
        return VOLLEY_ENOMEM;
    int rc = buf_append(out, txt, strlen(txt));
    free(txt);
    return rc;
}
