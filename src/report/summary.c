/* summary: console summary of a run (see summary.h). */
#include "report/summary.h"

#include "core/clock.h"
#include "core/parse.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

void summary_format_bytes(double bytes, char *out, unsigned long cap)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) {
        bytes /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%.0f %s", bytes, units[u]);
    else
        snprintf(out, cap, "%.2f %s", bytes, units[u]);
}

static void dur(uint64_t ns, char *out, unsigned long cap)
{
    parse_format_duration(ns, out, cap);
}

/* HTTP/2: how many connections spoke it, streams each, what HPACK saved. */
static void summary_h2_line(FILE *f, const metrics_totals *t)
{
    char a[32], b[32];
    summary_format_bytes((double)t->wire_in, a, sizeof a);
    summary_format_bytes((double)t->bytes_in, b, sizeof b);
    fprintf(f, "  http/2       %llu of %llu connections, %.1f streams each; on the wire in %s "
            "(frames) for %s of headers and bodies",
            (unsigned long long)t->h2_conns, (unsigned long long)t->connects,
            (double)t->h2_responses / (double)t->h2_conns, a, b);
    if (t->h2_max_streams)
        fprintf(f, "; the server allowed only %llu streams per connection",
                (unsigned long long)t->h2_max_streams);
    fprintf(f, "\n");
}

static void hist_line(FILE *f, const char *name, const hist *h)
{
    if (!hist_count(h)) {
        fprintf(f, "  %-10s %9s\n", name, "-");
        return;
    }
    const double pcts[] = {50, 90, 95, 99, 99.9};
    char v[16];
    fprintf(f, "  %-10s", name);
    dur(hist_min(h), v, sizeof v);
    fprintf(f, " %9s", v);
    dur((uint64_t)hist_mean(h), v, sizeof v);
    fprintf(f, " %9s", v);
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        dur(hist_percentile(h, pcts[i]), v, sizeof v);
        fprintf(f, " %9s", v);
    }
    dur(hist_max(h), v, sizeof v);
    fprintf(f, " %9s\n", v);
}

bool summary_dist_shown(const results_stats *st, metrics_dist d, bool open)
{
    switch (metrics_dists[d].show) {
    case METRICS_SHOW_ALWAYS: return true;
    case METRICS_SHOW_IF_ANY: return hist_count(st->dist[d]) > 0;
    case METRICS_SHOW_OPEN: return open;
    case METRICS_SHOW_CLOSED_IF_ANY: return !open && hist_count(st->dist[d]) > 0;
    case METRICS_SHOW_IF_STREAMED:
        return hist_count(st->dist[d]) > 0 && hist_count(st->dist[METRICS_DIST_CHUNK_GAP]) > 0;
    case METRICS_SHOW_IF_FEWER: {
        uint64_t n = hist_count(st->dist[d]);
        return n && n < hist_count(st->dist[METRICS_DIST_LATENCY]);
    }
    }
    return true;
}

static double pct(uint64_t n, uint64_t of)
{
    return of ? 100.0 * (double)n / (double)of : 0;
}

int summary_name_width(const results_endpoint *eps, size_t n, int least)
{
    int w = least;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(eps[i].name) > w)
            w = (int)strlen(eps[i].name);
    return w;
}

/* The name column is as wide as the longest name: a name is never cut.
 * first: a "1st body p50" column (the run's bodies were streamed). */
