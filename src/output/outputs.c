/* outputs: builds the sinks from the flags and feeds them (see outputs.h).
 * The snapshot (output/snap) is updated once per collected second; each
 * encoder turns it into its format and hands the text to its transport:
 * httpd_publish for pull outputs, poster_send for push outputs. */
#include "output/outputs.h"

#include "core/clock.h"
#include "core/parse.h"
#include "output/dash.h"
#include "output/httpd.h"
#include "output/influx.h"
#include "output/otlp.h"
#include "output/post.h"
#include "output/prom.h"
#include "output/snap.h"
#include "output/tui.h"
#include "report/html.h"

#include <stdlib.h>
#include <string.h>

#define PUSH_QUEUE 120          /* bodies (seconds) kept for retry */
#define FLUSH_NS (3 * NS_PER_S) /* at the end, try this long to deliver */

const char *const outputs_flag_names[OUTPUTS_NFLAGS] = {
    "metrics-listen", "metrics-linger", "dashboard", "out-influx",
    "out-otlp",       "pushgateway",    "tui"};
const bool outputs_flag_has_arg[OUTPUTS_NFLAGS] = {true, true, true, true, true, true, false};

struct outputs {
    outputs_config c;
    char run[160];
    snap s;
    httpd *srv[2];         /* --metrics-listen, --dashboard (one if same address) */
    poster *influx, *otlp, *pgw;
    tui *term;
    uint64_t start_wall_ns, last_wall_ns;
    double last_cpu_s;
    uint64_t last_cpu_wall_ns;
    buf scratch;
};

int outputs_parse_flag(outputs_config *c, int idx, const char *arg, err *e)
{
    switch (idx) {
    case OUTPUTS_FLAG_METRICS_LISTEN: c->metrics_listen = arg; return 0;
    case OUTPUTS_FLAG_METRICS_LINGER:
        return parse_duration_ns(arg, "--metrics-linger", &c->linger_ns, e);
    case OUTPUTS_FLAG_DASHBOARD: c->dashboard = arg; return 0;
    case OUTPUTS_FLAG_OUT_INFLUX: c->influx_url = arg; return 0;
    case OUTPUTS_FLAG_OUT_OTLP: c->otlp_url = arg; return 0;
    case OUTPUTS_FLAG_PUSHGATEWAY: c->pushgateway_url = arg; return 0;
    case OUTPUTS_FLAG_TUI: c->tui = true; return 0;
    }
    return err_set(e, VOLLEY_EINVAL, "unknown output flag");
}

bool outputs_configured(const outputs_config *c)
{
    return c->metrics_listen || c->dashboard || c->influx_url || c->otlp_url ||
           c->pushgateway_url || c->tui;
}

/* "PORT" alone means 127.0.0.1:PORT. */
static httpd *listen_flag(const char *arg, const char *flag, err *e)
{
    char hp[300];
    if (strspn(arg, "0123456789") == strlen(arg))
        snprintf(hp, sizeof hp, "127.0.0.1:%s", arg);
    else
        snprintf(hp, sizeof hp, "%s", arg);
    addr a;
    if (addr_parse_hostport(hp, flag, &a, e))
        return NULL;
    httpd *h = httpd_start(&a, dash_page(), e);
    if (!h && e && strncmp(e->msg, flag, strlen(flag))) {
        char m[sizeof e->msg];
        snprintf(m, sizeof m, "%s", e->msg);
        err_set(e, e->code, "%s: %s", flag, m);
    }
    return h;
}

static poster *push_flag(const char *target, const char *flag, const char *method,
                         const char *type, size_t queue, err *e)
{
    poster_config pc = {.url = target, .flag = flag, .method = method, .content_type = type,
                        .max_queued = queue};
    return poster_new(&pc, e);
}

