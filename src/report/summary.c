/* summary: console summary of a run (see summary.h). */
#include "report/summary.h"

#include "core/clock.h"
#include "core/parse.h"

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

static void endpoint_table(FILE *f, const results_endpoint *eps, size_t n, const char *title)
{
    fprintf(f, "\n  %s\n", title);
    fprintf(f, "    %-20s %9s %9s %8s %9s %9s %9s %9s %9s\n", "endpoint", "requests", "rps",
            "ok %", "p50", "p95", "p99", "ttfb p50", "ttfb p99");
    for (size_t i = 0; i < n; i++) {
        const results_stats *st = &eps[i].st;
        char a[16], b[16], c[16], d[16], g[16];
        dur(hist_percentile(st->latency, 50), a, sizeof a);
        dur(hist_percentile(st->latency, 95), b, sizeof b);
        dur(hist_percentile(st->latency, 99), c, sizeof c);
        dur(hist_percentile(st->ttfb, 50), d, sizeof d);
        dur(hist_percentile(st->ttfb, 99), g, sizeof g);
        uint64_t ok = st->tot.requests - st->tot.errors;
        fprintf(f, "    %-20.20s %9llu %9.1f %8.2f %9s %9s %9s %9s %9s\n", eps[i].name,
                (unsigned long long)st->tot.requests, results_stats_rps(st),
                pct(ok, st->tot.requests), a, b, c, d, g);
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

static void sweep_table(FILE *f, const results *r)
{
    bool srv = r->monitor.pid != 0;
    fprintf(f, "\n  sweep: target vs achieved\n");
    fprintf(f, "    %9s %9s %9s %9s %9s %9s %9s", "target", "achieved", "p50", "p95", "p99",
            "ok %", "dropped");
    if (srv)
        fprintf(f, " %9s %10s", "srv cpu%", "srv rss");
    fputc('\n', f);
    for (size_t i = 0; i < r->nsteps; i++) {
        const results_stats *st = &r->steps[i].st;
        char a[16], b[16], c[16];
        dur(hist_percentile(st->latency, 50), a, sizeof a);
        dur(hist_percentile(st->latency, 95), b, sizeof b);
        dur(hist_percentile(st->latency, 99), c, sizeof c);
        uint64_t ok = st->tot.requests - st->tot.errors;
        fprintf(f, "    %9.1f %9.1f %9s %9s %9s %9.2f %9llu", r->steps[i].target_rps,
                results_stats_rps(st), a, b, c, pct(ok, st->tot.requests),
                (unsigned long long)st->tot.dropped);
        if (srv)
            sweep_server(f, r, &r->steps[i]);
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

void summary_print(FILE *f, const results *r)
{
    const results_plan *p = &r->plan;
    const metrics_totals *t = &r->st.tot;
    char a[32], b[32];
    bool open = strstr(p->executor, "arrival") != NULL;
    if (r->neps > 1)
        fprintf(f, "\n  %zu endpoints, %s%s\n", r->neps, p->mode,
                !strcmp(p->mode, "mixed") ? ": one load spread over the endpoints by weight"
                                          : ": each endpoint gets the full load at the same time");
    else
        fprintf(f, "\n  %s %s\n", p->method, p->url);
    if (p->duration_ns)
        dur(p->duration_ns, a, sizeof a);
    else
        snprintf(a, sizeof a, "until done");
    fprintf(f, "  %s: ", p->executor);
    if (r->nsteps)
        fprintf(f, "sweep of %zu rates, ", r->nsteps);
    else if (p->stages[0])
        fprintf(f, "stages %s, ", p->stages);
    else if (open)
        fprintf(f, "%.1f req/s, ", p->rate_per_s);
    fprintf(f, "%u %s, %u threads, %s", p->connections, open ? "max connections" : "connections",
            p->threads, p->stages[0] ? "" : a);
    if (p->requests)
        fprintf(f, ", %llu requests", (unsigned long long)p->requests);
    fprintf(f, "%s%s\n", p->keepalive ? "" : ", no keep-alive",
            r->interrupted ? "  [INTERRUPTED]" : "");
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
    fprintf(f, "  data in      %s, %s/s\n", a, b);
    summary_format_bytes((double)t->bytes_out, a, sizeof a);
    fprintf(f, "  data out     %s   connections opened %llu", a, (unsigned long long)t->connects);
    if (hist_count(r->st.tls_handshake))
        fprintf(f, " (%llu TLS handshakes resumed a session)", (unsigned long long)t->tls_resumed);
    fprintf(f, "\n\n");

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
        endpoint_table(f, r->eps, r->neps, "per endpoint");
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
    if (r->nthresholds) {
        fprintf(f, "\n  thresholds\n");
        for (size_t i = 0; i < r->nthresholds; i++)
            fprintf(f, "    %s %-34s %s\n", r->thresholds[i].ok ? "pass" : "FAIL",
                    r->thresholds[i].expr, r->thresholds[i].actual_text);
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