static void endpoint_table(FILE *f, const results_endpoint *eps, size_t n, const char *title,
                           bool first)
{
    int nw = summary_name_width(eps, n, 20);
    fprintf(f, "\n  %s\n", title);
    fprintf(f, "    %-*s %9s %9s %8s %9s %9s %9s %9s %9s", nw, "endpoint", "requests", "rps",
            "ok %", "p50", "p95", "p99", "ttfb p50", "ttfb p99");
    fprintf(f, first ? " %13s\n" : "\n", "1st body p50");
    for (size_t i = 0; i < n; i++) {
        const results_stats *st = &eps[i].st;
        char a[16], b[16], c[16], d[16], g[16], h[16];
        dur(hist_percentile(st->latency, 50), a, sizeof a);
        dur(hist_percentile(st->latency, 95), b, sizeof b);
        dur(hist_percentile(st->latency, 99), c, sizeof c);
        dur(hist_percentile(st->ttfb, 50), d, sizeof d);
        dur(hist_percentile(st->ttfb, 99), g, sizeof g);
        uint64_t ok = st->tot.requests - st->tot.errors;
        fprintf(f, "    %-*s %9llu %9.1f %8.2f %9s %9s %9s %9s %9s", nw, eps[i].name,
                (unsigned long long)st->tot.requests, results_stats_rps(st),
                pct(ok, st->tot.requests), a, b, c, d, g);
        if (first) {
            const hist *fb = st->dist[METRICS_DIST_FIRST_BODY];
            if (hist_count(fb))
                dur(hist_percentile(fb, 50), h, sizeof h);
            else
                snprintf(h, sizeof h, "-");
            fprintf(f, " %13s", h);
        }
        fputc('\n', f);
    }
}

/* The server's mean CPU % and peak RSS in the step (--exec, --monitor-pid). */
static void sweep_server(FILE *f, const results *r, const results_step *st)
{
    double cpu;
    uint64_t rss;
    char b[32] = "-", c[16] = "-";
    if (results_step_monitor(r, st, &cpu, &rss)) {
        snprintf(c, sizeof c, "%.1f", cpu);
        summary_format_bytes((double)rss, b, sizeof b);
    }
    fprintf(f, " %9s %10s", c, b);
}

static void sweep_row(FILE *f, const char *name, int nw, double target, const results_stats *st)
{
    char a[16], b[16], c[16];
    dur(hist_percentile(st->latency, 50), a, sizeof a);
    dur(hist_percentile(st->latency, 95), b, sizeof b);
    dur(hist_percentile(st->latency, 99), c, sizeof c);
    uint64_t ok = st->tot.requests - st->tot.errors;
    fprintf(f, "    %-*s %9.1f %9.1f %9s %9s %9s %9.2f %9llu", nw, name, target,
            results_stats_rps(st), a, b, c, pct(ok, st->tot.requests),
            (unsigned long long)st->tot.dropped);
}

/* Each row's target beside the rate achieved against it: with several
 * endpoints a row per endpoint (its own target) and the step's total (the
 * sum of theirs). */
static void sweep_table(FILE *f, const results *r)
{
    bool srv = r->monitor.pid != 0, per_ep = r->neps > 1;
    int nw = per_ep ? summary_name_width(r->eps, r->neps, 8) : 4;
    fprintf(f, "\n  sweep: target vs achieved (requests/s)\n");
    fprintf(f, "    %-*s %9s %9s %9s %9s %9s %9s %9s", nw, per_ep ? "endpoint" : "step",
            "target", "achieved", "p50", "p95", "p99", "ok %", "dropped");
    if (srv)
        fprintf(f, " %9s %10s", "srv cpu%", "srv rss");
    fputc('\n', f);
    for (size_t i = 0; i < r->nsteps; i++) {
        const results_step *stp = &r->steps[i];
        double total = 0;
        for (size_t k = 0; per_ep && k < r->neps; k++) {
            double t = stp->target_rps * results_target_share(r, k);
            total += t;
            sweep_row(f, r->eps[k].name, nw, t, &stp->eps[k].st);
            fputc('\n', f);
        }
        char name[32];
        snprintf(name, sizeof name, per_ep ? "step %zu" : "%zu", i + 1);
        sweep_row(f, name, nw, per_ep ? total : stp->target_rps, &stp->st);
        if (srv)
            sweep_server(f, r, stp);
        fputc('\n', f);
    }
}

/* --cold: the first request to a fresh server beside the warm load. */
static void print_cold(FILE *f, const results *r)
{
    const results_cold *c = &r->cold;
    char p50[16] = "-", p99[16] = "-";
    if (hist_count(r->st.latency)) {
        dur(hist_percentile(r->st.latency, 50), p50, sizeof p50);
        dur(hist_percentile(r->st.latency, 99), p99, sizeof p99);
    }
    fprintf(f, "\n  cold start: %.1fms from --exec to the first %d response (ready after "
               "%.1fms, %u attempt%s)\n",
            c->start_ms, c->status, c->ready_ms, c->attempts, c->attempts == 1 ? "" : "s");
    fprintf(f, "    first request %.2fms; warm (the load): p50 %s, p99 %s\n", c->first_ms, p50,
            p99);
}

