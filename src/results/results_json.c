/* results_json: writes results.json with jansson (see results_json.h and
 * docs/results-format.md). Durations are given in milliseconds with
 * microsecond precision for people and tools; histograms also carry their
 * exact encoding (hist_encode) so that nothing is lost. */
#include "results/results_json.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/fileio.h"

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

static json_t *secs(uint64_t ns)
{
    return json_real(round((double)ns / 1e6) / 1e3);
}

static json_t *wall(uint64_t ns)
{
    char t[40];
    clock_format_rfc3339(ns, t, sizeof t);
    return json_string(t);
}

static void set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v);
}

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *hist_json(const hist *h, err *e)
{
    json_t *o = json_object();
    set(o, "count", jint(hist_count(h)));
    set(o, "min", ms(hist_min(h)));
    set(o, "mean", ms_d(hist_mean(h)));
    set(o, "stddev", ms_d(hist_stddev(h)));
    set(o, "max", ms(hist_max(h)));
    static const struct { const char *name; double p; } pcts[] = {
        {"p50", 50}, {"p75", 75}, {"p90", 90}, {"p95", 95},
        {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99},
    };
    json_t *p = json_object();
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
        set(p, pcts[i].name, ms(hist_percentile(h, pcts[i].p)));
    set(o, "percentiles", p);
    buf b = {0};
    if (hist_encode(h, &b) == 0)
        set(o, "histogram", json_stringn(b.data ? b.data : "", b.len));
    else
        err_set(e, VOLLEY_ENOMEM, "results: out of memory encoding a histogram");
    buf_free(&b);
    return o;
}

static json_t *plan_json(const results_plan *p)
{
    json_t *o = json_object();
    set(o, "url", json_string(p->url));
    set(o, "method", json_string(p->method));
    set(o, "executor", json_string(p->executor));
    set(o, "mode", json_string(p->mode[0] ? p->mode : "per-endpoint"));
    set(o, "label", json_string(p->label));
    set(o, "command", json_string(p->command));
    set(o, "connections", json_integer(p->connections));
    set(o, "threads", json_integer(p->threads));
    set(o, "duration_s", json_real((double)p->duration_ns / NS_PER_S));
    set(o, "requests", jint(p->requests));
    set(o, "rate_per_s", json_real(p->rate_per_s));
    set(o, "stages", json_string(p->stages));
    set(o, "warmup_s", json_real((double)p->warmup_ns / NS_PER_S));
    set(o, "timeout_s", json_real((double)p->timeout_ns / NS_PER_S));
    set(o, "connect_timeout_s", json_real((double)p->connect_timeout_ns / NS_PER_S));
    set(o, "keepalive", json_boolean(p->keepalive));
    set(o, "pipeline", json_integer(p->pipeline ? p->pipeline : 1));
    set(o, "headers", json_integer(p->nheaders));
    set(o, "body_bytes", jint(p->body_bytes));
    set(o, "ok_status", json_string(p->ok_status[0] ? p->ok_status : "200-399"));
    set(o, "compressed", json_boolean(p->compressed));
    set(o, "share_tls_sessions", json_boolean(p->share_tls_sessions));
    set(o, "redirects", json_integer(p->redirects));
    set(o, "route", json_string(p->route));
    return o;
}

static json_t *totals_json(const results_stats *s)
{
    const metrics_totals *t = &s->tot;
    json_t *o = json_object();
    set(o, "requests", jint(t->requests));
    set(o, "responses", jint(t->responses));
    set(o, "errors", jint(t->errors));
    set(o, "transport_errors", jint(t->transport_errors));
    json_t *st = json_object();
    for (int i = 0; i < METRICS_STATUS_MAX; i++) {
        if (!t->status[i])
            continue;
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        set(st, k, jint(t->status[i]));
    }
    set(o, "responses_by_status", st);
    json_t *ek = json_object();
    for (int i = 0; i < ERRK_COUNT; i++)
        set(ek, metrics_err_kind_name((err_kind)i), jint(t->err_kind[i]));
    set(o, "errors_by_kind", ek);
    set(o, "dropped_iterations", jint(t->dropped));
    set(o, "bytes_in", jint(t->bytes_in));
    set(o, "bytes_out", jint(t->bytes_out));
    set(o, "connections_opened", jint(t->connects));
    set(o, "chunks", jint(t->chunks));
    set(o, "tls_resumed", jint(t->tls_resumed));
    set(o, "retries", jint(t->retries));
    set(o, "write_errors", jint(t->write_errors));
    set(o, "bytes_decoded", jint(t->bytes_decoded));
    set(o, "redirects", jint(t->redirects));
    /* The protocol the connections spoke, and what HTTP/2 changed. */
    set(o, "protocol", json_string(!t->connects ? "none"
                                   : !t->h2_conns ? "HTTP/1.1"
                                   : t->h2_conns == t->connects ? "HTTP/2"
                                                                : "mixed"));
    set(o, "wire_bytes_in", jint(t->wire_in));
    set(o, "wire_bytes_out", jint(t->wire_out));
    set(o, "h2_connections", jint(t->h2_conns));
    set(o, "h2_responses", jint(t->h2_responses));
    set(o, "h2_streams_per_connection",
        json_real(t->h2_conns ? round((double)t->h2_responses / (double)t->h2_conns * 100) / 100
                              : 0));
    set(o, "h2_max_streams_clamp", jint(t->h2_max_streams));
    double sec = (double)s->elapsed_ns / NS_PER_S;
    set(o, "rps", json_real(round(results_stats_rps(s) * 100) / 100));
    set(o, "bytes_in_per_s", json_real(sec > 0 ? round((double)t->bytes_in / sec) : 0));
    return o;
}