/* A URL without a path ("http://host:port" or ".../") gets def_path. */
static void default_path(const char *arg, const char *def_path, char *u, size_t cap)
{
    size_t n = strlen(arg);
    const char *rest = strstr(arg, "://");
    bool bare = rest && !strchr(rest + 3, '/');
    bool slash = rest && n && arg[n - 1] == '/' && strchr(rest + 3, '/') == arg + n - 1;
    if (bare || slash)
        snprintf(u, cap, "%.*s%s", (int)(n - slash), arg, def_path);
    else
        snprintf(u, cap, "%s", arg);
}

/* InfluxDB 1.x: a bare http://host:port writes to database "volley". */
static poster *influx_flag(const char *arg, err *e)
{
    char u[4300];
    default_path(arg, "/write?db=volley&precision=ns", u, sizeof u);
    return push_flag(u, "--out-influx", "POST", "text/plain; charset=utf-8", PUSH_QUEUE, e);
}

static int start_all(outputs *o, FILE *term, err *e)
{
    const outputs_config *c = &o->c;
    if (c->metrics_listen && !(o->srv[0] = listen_flag(c->metrics_listen, "--metrics-listen", e)))
        return e->code;
    if (c->dashboard && (!c->metrics_listen || strcmp(c->dashboard, c->metrics_listen)) &&
        !(o->srv[1] = listen_flag(c->dashboard, "--dashboard", e)))
        return e->code;
    if (c->influx_url && !(o->influx = influx_flag(c->influx_url, e)))
        return e->code;
    char u[4300];
    if (c->otlp_url)
        default_path(c->otlp_url, "/v1/metrics", u, sizeof u);
    if (c->otlp_url &&
        !(o->otlp = push_flag(u, "--out-otlp", "POST", "application/json", PUSH_QUEUE, e)))
        return e->code;
    if (c->pushgateway_url) /* ready now (the URL checked), pushed at the end */
        default_path(c->pushgateway_url, "/metrics/job/volley", u, sizeof u);
    if (c->pushgateway_url &&
        !(o->pgw = push_flag(u, "--pushgateway", "PUT", PROM_CONTENT_TYPE, 1, e)))
        return e->code;
    if (c->tui && !(o->term = tui_start(term, e)))
        return e->code;
    return 0;
}

static void publish(outputs *o, double pct);

outputs *outputs_new(const outputs_config *c, const char *run, FILE *term, err *e)
{
    if (c->linger_ns && !c->metrics_listen && !c->dashboard) {
        err_set(e, VOLLEY_EINVAL, "--metrics-linger: needs --metrics-listen or --dashboard");
        return NULL;
    }
    if (!outputs_configured(c))
        return NULL;
    outputs *o = calloc(1, sizeof *o);
    if (!o || snap_init(&o->s)) {
        free(o);
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        return NULL;
    }
    o->c = *c;
    snprintf(o->run, sizeof o->run, "%s", run && *run ? run : "volley");
    o->start_wall_ns = o->last_wall_ns = o->last_cpu_wall_ns = clock_wall_ns();
    o->last_cpu_s = snap_cpu_seconds();
    if (start_all(o, term, e)) {
        o->c.linger_ns = 0;
        outputs_free(o);
        return NULL;
    }
    snap_set_thresholds(&o->s, c->thresholds, c->nthresholds);
    publish(o, 0); /* zeros until the first second: /metrics is never empty */
    return o;
}

/* Generator CPU over the time since the last call, in % of one core. */
static double cpu_pct(outputs *o)
{
    uint64_t now = clock_wall_ns();
    double cpu = snap_cpu_seconds(), dt = (double)(now - o->last_cpu_wall_ns) / 1e9;
    double pct = dt > 0 ? (cpu - o->last_cpu_s) / dt * 100 : 0;
    o->last_cpu_s = cpu;
    o->last_cpu_wall_ns = now;
    return pct;
}

static void publish(outputs *o, double pct)
{
    if (!o->srv[0] && !o->srv[1])
        return;
    buf m = {0}, ev = {0};
    if (prom_encode(&o->s, &m) || dash_event(&o->s, pct, &ev))
        goto out;
    for (int i = 0; i < 2; i++)
        if (o->srv[i])
            httpd_publish(o->srv[i], m.data, m.len, ev.data, ev.len);
out:
    buf_free(&m);
    buf_free(&ev);
}