/* The generator's verdict (monitor/selfmon): one line when it kept up,
 * plain words and the fix when it did not. */
static void summary_generator(FILE *f, const results_generator *g)
{
    if (!g->measured && !g->why[0])
        return;
    char rss[32];
    summary_format_bytes((double)g->rss_max_bytes, rss, sizeof rss);
    if (!g->behind) {
        fprintf(f, "\n  generator: kept up (busiest worker thread busy %.0f%% of the time, send lag p99 "
                   "%.2fms, peak rss %s)\n", g->cpu_max_pct, (double)g->lag_p99_ns / 1e6, rss);
        if (g->note[0])
            fprintf(f, "  note: %s\n", g->note);
        return;
    }
    fprintf(f, "\n  generator: FELL BEHIND - the generator fell behind, so these numbers measure\n"
               "    volley as much as the server: %s.\n"
               "    Fix: more worker threads (-t, up to the cores), a lower rate per process,\n"
               "    or more machines (--segment K/N on each, then merge).\n", g->why);
}

/* The part of a distributed run this was, and how late it began. */
static void dist_print(FILE *f, const results *r)
{
    if (r->segment_n)
        fprintf(f, "  segment %u/%u on %s\n", r->segment_k, r->segment_n,
                r->host[0] ? r->host : "?");
    if (r->start_at_ns) {
        char t[40];
        clock_format_rfc3339(r->start_at_ns, t, sizeof t);
        fprintf(f, "  start-at %s: began %.3f ms late\n", t, (double)r->start_late_ns / 1e6);
    }
}