static const char *series_cols[] = {"second", "requests", "responses", "errors",
                                    "transport_errors", "bytes_in", "bytes_out", "p50_ms", "p90_ms",
                                    "p99_ms", "max_ms", "mean_ms", "active", "target_rps",
                                    "dropped", "retries"};

static const char *ws_cols[] = {"ws_sessions", "ws_closed", "ws_open", "ws_msgs_sent",
                                "ws_msgs_received", "ws_rtts", "ws_rtt_p50_ms",
                                "ws_rtt_p99_ms"};

static json_t *series_json(const series *s)
{
    json_t *o = json_object();
    json_t *c = json_array();
    for (size_t i = 0; i < sizeof series_cols / sizeof series_cols[0]; i++)
        json_array_append_new(c, json_string(series_cols[i]));
    for (size_t i = 0; i < SERIES_NBREAKDOWN; i++)
        json_array_append_new(c, json_string(series_breakdown_name(i)));
    json_array_append_new(c, json_string("send_lag_p99_ms"));
    json_array_append_new(c, json_string("cpu_pct"));
    /* WebSocket columns only where a second has one (scripts that use ws) */
    bool ws = series_has_ws(s);
    for (size_t i = 0; ws && i < sizeof ws_cols / sizeof ws_cols[0]; i++)
        json_array_append_new(c, json_string(ws_cols[i]));
    set(o, "columns", c);
    json_t *rows = json_array();
    for (size_t i = 0; i < s->len; i++) {
        const series_row *w = &s->rows[i];
        json_t *row = json_array();
        json_array_append_new(row, json_integer(w->second));
        json_array_append_new(row, jint(w->requests));
        json_array_append_new(row, jint(w->responses));
        json_array_append_new(row, jint(w->errors));
        json_array_append_new(row, jint(w->transport_errors));
        json_array_append_new(row, jint(w->bytes_in));
        json_array_append_new(row, jint(w->bytes_out));
        json_array_append_new(row, ms(w->p50_ns));
        json_array_append_new(row, ms(w->p90_ns));
        json_array_append_new(row, ms(w->p99_ns));
        json_array_append_new(row, ms(w->max_ns));
        json_array_append_new(row, ms_d(w->mean_ns));
        json_array_append_new(row, json_integer(w->active));
        json_array_append_new(row, json_real(round(w->target_rps * 100) / 100));
        json_array_append_new(row, jint(w->dropped));
        json_array_append_new(row, jint(w->retries));
        series_row copy = *w;
        for (size_t k = 0; k < SERIES_NBREAKDOWN; k++)
            json_array_append_new(row, jint(*series_breakdown_field(&copy, k)));
        json_array_append_new(row, ms(w->send_lag_p99_ns));
        json_array_append_new(row, json_real(round(w->cpu_pct * 10) / 10));
        if (ws) {
            json_array_append_new(row, jint(w->ws_opened));
            json_array_append_new(row, jint(w->ws_closed));
            json_array_append_new(row, jint(w->ws_open));
            json_array_append_new(row, jint(w->ws_sent));
            json_array_append_new(row, jint(w->ws_received));
            json_array_append_new(row, jint(w->ws_rtts));
            json_array_append_new(row, ms(w->ws_rtt_p50_ns));
            json_array_append_new(row, ms(w->ws_rtt_p99_ns));
        }
        json_array_append_new(rows, row);
    }
    set(o, "rows", rows);
    return o;
}

