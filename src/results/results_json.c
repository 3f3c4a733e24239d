/* results_json: writes results.json with jansson (see results_json.h).
 * Durations are given in milliseconds with microsecond precision for people
 * and tools; histograms also carry their exact encoding (hist_encode). */
#include "results/results_json.h"

#include "core/buf.h"
#include "core/clock.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VOLLEY_VERSION
#define VOLLEY_VERSION "0.1.0"
#endif

static json_t *ms(uint64_t ns)
{
    return json_real(round((double)ns / 1000.0) / 1000.0);
}

static json_t *ms_d(double ns)
{
    return json_real(round(ns / 1000.0) / 1000.0);
}

static json_t *wall(uint64_t ns)
{
    char t[40];
    clock_format_rfc3339(ns, t, sizeof t);
    return json_string(t);
}

static json_t *hist_json(const hist *h, err *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)hist_count(h)));
    json_object_set_new(o, "min", ms(hist_min(h)));
    json_object_set_new(o, "mean", ms_d(hist_mean(h)));
    json_object_set_new(o, "stddev", ms_d(hist_stddev(h)));
    json_object_set_new(o, "max", ms(hist_max(h)));
    static const struct { const char *name; double p; } pcts[] = {
        {"p50", 50}, {"p75", 75}, {"p90", 90}, {"p95", 95},
        {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99},
    };
    json_t *p = json_object();
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
        json_object_set_new(p, pcts[i].name, ms(hist_percentile(h, pcts[i].p)));
    json_object_set_new(o, "percentiles", p);
    buf b = {0};
    if (hist_encode(h, &b) == 0) {
        json_object_set_new(o, "histogram", json_stringn(b.data ? b.data : "", b.len));
    } else {
        err_set(e, VOLLEY_ENOMEM, "results: out of memory encoding a histogram");
    }
    buf_free(&b);
    return o;
}

static json_t *plan_json(const results_plan *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "url", json_string(p->url));
    json_object_set_new(o, "method", json_string(p->method));
    json_object_set_new(o, "executor", json_string(p->executor));
    json_object_set_new(o, "connections", json_integer(p->connections));
    json_object_set_new(o, "threads", json_integer(p->threads));
    json_object_set_new(o, "duration_s", json_real((double)p->duration_ns / NS_PER_S));
    json_object_set_new(o, "requests", json_integer((json_int_t)p->requests));
    json_object_set_new(o, "timeout_s", json_real((double)p->timeout_ns / NS_PER_S));
    json_object_set_new(o, "connect_timeout_s",
                        json_real((double)p->connect_timeout_ns / NS_PER_S));
    json_object_set_new(o, "keepalive", json_boolean(p->keepalive));
    json_object_set_new(o, "headers", json_integer(p->nheaders));
    json_object_set_new(o, "body_bytes", json_integer((json_int_t)p->body_bytes));
    return o;
}

static json_t *totals_json(const results *r)
{
    const metrics_totals *t = &r->tot;
    json_t *o = json_object();
    json_object_set_new(o, "requests", json_integer((json_int_t)t->requests));
    json_object_set_new(o, "responses", json_integer((json_int_t)t->responses));
    json_object_set_new(o, "errors", json_integer((json_int_t)t->errors));
    json_t *st = json_object();
    for (int i = 0; i < METRICS_STATUS_MAX; i++) {
        if (!t->status[i])
            continue;
        char k[8];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(st, k, json_integer((json_int_t)t->status[i]));
    }
    json_object_set_new(o, "responses_by_status", st);
    json_t *ek = json_object();
    for (int i = 0; i < ERRK_COUNT; i++)
        json_object_set_new(ek, metrics_err_kind_name((err_kind)i),
                            json_integer((json_int_t)t->err_kind[i]));
    json_object_set_new(o, "errors_by_kind", ek);
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)t->bytes_in));
    json_object_set_new(o, "bytes_out", json_integer((json_int_t)t->bytes_out));
    json_object_set_new(o, "connections_opened", json_integer((json_int_t)t->connects));
    double secs = (double)r->elapsed_ns / NS_PER_S;
    json_object_set_new(o, "rps", json_real(round(results_rps(r) * 100) / 100));
    json_object_set_new(o, "bytes_in_per_s",
                        json_real(secs > 0 ? round((double)t->bytes_in / secs) : 0));
    return o;
}