/* A plan's length as people write it: "10m", "1m30s", "2.00s". */
static void plan_dur(uint64_t ns, char *out, size_t cap)
{
    uint64_t s = ns / NS_PER_S;
    if (ns % NS_PER_S || s < 60)
        dur(ns, out, cap);
    else if (s % 60)
        snprintf(out, cap, "%llum%llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(out, cap, "%llum", (unsigned long long)(s / 60));
}

static void part(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends ", PART" (or PART first) to out. */
static void part(char *out, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(out);
    if (len && len + 2 < cap) {
        memcpy(out + len, ", ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    if (len < cap)
        vsnprintf(out + len, cap - len, fmt, ap);
    va_end(ap);
}

/* A script's executors: its one executor, or each scenario's. */
static void script_executors(const results *r, char *out, size_t cap)
{
    const results_script *sc = &r->script;
    if (sc->nsc <= 1) {
        snprintf(out, cap, "%s", sc->nsc ? sc->sc[0].executor : r->plan.executor);
        return;
    }
    snprintf(out, cap, "%zu scenarios (", sc->nsc);
    for (size_t i = 0; i < sc->nsc; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s: %s", i ? ", " : "", sc->sc[i].name,
                 sc->sc[i].executor);
    }
    size_t len = strlen(out);
    snprintf(out + len, cap - len, ")");
}

void summary_plan_text(const results *r, char *out, size_t cap)
{
    const results_plan *p = &r->plan;
    bool script = r->script.present || !strcmp(p->mode, "script");
    bool open = strstr(p->executor, "arrival") != NULL;
    bool iters = strstr(p->executor, "iterations") != NULL;
    for (size_t i = 0; i < r->script.nsc; i++) /* their duration is a maximum */
        iters |= strstr(r->script.sc[i].executor, "iterations") != NULL;
    char ex[512], a[32];
    if (script)
        script_executors(r, ex, sizeof ex);
    else
        snprintf(ex, sizeof ex, "%s", p->executor);
    snprintf(out, cap, "%s: ", ex);
    size_t head = strlen(out);
    out += head;
    cap -= head;
    out[0] = '\0';
    if (r->nsteps)
        part(out, cap, "sweep of %zu rates", r->nsteps);
    else if (p->stages[0])
        part(out, cap, "stages %s", p->stages);
    else if (open && p->rate_per_s > 0)
        part(out, cap, "%.1f req/s", p->rate_per_s);
    if (script)
        part(out, cap, "%u %s", p->connections, open ? "max VUs" : p->connections == 1 ? "VU" : "VUs");
    else
        part(out, cap, "%u %s", p->connections,
             open ? "max connections" : p->connections == 1 ? "connection" : "connections");
    part(out, cap, "%u thread%s", p->threads, p->threads == 1 ? "" : "s");
    if (p->duration_ns && !p->stages[0]) {
        plan_dur(p->duration_ns, a, sizeof a);
        part(out, cap, iters ? "at most %s" : "%s", a);
    } else if (!p->duration_ns && !p->stages[0] && !p->requests) {
        part(out, cap, "until done");
    }
    if (p->requests)
        part(out, cap, "%llu requests", (unsigned long long)p->requests);
    if (!p->keepalive)
        part(out, cap, "no keep-alive");
}

void summary_threshold_value(const results *r, const results_threshold *t, char *out, size_t cap)
{
    snprintf(out, cap, "%s", t->actual_text);
    const char *colon = strstr(t->expr, ": ");
    size_t n = colon ? (size_t)(colon - t->expr) : 0;
    size_t len = strlen(t->actual_text);
    if (!n || !len || t->actual_text[len - 1] < '0' || t->actual_text[len - 1] > '9')
        return; /* already has its unit, or is no number */
    for (size_t i = 0; i < r->script.nmetrics; i++) {
        const rs_metric *m = &r->script.metrics[i];
        if (strlen(m->name) == n && !strncmp(m->name, t->expr, n) && strcmp(m->type, "rate") &&
            results_script_unit(m->name)[0]) {
            results_script_fmt(m->name, t->actual, out, cap);
            return;
        }
    }
}

void summary_print(FILE *f, const results *r)
{
    const results_plan *p = &r->plan;
    const metrics_totals *t = &r->st.tot;
    char a[32], b[32], line[1024];
    bool open = strstr(p->executor, "arrival") != NULL;
    if (r->script.present || !strcmp(p->mode, "script"))
        fprintf(f, "\n  script %s\n", p->url);
    else if (r->neps > 1)
        fprintf(f, "\n  %zu endpoints, %s%s\n", r->neps, p->mode,
                !strcmp(p->mode, "mixed") ? ": one load spread over the endpoints by weight"
                                          : ": each endpoint gets the full load at the same time");
    else
        fprintf(f, "\n  %s %s\n", p->method, p->url);
    summary_plan_text(r, line, sizeof line);
    fprintf(f, "  %s%s\n", line, r->interrupted ? "  [INTERRUPTED]" : "");
    dist_print(f, r);
    fputc('\n', f);

    double secs = (double)r->st.elapsed_ns / NS_PER_S;
    fprintf(f, "  requests     %llu in %.2fs, %.1f/s\n", (unsigned long long)t->requests, secs,
            results_rps(r));
    if (r->st.drain_ns)
        fprintf(f, "  drain        %.2fs after the load until the last response (not in the rates)\n",
                (double)r->st.drain_ns / NS_PER_S);
    fprintf(f, "  responses    %llu (%.2f%%)   failed %llu (%.2f%%): %llu unexpected status, "
               "%llu transport errors\n",
            (unsigned long long)t->responses, pct(t->responses, t->requests),
            (unsigned long long)t->errors, pct(t->errors, t->requests),
            (unsigned long long)(t->errors - t->transport_errors),
            (unsigned long long)t->transport_errors);
    if (open || t->dropped)
        fprintf(f, "  dropped      %llu iterations could not start (no free connection, backlog full)\n",
                (unsigned long long)t->dropped);
    if (r->warmup_requests)
        fprintf(f, "  warm-up      %llu requests, not counted\n", (unsigned long long)r->warmup_requests);
    summary_format_bytes((double)t->bytes_in, a, sizeof a);
    summary_format_bytes(secs > 0 ? (double)t->bytes_in / secs : 0, b, sizeof b);
    fprintf(f, "  data in      %s, %s/s", a, b);
    if (t->bytes_decoded) {
        summary_format_bytes((double)t->bytes_decoded, a, sizeof a);
        fprintf(f, "   decoded %s (--compressed; decoding not in latency)", a);
    }
    fprintf(f, "\n");
    if (t->redirects)
        fprintf(f, "  redirects    %llu followed (each hop a request of its own)\n",
                (unsigned long long)t->redirects);
    summary_format_bytes((double)t->bytes_out, a, sizeof a);
    fprintf(f, "  data out     %s   connections opened %llu", a, (unsigned long long)t->connects);
    if (hist_count(r->st.tls_handshake))
        fprintf(f, " (%llu TLS handshakes resumed a session)", (unsigned long long)t->tls_resumed);
    fprintf(f, "\n");
    if (t->h2_conns)
        summary_h2_line(f, t);
    fprintf(f, "\n");

    fprintf(f, "  %-10s %9s %9s %9s %9s %9s %9s %9s %9s\n", "", "min", "avg", "p50", "p90",
            "p95", "p99", "p99.9", "max");
    for (int i = 0; i < METRICS_DIST_COUNT; i++)
        if (summary_dist_shown(&r->st, (metrics_dist)i, open))
            hist_line(f, metrics_dists[i].label, r->st.dist[i]);
    if (open)
        fprintf(f, "  (latency from the scheduled start; service time from the first byte sent)\n");
    uint64_t timeouts = t->err_kind[ERRK_TIMEOUT] + t->err_kind[ERRK_CONNECT_TIMEOUT];
    if (timeouts)
        fprintf(f, "  (latency includes %llu timed-out requests at the time they were abandoned, "
                   "a lower bound;\n   latency ok: the requests that did not fail)\n",
                (unsigned long long)timeouts);
    if (!open && hist_count(r->st.latency_corrected))
        fprintf(f, "  (latency: raw, as k6 reports; corrected: coordinated omission corrected\n"
                   "   by the expected interval, as wrk reports - see docs/capacity.md)\n");

    if (r->neps > 1)
        endpoint_table(f, r->eps, r->neps, "per endpoint",
                       summary_dist_shown(&r->st, METRICS_DIST_FIRST_BODY, open));
    if (r->nsteps)
        sweep_table(f, r);

    fprintf(f, "\n  status\n");
    bool any = false;
    for (int i = 0; i < METRICS_STATUS_MAX; i++) {
        if (!t->status[i])
            continue;
        any = true;
        fprintf(f, "    %-18d %12llu  %6.2f%%\n", i, (unsigned long long)t->status[i],
                pct(t->status[i], t->requests));
    }
    if (!any)
        fprintf(f, "    (no responses)\n");
    if (t->errors > t->transport_errors)
        fprintf(f, "  failed: %llu responses with a status outside --ok-status %s\n",
                (unsigned long long)(t->errors - t->transport_errors),
                r->plan.ok_status[0] ? r->plan.ok_status : "200-399");
    if (t->transport_errors) {
        fprintf(f, "  transport errors\n");
        for (int i = 0; i < ERRK_COUNT; i++) {
            if (!t->err_kind[i])
                continue;
            fprintf(f, "    %-18s %12llu  %6.2f%%\n", metrics_err_kind_name((err_kind)i),
                    (unsigned long long)t->err_kind[i], pct(t->err_kind[i], t->requests));
        }
    }
    if (r->monitor.pid) {
        const results_monitor *m = &r->monitor;
        char a2[32];
        summary_format_bytes((double)m->rss_max_bytes, a2, sizeof a2);
        double per_k = t->requests ? m->cpu_seconds * 1000.0 / (double)t->requests : 0;
        fprintf(f, "\n  server under test: pid %d (%s)\n", m->pid, m->command);
        fprintf(f, "    cpu %.2f s (%.1f%% of one core), %.4f cpu-s per 1000 requests, peak rss %s\n",
                m->cpu_seconds, secs > 0 ? m->cpu_seconds / secs * 100 : 0, per_k, a2);
    }
    if (r->cold.measured)
        print_cold(f, r);
    summary_generator(f, &r->generator);
    summary_script_print(f, r);
    if (r->nthresholds) {
        fprintf(f, "\n  thresholds\n");
        for (size_t i = 0; i < r->nthresholds; i++) {
            char v[64];
            summary_threshold_value(r, &r->thresholds[i], v, sizeof v);
            fprintf(f, "    %s %-34s %s\n", r->thresholds[i].ok ? "pass" : "FAIL",
                    r->thresholds[i].expr, v);
        }
    }
    if (r->series_overruns)
        fprintf(f, "  note: %llu per-second intervals were lost (main thread too slow)\n",
                (unsigned long long)r->series_overruns);
    if (r->warning[0])
        fprintf(f, "  warning: %s\n", r->warning);
    fprintf(f, "\n");
}

void summary_print_latency_dist(FILE *f, const results *r)
{
    static const double ps[] = {50, 75, 90, 99};
    fprintf(f, "  Latency Distribution\n");
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double us = (double)hist_percentile(r->st.latency, ps[i]) / 1e3;
        if (us < 1000)
            fprintf(f, "  %3.0f%% %8.2fus\n", ps[i], us);
        else if (us < 1e6)
            fprintf(f, "  %3.0f%% %8.2fms\n", ps[i], us / 1e3);
        else
            fprintf(f, "  %3.0f%% %8.2fs\n", ps[i], us / 1e6);
    }
}

/* ---- a script's own results (r->script) ---- */

static void ms_str(double ms, char *out, size_t cap)
{
    dur(ms > 0 ? (uint64_t)llround(ms * 1e6) : 0, out, cap);
}

static void script_scenarios(FILE *f, const results_script *s)
{
    for (size_t i = 0; i < s->nsc; i++) {
        const rs_scenario *c = &s->sc[i];
        char a[16], b[16], d[16], g[16];
        fprintf(f, "  scenario %s (%s, exec %s): %llu iterations, %llu errors", c->name,
                c->executor, c->exec, (unsigned long long)c->iterations,
                (unsigned long long)c->iteration_errors);
        if (c->dropped)
            fprintf(f, ", %llu dropped", (unsigned long long)c->dropped);
        fputc('\n', f);
        if (c->it_count) {
            ms_str(c->it_avg_ms, a, sizeof a);
            ms_str(c->it_p50_ms, b, sizeof b);
            ms_str(c->it_p95_ms, d, sizeof d);
            ms_str(c->it_max_ms, g, sizeof g);
            fprintf(f, "    iteration_duration  avg %-9s p50 %-9s p95 %-9s max %s\n", a, b, d, g);
        }
        if (c->ws_sessions || c->ws_errors) {
            fprintf(f, "    ws: %llu sessions, %llu errors, %llu messages sent, %llu received\n",
                    (unsigned long long)c->ws_sessions, (unsigned long long)c->ws_errors,
                    (unsigned long long)c->ws_sent, (unsigned long long)c->ws_received);
            if (c->ws_rtt_count) {
                ms_str(c->ws_rtt_p50_ms, a, sizeof a);
                ms_str(c->ws_rtt_p95_ms, b, sizeof b);
                fprintf(f, "    ws_rtt  p50 %s  p95 %s (%llu round trips)\n", a, b,
                        (unsigned long long)c->ws_rtt_count);
            }
        }
    }
    const rs_phase *ph[2] = {&s->setup, &s->teardown};
    for (int i = 0; i < 2; i++)
        if (ph[i]->ran)
            fprintf(f, "  %s(): %.2fms, %llu requests%s%s\n", i ? "teardown" : "setup",
                    ph[i]->duration_ms, (unsigned long long)ph[i]->requests,
                    ph[i]->error[0] ? ", failed: " : "", ph[i]->error);
}

static void script_names(FILE *f, const results_script *s)
{
    if (!s->nnames)
        return;
    int nw = 20;
    for (size_t i = 0; i < s->nnames; i++)
        if ((int)strlen(s->names[i].name) > nw)
            nw = (int)strlen(s->names[i].name);
    fprintf(f, "  requests by name%s\n", s->names_folded ? " (past 200 names: other)" : "");
    fprintf(f, "    %-*s %9s %8s %9s %9s %9s %9s %9s\n", nw, "name", "requests", "fails", "avg",
            "p50", "p95", "p99", "max");
    for (size_t i = 0; i < s->nnames; i++) {
        const rs_name *n = &s->names[i];
        char v[5][16];
        const double ms[5] = {n->avg_ms, n->p50_ms, n->p95_ms, n->p99_ms, n->max_ms};
        for (int k = 0; k < 5; k++)
            ms_str(ms[k], v[k], sizeof v[k]);
        fprintf(f, "    %-*s %9llu %8llu %9s %9s %9s %9s %9s\n", nw, n->name,
                (unsigned long long)n->requests, (unsigned long long)n->failures, v[0], v[1],
                v[2], v[3], v[4]);
    }
}

/* Checks under their group ("group::name"), k6's way. */
static void script_checks(FILE *f, const results_script *s)
{
    if (!s->nchecks)
        return;
    fprintf(f, "  checks\n");
    char group[160] = "";
    for (size_t i = 0; i < s->nchecks; i++) {
        const rs_check *c = &s->checks[i];
        const char *sep = strstr(c->name, "::");
        const char *name = sep ? sep + 2 : c->name;
        int glen = sep ? (int)(sep - c->name) : 0;
        if ((int)strlen(group) != glen || strncmp(group, c->name, (size_t)glen)) {
            snprintf(group, sizeof group, "%.*s", glen, c->name);
            if (glen)
                fprintf(f, "    group %s\n", group);
        }
        uint64_t n = c->passes + c->fails;
        fprintf(f, "    %s%s %-40s %6.2f%%  %llu passed, %llu failed\n", glen ? "  " : "",
                c->fails ? "x" : "v", name, n ? 100.0 * (double)c->passes / (double)n : 0,
                (unsigned long long)c->passes, (unsigned long long)c->fails);
    }
}

void summary_metric_text(const rs_metric *m, char *out, size_t cap)
{
    char a[32], b[32], c[32], d[32];
    if (!strcmp(m->type, "trend")) {
        results_script_fmt(m->name, m->avg, a, sizeof a);
        results_script_fmt(m->name, m->med, b, sizeof b);
        results_script_fmt(m->name, m->p95, c, sizeof c);
        results_script_fmt(m->name, m->max, d, sizeof d);
        snprintf(out, cap, "avg %s  med %s  p95 %s  max %s  (%.0f values)", a, b, c, d, m->count);
    } else if (!strcmp(m->type, "counter")) {
        results_script_fmt(m->name, m->count, a, sizeof a);
        snprintf(out, cap, "%s  (%llu adds)", a, (unsigned long long)m->adds);
    } else if (!strcmp(m->type, "gauge")) {
        results_script_fmt(m->name, m->value, a, sizeof a);
        results_script_fmt(m->name, m->min, b, sizeof b);
        results_script_fmt(m->name, m->max, c, sizeof c);
        snprintf(out, cap, "%s  (min %s, max %s)", a, b, c);
    } else {
        snprintf(out, cap, "%.2f%%  (%llu of %llu)", 100 * m->rate,
                 (unsigned long long)m->passes, (unsigned long long)(m->passes + m->fails));
    }
}

static void script_metrics(FILE *f, const results_script *s)
{
    if (!s->nmetrics)
        return;
    int nw = 24;
    for (size_t i = 0; i < s->nmetrics; i++)
        if ((int)strlen(s->metrics[i].name) > nw)
            nw = (int)strlen(s->metrics[i].name);
    fprintf(f, "  custom metrics\n");
    for (size_t i = 0; i < s->nmetrics; i++) {
        char v[256];
        summary_metric_text(&s->metrics[i], v, sizeof v);
        fprintf(f, "    %-*s %-7s %s\n", nw, s->metrics[i].name, s->metrics[i].type, v);
    }
}

void summary_script_print(FILE *f, const results *r)
{
    const results_script *s = &r->script;
    if (!s->present)
        return;
    fprintf(f, "\n  script %s\n", s->file);
    script_scenarios(f, s);
    script_names(f, s);
    script_checks(f, s);
    script_metrics(f, s);
    if (s->nerrors) {
        fprintf(f, "  iteration errors\n");
        for (size_t i = 0; i < s->nerrors; i++)
            fprintf(f, "    %6llu x %s (first: %s)\n", (unsigned long long)s->errors[i].count,
                    s->errors[i].msg, s->errors[i].where);
        if (s->errors_other)
            fprintf(f, "    %6llu x other messages\n", (unsigned long long)s->errors_other);
    }
}
