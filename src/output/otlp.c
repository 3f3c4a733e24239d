/* otlp: snapshot -> OTLP JSON (see otlp.h). Follows the protobuf JSON
 * mapping: 64-bit integers (times, counts, asInt) are strings, enums are
 * numbers (aggregationTemporality 2 = cumulative), field names lowerCamel. */
#include "output/otlp.h"

#include "output/prom.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *u64s(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return json_string(b);
}

typedef struct otlp_ctx {
    json_t *metrics;
    uint64_t start, now;
    int points;
} otlp_ctx;

static json_t *point(otlp_ctx *c, json_t *attrs, bool with_start)
{
    json_t *p = json_object();
    if (with_start)
        json_object_set_new(p, "startTimeUnixNano", u64s(c->start));
    json_object_set_new(p, "timeUnixNano", u64s(c->now));
    if (attrs)
        json_object_set_new(p, "attributes", attrs);
    c->points++;
    return p;
}

static void sum(otlp_ctx *c, const char *name, const char *unit, uint64_t v)
{
    json_t *p = point(c, NULL, true);
    json_object_set_new(p, "asInt", u64s(v));
    json_array_append_new(c->metrics,
                          json_pack("{s:s,s:s,s:{s:[o],s:i,s:b}}", "name", name, "unit", unit,
                                    "sum", "dataPoints", p, "aggregationTemporality", 2,
                                    "isMonotonic", 1));
}

static json_t *attr(const char *k, const char *v)
{
    return json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v);
}

/* One cumulative sum with a point per label value (status class, kind). */
static void labelled_sum(otlp_ctx *c, const char *name, const char *unit, const char *key,
                         const char *const *vals, const uint64_t *counts, int n)
{
    json_t *pts = json_array();
    for (int i = 0; i < n; i++) {
        json_t *p = point(c, json_pack("[o]", attr(key, vals[i])), true);
        json_object_set_new(p, "asInt", u64s(counts[i]));
        json_array_append_new(pts, p);
    }
    json_array_append_new(c->metrics,
                          json_pack("{s:s,s:s,s:{s:o,s:i,s:b}}", "name", name, "unit", unit,
                                    "sum", "dataPoints", pts, "aggregationTemporality", 2,
                                    "isMonotonic", 1));
}

static void breakdown(otlp_ctx *c, const snap *s)
{
    const char *cls[SNAP_STATUS_CLASSES - 1], *kinds[ERRK_COUNT];
    for (int i = 1; i < SNAP_STATUS_CLASSES; i++)
        cls[i - 1] = snap_status_class_name(i);
    for (int k = 0; k < ERRK_COUNT; k++)
        kinds[k] = metrics_err_kind_name((err_kind)k);
    labelled_sum(c, "volley.responses_by_status", "{response}", "status_class", cls,
                 s->status_class + 1, SNAP_STATUS_CLASSES - 1);
    labelled_sum(c, "volley.errors_by_kind", "{request}", "kind", kinds, s->err_kind, ERRK_COUNT);
}

static void gauge(otlp_ctx *c, const char *name, const char *unit, double v)
{
    json_t *p = point(c, NULL, false);
    json_object_set_new(p, "asDouble", json_real(v));
    json_array_append_new(c->metrics, json_pack("{s:s,s:s,s:{s:[o]}}", "name", name, "unit",
                                                unit, "gauge", "dataPoints", p));
}

static void histogram(otlp_ctx *c, const hist *h)
{
    json_t *bounds = json_array(), *counts = json_array();
    uint64_t below = 0;
    for (unsigned i = 0; i < prom_nbuckets; i++) {
        uint64_t le = prom_hist_le(h, (uint64_t)(prom_buckets_s[i] * 1e9));
        json_array_append_new(bounds, json_real(prom_buckets_s[i]));
        json_array_append_new(counts, u64s(le - below));
        below = le;
    }
    json_array_append_new(counts, u64s(hist_count(h) - below));
    json_t *p = point(c, NULL, true);
    json_object_set_new(p, "count", u64s(hist_count(h)));
    json_object_set_new(p, "sum", json_real((double)hist_sum(h) / 1e9));
    json_object_set_new(p, "bucketCounts", counts);
    json_object_set_new(p, "explicitBounds", bounds);
    json_array_append_new(c->metrics,
                          json_pack("{s:s,s:s,s:{s:[o],s:i}}", "name", "volley.request.duration",
                                    "unit", "s", "histogram", "dataPoints", p,
                                    "aggregationTemporality", 2));
}


int otlp_encode(const snap *s, uint64_t start_wall_ns, const char *run, buf *out)
{
    otlp_ctx c = {.metrics = json_array(), .start = start_wall_ns, .now = s->wall_ns};
    sum(&c, "volley.requests", "{request}", s->requests);
    sum(&c, "volley.responses", "{response}", s->responses);
    sum(&c, "volley.failed_requests", "{request}", s->errors);
    sum(&c, "volley.bytes_received", "By", s->bytes_in);
    sum(&c, "volley.bytes_sent", "By", s->bytes_out);
    sum(&c, "volley.dropped_iterations", "{iteration}", s->dropped);
    sum(&c, "volley.retries", "{request}", s->retries);
    gauge(&c, "volley.active_connections", "{connection}", s->active);
    gauge(&c, "volley.target_rate", "{request}/s", s->target_rps);
    gauge(&c, "volley.generator.cpu_time", "s", s->cpu_s);
    gauge(&c, "volley.generator.cpu_percent", "%", s->have_last ? s->last.cpu_pct : 0);
    gauge(&c, "volley.send_lag.p99", "s", (double)s->send_lag_p99_ns / 1e9);
    if (s->have_breakdown)
        breakdown(&c, s);
    histogram(&c, s->latency);
    json_t *res = json_pack("{s:[{s:{s:[o,o]},s:[{s:{s:s},s:o}]}]}", "resourceMetrics",
                            "resource", "attributes", attr("service.name", "volley"),
                            attr("volley.run", run), "scopeMetrics", "scope", "name", "volley",
                            "metrics", c.metrics);
    char *txt = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    if (!txt)
        return VOLLEY_ENOMEM;
    int rc = buf_append(out, txt, strlen(txt));
    free(txt);
    return rc ? rc : c.points;
}