/* The stats block fields, added to o. */
static void stats_json(json_t *o, const results_stats *s, err *e)
{
    set(o, "duration_s", secs(s->elapsed_ns));
    set(o, "duration_ns", jint(s->elapsed_ns));
    set(o, "drain_s", secs(s->drain_ns));
    set(o, "totals", totals_json(s));
    for (int i = 0; i < METRICS_DIST_COUNT; i++) {
        /* latency_corrected exists in the closed model only. */
        if (metrics_dists[i].show == METRICS_SHOW_CLOSED_IF_ANY && !hist_count(s->dist[i]))
            continue;
        set(o, metrics_dists[i].json, hist_json(s->dist[i], e));
    }
    set(o, "series", series_json(&s->sec));
}

static json_t *endpoints_json(const results_endpoint *eps, size_t n, err *e)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        set(o, "name", json_string(eps[i].name));
        set(o, "method", json_string(eps[i].method));
        set(o, "url", json_string(eps[i].url));
        set(o, "weight", json_real(eps[i].weight));
        stats_json(o, &eps[i].st, e);
        json_array_append_new(a, o);
    }
    return a;
}

/* Host, segment and common start of a distributed run's part. */
static void dist_json(json_t *root, const results *r)
{
    set(root, "host", json_string(r->host));
    if (r->segment_n) {
        json_t *o = json_object();
        set(o, "index", json_integer(r->segment_k));
        set(o, "count", json_integer(r->segment_n));
        set(root, "segment", o);
    } else {
        set(root, "segment", json_null());
    }
    set(root, "start_at_unix_ns", jint(r->start_at_ns));
    set(root, "start_late_ns", json_integer((json_int_t)r->start_late_ns));
}

char *results_json_dump(const results *r, err *e)
{
    return results_json_dump_ext(r, NULL, NULL, e);
}

/* The generator's honesty block (monitor/selfmon; docs/results-format.md). */
static json_t *generator_json(const results_generator *g)
{
    json_t *o = json_object(), *th = json_array(), *sec = json_array();
    for (uint32_t i = 0; i < g->nthreads; i++)
        json_array_append_new(th, json_real(round(g->thread_cpu_pct[i] * 10) / 10));
    for (size_t i = 0; i < g->nsec; i++)
        json_array_append_new(sec, json_real(round(g->sec_cpu_pct[i] * 10) / 10));
    set(o, "verdict", json_string(g->behind ? "behind" : "ok"));
    set(o, "why", json_string(g->why));
    set(o, "note", json_string(g->note));
    set(o, "thread_cpu_pct", th);
    set(o, "cpu_max_pct", json_real(round(g->cpu_max_pct * 10) / 10));
    set(o, "wait_max_pct", json_real(round(g->wait_max_pct * 10) / 10));
    set(o, "cpu_seconds", json_real(round(g->cpu_seconds * 1000) / 1000));
    set(o, "rss_max_bytes", jint(g->rss_max_bytes));
    set(o, "send_lag_p50_ms", json_real((double)g->lag_p50_ns / 1e6));
    set(o, "send_lag_p90_ms", json_real((double)g->lag_p90_ns / 1e6));
    set(o, "send_lag_p99_ms", json_real((double)g->lag_p99_ns / 1e6));
    set(o, "send_lag_mean_ms", json_real(g->lag_mean_ns / 1e6));
    set(o, "target_rps", json_real(g->target_rps));
    set(o, "sent_share", json_real(round(g->sent_share * 10000) / 10000));
    set(o, "per_second_cpu_pct", sec);
    return o;
}