static json_t *series_json(const series *s)
{
    json_t *o = json_object();
    static const char *cols[] = {"second", "requests", "responses", "errors", "bytes_in",
                                 "bytes_out", "p50_ms", "p90_ms", "p99_ms", "max_ms",
                                 "mean_ms", "active"};
    json_t *c = json_array();
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        json_array_append_new(c, json_string(cols[i]));
    json_object_set_new(o, "columns", c);
    json_t *rows = json_array();
    for (size_t i = 0; i < s->len; i++) {
        const series_row *w = &s->rows[i];
        json_t *row = json_array();
        json_array_append_new(row, json_integer(w->second));
        json_array_append_new(row, json_integer((json_int_t)w->requests));
        json_array_append_new(row, json_integer((json_int_t)w->responses));
        json_array_append_new(row, json_integer((json_int_t)w->errors));
        json_array_append_new(row, json_integer((json_int_t)w->bytes_in));
        json_array_append_new(row, json_integer((json_int_t)w->bytes_out));
        json_array_append_new(row, ms(w->p50_ns));
        json_array_append_new(row, ms(w->p90_ns));
        json_array_append_new(row, ms(w->p99_ns));
        json_array_append_new(row, ms(w->max_ns));
        json_array_append_new(row, ms_d(w->mean_ns));
        json_array_append_new(row, json_integer(w->active));
        json_array_append_new(rows, row);
    }
    json_object_set_new(o, "rows", rows);
    return o;
}

char *results_json_dump(const results *r, err *e)
{
    json_t *root = json_object();
    json_object_set_new(root, "schema_version", json_integer(RESULTS_SCHEMA_VERSION));
    json_t *tool = json_object();
    json_object_set_new(tool, "name", json_string("volley"));
    json_object_set_new(tool, "version", json_string(VOLLEY_VERSION));
    json_object_set_new(root, "tool", tool);
    json_object_set_new(root, "plan", plan_json(&r->plan));
    json_object_set_new(root, "start", wall(r->start_wall_ns));
    json_object_set_new(root, "end", wall(r->end_wall_ns));
    json_object_set_new(root, "duration_s",
                        json_real(round((double)r->elapsed_ns / 1e6) / 1e3));
    json_object_set_new(root, "interrupted", json_boolean(r->interrupted));
    if (r->warning[0])
        json_object_set_new(root, "warning", json_string(r->warning));
    json_object_set_new(root, "totals", totals_json(r));
    json_object_set_new(root, "latency", hist_json(r->latency, e));
    json_object_set_new(root, "service_time", hist_json(r->service, e));
    json_object_set_new(root, "ttfb", hist_json(r->ttfb, e));
    json_object_set_new(root, "connect", hist_json(r->connect, e));
    json_object_set_new(root, "series", series_json(&r->sec));
    json_object_set_new(root, "series_overruns", json_integer((json_int_t)r->series_overruns));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (!s)
        err_set(e, VOLLEY_ENOMEM, "results: cannot encode JSON");
    return s;
}

int results_json_write(const results *r, const char *path, err *e)
{
    char *s = results_json_dump(r, e);
    if (!s)
        return VOLLEY_ENOMEM;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(s);
        return err_sys(e, "cannot write '%s'", tmp);
    }
    size_t n = strlen(s);
    bool ok = fwrite(s, 1, n, f) == n && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    free(s);
    if (!ok) {
        unlink(tmp);
        return err_sys(e, "cannot write '%s'", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return err_sys(e, "cannot rename '%s' to '%s'", tmp, path);
    }
    return 0;
}