static void push_otlp(outputs *o)
{
    buf_reset(&o->scratch);
    int n = otlp_encode(&o->s, o->start_wall_ns, o->run, &o->scratch);
    if (n > 0)
        poster_send(o->otlp, o->scratch.data, o->scratch.len, (uint64_t)n);
}

void outputs_second(outputs *o, const series_row *row, const hist *latency)
{
    if (!o)
        return;
    cpu_pct(o); /* keeps the CPU clock of the final event */
    double pct = row->cpu_pct;
    snap_add_second(&o->s, row, latency, o->last_cpu_s);
    snap_judge_thresholds(&o->s, o->c.thresholds, o->c.nthresholds);
    /* Points of one series need distinct times. */
    if (o->s.wall_ns <= o->last_wall_ns)
        o->s.wall_ns = o->last_wall_ns + 1;
    o->last_wall_ns = o->s.wall_ns;
    if (o->term)
        tui_second(o->term, row);
    publish(o, pct);
    if (o->influx) {
        buf_reset(&o->scratch);
        if (!influx_second(&o->scratch, o->run, row, o->s.wall_ns))
            poster_send(o->influx, o->scratch.data, o->scratch.len, 1);
    }
    if (o->otlp)
        push_otlp(o);
}

void outputs_endpoint_second(outputs *o, uint32_t ep, const char *name, const series_row *row)
{
    if (o)
        snap_add_endpoint_second(&o->s, ep, name, row);
}

void outputs_progress(outputs *o, const engine_progress *pr)
{
    if (!o || !o->term)
        return;
    o->s.active = pr->active;
    tui_draw(o->term, pr, &o->s);
}

bool outputs_draws_progress(const outputs *o) { return o && o->term; }

static int report_push(FILE *log, const char *flag, const poster_stats *st)
{
    if (!st->undelivered) {
        fprintf(log, "%s: %llu points delivered\n", flag, (unsigned long long)st->delivered);
        return 0;
    }
    fprintf(log, "%s: %llu points delivered, %llu NOT delivered (%llu retries; last error: %s)\n",
            flag, (unsigned long long)st->delivered, (unsigned long long)st->undelivered,
            (unsigned long long)st->retries, st->last_error);
    return 1;
}

/* o->s is final by now; summed: what the seconds carried. */
static int finish_pushes(outputs *o, const snap *summed, FILE *log)
{
    const snap *fin = &o->s;
    int failed = 0;
    uint64_t deadline = clock_now_ns() + FLUSH_NS;
    poster_stats st;
    buf b = {0};
    int n;
    if (o->influx && (n = influx_final(&b, o->run, summed, fin)) > 0)
        poster_send(o->influx, b.data, b.len, (uint64_t)n);
    buf_reset(&b);
    if (o->otlp && (n = otlp_encode(fin, o->start_wall_ns, o->run, &b)) > 0)
        poster_send(o->otlp, b.data, b.len, (uint64_t)n);
    buf_reset(&b);
    if (o->pgw && !prom_encode(fin, &b))
        poster_send(o->pgw, b.data, b.len, 1);
    buf_free(&b);
    /* All flush at once: one slow receiver does not cost the others time. */
    poster *ps[3] = {o->influx, o->otlp, o->pgw};
    const char *flags[3] = {"--out-influx", "--out-otlp", "--pushgateway"};
    for (int i = 0; i < 3; i++)
        if (ps[i])
            poster_stop(ps[i], deadline);
    for (int i = 0; i < 3; i++)
        if (ps[i]) {
            poster_finish(ps[i], deadline, &st);
            failed += report_push(log, flags[i], &st);
        }
    o->influx = o->otlp = o->pgw = NULL;
    return failed;
}