char *results_json_dump_ext(const results *r, results_json_extra_fn extra, const void *ctx,
                            err *e)
{
    json_t *root = json_object();
    set(root, "schema_version", json_integer(RESULTS_SCHEMA_VERSION));
    json_t *tool = json_object();
    set(tool, "name", json_string("volley"));
    set(tool, "version", json_string(VOLLEY_VERSION));
    set(root, "tool", tool);
    if (r->run_id[0])
        set(root, "run_id", json_string(r->run_id));
    set(root, "plan", plan_json(&r->plan));
    set(root, "start", wall(r->start_wall_ns));
    set(root, "end", wall(r->end_wall_ns));
    set(root, "start_unix_ns", jint(r->start_wall_ns));
    set(root, "interrupted", json_boolean(r->interrupted));
    set(root, "warning", json_string(r->warning));
    set(root, "warmup_requests", jint(r->warmup_requests));
    set(root, "series_overruns", jint(r->series_overruns));
    dist_json(root, r);
    stats_json(root, &r->st, e);
    set(root, "endpoints", endpoints_json(r->eps, r->neps, e));
    json_t *steps = json_array();
    for (size_t i = 0; i < r->nsteps; i++) {
        const results_step *st = &r->steps[i];
        json_t *o = json_object();
        set(o, "index", json_integer(st->index));
        set(o, "target_rps", json_real(st->target_rps));
        set(o, "target_vus", json_integer(st->target_vus));
        set(o, "offset_s", secs(st->offset_ns));
        set(o, "offset_ns", jint(st->offset_ns));
        stats_json(o, &st->st, e);
        set(o, "endpoints", endpoints_json(st->eps, r->neps, e));
        double cpu;
        uint64_t rss;
        if (results_step_monitor(r, st, &cpu, &rss)) {
            json_t *srv = json_object();
            set(srv, "cpu_pct", json_real(round(cpu * 10) / 10));
            set(srv, "rss_max_bytes", jint(rss));
            set(o, "server", srv);
        }
        json_array_append_new(steps, o);
    }
    set(root, "steps", steps);
    json_t *th = json_array();
    for (size_t i = 0; i < r->nthresholds; i++) {
        json_t *o = json_object();
        set(o, "expr", json_string(r->thresholds[i].expr));
        set(o, "ok", json_boolean(r->thresholds[i].ok));
        set(o, "actual", json_real(r->thresholds[i].actual));
        set(o, "actual_text", json_string(r->thresholds[i].actual_text));
        json_array_append_new(th, o);
    }
    set(root, "thresholds", th);
    set(root, "thresholds_aborted", json_boolean(r->thresholds_aborted));
    if (r->monitor.pid) {
        const results_monitor *m = &r->monitor;
        json_t *o = json_object();
        set(o, "pid", json_integer(m->pid));
        set(o, "command", json_string(m->command));
        set(o, "interval_s", json_real(m->interval_s));
        set(o, "cpu_seconds", json_real(round(m->cpu_seconds * 1000) / 1000));
        set(o, "rss_max_bytes", jint(m->rss_max_bytes));
        double k = r->st.tot.requests ? m->cpu_seconds * 1000.0 / (double)r->st.tot.requests : 0;
        set(o, "cpu_seconds_per_1000_requests", json_real(round(k * 1e6) / 1e6));
        json_t *cols = json_array();
        json_array_append_new(cols, json_string("t_s"));
        json_array_append_new(cols, json_string("cpu_pct"));
        json_array_append_new(cols, json_string("rss_bytes"));
        set(o, "columns", cols);
        json_t *rows = json_array();
        for (size_t i = 0; i < m->nsamples; i++) {
            json_t *row = json_array();
            json_array_append_new(row, json_real(round(m->samples[i].t_s * 1000) / 1000));
            json_array_append_new(row, json_real(round(m->samples[i].cpu_pct * 10) / 10));
            json_array_append_new(row, jint(m->samples[i].rss_bytes));
            json_array_append_new(rows, row);
        }
        set(o, "rows", rows);
        set(root, "monitor", o);
    }
    if (r->cold.measured) {
        json_t *o = json_object();
        set(o, "ready_ms", json_real(round(r->cold.ready_ms * 1000) / 1000));
        set(o, "start_ms", json_real(round(r->cold.start_ms * 1000) / 1000));
        set(o, "first_request_ms", json_real(round(r->cold.first_ms * 1000) / 1000));
        set(o, "status", json_integer(r->cold.status));
        set(o, "attempts", json_integer(r->cold.attempts));
        set(root, "cold", o);
    }
    if (r->generator.measured || r->generator.why[0])
        set(root, "generator", generator_json(&r->generator));
    if (extra && extra(root, ctx)) {
        json_decref(root);
        err_set(e, VOLLEY_ENOMEM, "results: cannot encode the extra fields");
        return NULL;
    }
    char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (!s)
        err_set(e, VOLLEY_ENOMEM, "results: cannot encode JSON");
    return s;
}

int results_json_write(const results *r, const char *path, err *e)
{
    return results_json_write_ext(r, path, NULL, NULL, e);
}

int results_json_write_ext(const results *r, const char *path, results_json_extra_fn extra,
                           const void *ctx, err *e)
{
    char *s = results_json_dump_ext(r, extra, ctx, e);
    if (!s)
        return VOLLEY_ENOMEM;
    size_t n = strlen(s);
    s[n] = '\n'; /* the NUL becomes the final newline */
    int rc = file_write_atomic(path, s, n + 1, e);
    free(s);
    return rc;
}