/* The dashboard links the run's HTML report, served from memory. */
static bool serve_report(outputs *o, const results *r)
{
    if (!o->c.dashboard)
        return false;
    chart_set cs;
    buf html = {0};
    err e = {0};
    bool ok = chart_build_all(r, NULL, &cs, &e) == 0;
    if (ok) {
        ok = html_render(r, &cs, CHART_DEFAULT_W, CHART_DEFAULT_H, &html, &e) == 0;
        chart_set_free(&cs);
        chart_shutdown(); /* cairo's and fontconfig's caches, as volley report does */
    }
    for (int i = 0; ok && i < 2; i++)
        if (o->srv[i])
            httpd_set_report(o->srv[i], html.data, html.len);
    buf_free(&html);
    return ok;
}

int outputs_finish(outputs *o, const results *r, const char *report, FILE *log)
{
    if (!o)
        return 0;
    tui_stop(o->term);
    o->term = NULL;
    snap fin;
    if (snap_init(&fin))
        return 1;
    snap_set_final(&fin, r, snap_cpu_seconds());
    /* "The last second" (volley_last_second_requests, the CPU %) stays the
     * last whole second sent live: results.json's series ends on the
     * remainder after it, a fraction of a second whose count is a fraction
     * and whose CPU % over a few ms (the workers' teardown) says nothing. */
    if (o->s.have_last)
        fin.last = o->s.last;
    if (fin.wall_ns <= o->last_wall_ns)
        fin.wall_ns = o->last_wall_ns + 1;
    if (report)
        snprintf(fin.report, sizeof fin.report, "%s", report);
    fin.report_served = serve_report(o, r);
    snap live = o->s; /* the summed seconds, for the influx remainder */
    o->s = fin;
    double pct = cpu_pct(o);
    publish(o, o->s.have_last ? o->s.last.cpu_pct : pct); /* the same second as /metrics */
    int failed = finish_pushes(o, &live, log);
    for (int i = 0; i < 2; i++)
        if (o->srv[i] && httpd_dropped_clients(o->srv[i]))
            fprintf(log, "%s: %llu clients dropped (too slow to read, or too many)\n",
                    i ? "--dashboard" : "--metrics-listen",
                    (unsigned long long)httpd_dropped_clients(o->srv[i]));
    snap_free(&live);
    return failed;
}

void outputs_free(outputs *o)
{
    if (!o)
        return;
    if (o->c.linger_ns && (o->srv[0] || o->srv[1])) {
        sig_atomic_t seen = o->c.interrupts ? *o->c.interrupts : 0;
        uint64_t end = clock_now_ns() + o->c.linger_ns;
        while (clock_now_ns() < end && !(o->c.interrupts && *o->c.interrupts != seen))
            clock_sleep_ns(50 * NS_PER_MS);
    }
    for (int i = 0; i < 2; i++)
        httpd_stop(o->srv[i]);
    tui_stop(o->term);
    poster_stats st;
    if (o->influx)
        poster_finish(o->influx, 0, &st);
    if (o->otlp)
        poster_finish(o->otlp, 0, &st);
    if (o->pgw)
        poster_finish(o->pgw, 0, &st);
    snap_free(&o->s);
    buf_free(&o->scratch);
    free(o);
}

void outputs_sink_progress(void *ctx, const engine_progress *pr) { outputs_progress(ctx, pr); }

bool outputs_sink_second(void *ctx, const series_row *row, const hist *latency)
{
    outputs_second(ctx, row, latency);
    return false; /* an output never stops the run */
}

void outputs_sink_endpoint_second(void *ctx, uint32_t ep, const char *name, const series_row *row)
{
    outputs_endpoint_second(ctx, ep, name, row);
}

void outputs_sink_end(void *ctx, const results *r, const char *dir)
{
    char path[4400] = "";
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/results.json", dir);
    outputs_finish(ctx, r, *path ? path : NULL, stderr);
}

void outputs_sink_close(void *ctx, volatile sig_atomic_t *interrupts)
{
    outputs *o = ctx;
    if (o)
        o->c.interrupts = interrupts;
    outputs_free(o);
}
