/* chart: the standard figures of a results struct (latency, throughput,
 * status, spectrum, ttfb, sweep, server, and a view per endpoint with the
 * reduced scatter of requests.csv from report/scatter) built on the plotting layer of chart_plot.c,
 * for cmd/report and report/html. */
#include "report/chart.h"

#include "core/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C_TOTAL 0x555555
/* More endpoints than styles would make lines indistinguishable. */
#define MAX_CHART_EPS CHART_NSTYLES
/* Past this many endpoints the latency chart is small multiples: a panel
 * per endpoint, all on one y scale. */
#define CHART_MULTIPLES_AFTER 8
#define MAX_ROUTE_VIEWS SCATTER_MAX_EPS

/* ---- the charts of a results struct ---------------------------------------------- */

typedef struct ep_view {
    const char *name;
    const results_stats *st;
} ep_view;

/* The endpoints to chart (at most MAX_CHART_EPS), or the run as one
 * endpoint "all" when the file has none. */
static size_t ep_views(const results *r, ep_view *v)
{
    if (!r->neps) {
        v[0] = (ep_view){"all", &r->st};
        return 1;
    }
    size_t n = r->neps < MAX_CHART_EPS ? r->neps : MAX_CHART_EPS;
    for (size_t i = 0; i < n; i++)
        v[i] = (ep_view){r->eps[i].name, &r->eps[i].st};
    return n;
}

/* Past MAX_CHART_EPS endpoints a chart says which ones it shows. */
static void clip_note(chart *c, const results *r)
{
    if (r->neps <= MAX_CHART_EPS)
        return;
    size_t len = strlen(c->note);
    snprintf(c->note + len, sizeof c->note - len, "%sthe first %d of %zu endpoints (all in the "
             "tables and route charts)", len ? "; " : "", MAX_CHART_EPS, r->neps);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* Latency spans decades when endpoints differ a lot: then a log axis;
 * otherwise from 0, so that small changes do not look like big ones. */
static void auto_log(chart *c, double lo, double hi)
{
    if (lo > 0 && hi / lo > 100)
        c->y.scale = CHART_LOG10;
    else
        c->y.has_min = true;
}

#define ADD(s, x, y)                                                                         \
    do {                                                                                     \
        if (!(s) || chart_series_add((s), (x), (y)))                                         \
            return VOLLEY_ENOMEM;                                                            \
    } while (0)

/* The share of second w that the run covered: the last row of a series (of
 * a sweep step) is usually a fraction (the drain), and counting it as a
 * whole second would draw a false drop at the end. A sweep step's rows are
 * measured from its own first row, with its own load time and drain. */
static double covered(const results *r, const results_stats *st, const series_row *w)
{
    double el = (double)(st->elapsed_ns + st->drain_ns) / NS_PER_S, first = 0;
    for (size_t k = 0; k < r->nsteps; k++) {
        const series *q = &r->steps[k].st.sec;
        if (q->len && w->second >= q->rows[0].second && w->second <= q->rows[q->len - 1].second) {
            el = (double)(r->steps[k].st.elapsed_ns + r->steps[k].st.drain_ns) / NS_PER_S;
            first = q->rows[0].second;
        }
    }
    if (el <= 0)
        return 1;
    return fmin(1, el - (w->second - first));
}

/* Requests per second in row w, or NaN when it covers too little time to
 * be a rate. */
static double row_rate(const results *r, const results_stats *st, const series_row *w,
                       uint64_t count)
{
    double f = covered(r, st, w);
    return f < 0.2 ? NAN : (double)count / f;
}

/* Appends row j of sec at (second, y); a jump in the seconds (a sweep's
 * cool-down) first gets a NaN point, so the line breaks instead of ramping. */
static int add_row(chart_series *s, const series *sec, size_t j, double y)
{
    if (!s)
        return VOLLEY_ENOMEM;
    if (j && sec->rows[j].second > sec->rows[j - 1].second + 1 &&
        chart_series_add(s, sec->rows[j - 1].second + 1, NAN))
        return VOLLEY_ENOMEM;
    return chart_series_add(s, sec->rows[j].second, y);
}

#define ADD_ROW(s, sec, j, y)                                                                \
    do {                                                                                     \
        if (add_row((s), (sec), (j), (y)))                                                   \
            return VOLLEY_ENOMEM;                                                            \
    } while (0)

/* p50/p90/p99 per second of n endpoints (one: a colour per percentile;
 * several: a colour per endpoint, a dash per percentile). The range of the
 * values goes to *lo_out, *hi_out when given. */
static int percentile_lines(chart *c, const ep_view *v, size_t n,
                            double *lo_out, double *hi_out)
{
    static const struct {
        const char *name;
        size_t off;
        chart_dash dash;
        size_t color;
    } pc[] = {
        {"p50", offsetof(series_row, p50_ns), CHART_SOLID, 0},
        {"p90", offsetof(series_row, p90_ns), CHART_DASHED, 1},
        {"p99", offsetof(series_row, p99_ns), CHART_DOTTED, 3},
    };
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const series *sec = &v[i].st->sec;
        for (size_t k = 0; k < 3; k++) {
            char name[96];
            if (n == 1)
                snprintf(name, sizeof name, "%s", pc[k].name);
            else
                snprintf(name, sizeof name, "%s %s", v[i].name, pc[k].name);
            chart_series *s = chart_add_series(c, name, CHART_LINE, 0);
            if (!s)
                return VOLLEY_ENOMEM;
            chart_series_style(s, n == 1 ? pc[k].color : i);
            s->dash = n == 1 ? CHART_SOLID : pc[k].dash;
            if (n == 1)
                s->marker = (chart_marker)k;
            s->width = k == 2 ? 2.5 : 2;
            for (size_t j = 0; j < sec->len; j++) {
                const series_row *w = &sec->rows[j];
                uint64_t ns = *(const uint64_t *)((const char *)w + pc[k].off);
                /* Every row with requests, a short last one too: a step's
                 * drain can hold its slowest responses (percentiles are no
                 * rate, so the time a row covers does not matter). */
                bool none = w->responses == 0 && ns == 0;
                ADD_ROW(s, sec, j, none ? NAN : ms(ns));
                if (!none && k == 0 && ns)
                    lo = fmin(lo, ms(ns));
                if (!none)
                    hi = fmax(hi, ms(ns));
            }
        }
    }
    auto_log(c, lo, hi);
    if (lo_out)
        *lo_out = fmin(*lo_out, lo);
    if (hi_out)
        *hi_out = fmax(*hi_out, hi);
    return 0;
}

static bool any_series(const ep_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].st->sec.len)
            return true;
    return false;
}

/* Per-second charts use the endpoints' series, or the run's when the
 * endpoints have none. */
static size_t time_views(const results *r, ep_view *v)
{
    size_t n = ep_views(r, v);
    if (!any_series(v, n) && r->st.sec.len) {
        v[0] = (ep_view){"all", &r->st};
        n = 1;
    }
    return n;
}

static void latency_panel(chart *c, const char *title)
{
    snprintf(c->title, sizeof c->title, "%s", title);
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
}

/* Many endpoints: a panel per endpoint (3 a row, the figure taller), each
 * in the one-endpoint style, all on the y scale of the whole set. */
static int latency_multiples(const ep_view *v, size_t n, chart_fig *f)
{
    if (chart_fig_set_panels(f, n))
        return VOLLEY_ENOMEM;
    chart *p = f->panels;
    f->cols = 3;
    f->h_scale = 0.5 * (double)((n + 2) / 3);
    snprintf(f->title, sizeof f->title,
             "Latency p50 / p90 / p99 per second, one panel per endpoint (same y scale)");
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < n; i++) {
        latency_panel(&p[i], v[i].name);
        int rc = percentile_lines(&p[i], &v[i], 1, &lo, &hi);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < n && hi > 0; i++) {
        chart_axis *y = &p[i].y;
        y->scale = lo > 0 && hi / lo > 100 ? CHART_LOG10 : CHART_LINEAR;
        y->has_min = true;
        y->min = y->scale == CHART_LOG10 ? lo : 0;
        y->least_max = hi;
    }
    return 0;
}

static int fig_latency(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = time_views(r, v);
    if (n > CHART_MULTIPLES_AFTER)
        return latency_multiples(v, n, f);
    chart *c = &f->panels[0];
    latency_panel(c, "Latency percentiles over time");
    snprintf(c->note, sizeof c->note, "per second, from the intended start of each request");
    clip_note(c, r);
    return percentile_lines(c, v, n, NULL, NULL);
}

static int error_pct_lines(chart *c, const ep_view *v, size_t n)
{
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "errors (%% of requests)");
    c->y.has_min = true;
    c->y.least_max = 1; /* 0% errors is a flat line at the bottom, not mid-chart */
    for (size_t i = 0; i < n; i++) {
        chart_series *s = chart_add_series(c, v[i].name, CHART_LINE, chart_color(i));
        if (s)
            chart_series_style(s, i);
        for (size_t j = 0; s && j < v[i].st->sec.len; j++) {
            const series_row *w = &v[i].st->sec.rows[j];
            /* A share of requests, not a rate: a short last row is drawn
             * too (the timeouts of a stalled step end in its drain). */
            ADD_ROW(s, &v[i].st->sec, j,
                    w->requests ? 100.0 * (double)w->errors / (double)w->requests : NAN);
        }
        if (!s)
            return VOLLEY_ENOMEM;
    }
    return 0;
}

static void rps_panel(chart *c, const char *title, const char *note)
{
    snprintf(c->title, sizeof c->title, "%s", title);
    snprintf(c->note, sizeof c->note, "%s", note);
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "requests/s");
    c->y.has_min = true;
}

/* Requests per second and the error rate. Past CHART_MULTIPLES_AFTER
 * endpoints the total (with the target and the drops) gets a panel of its
 * own: on the endpoints' panel it set a scale many times theirs and pressed
 * every endpoint's line into the bottom of the plot. */
static int fig_throughput(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = time_views(r, v);
    bool split = n > CHART_MULTIPLES_AFTER && r->st.sec.len;
    if (split) {
        if (chart_fig_set_panels(f, 3))
            return VOLLEY_ENOMEM;
        f->h_scale = 2;
    }
    chart *c = &f->panels[0], *tc = split ? &f->panels[1] : c;
    rps_panel(c, split ? "Requests per second per endpoint" : "Requests per second",
              split ? "completed requests (responses and transport errors) per second; "
                      "the total is on the panel below"
                    : "completed requests (responses and transport errors) per second");
    clip_note(c, r);
    if (split)
        rps_panel(tc, "Requests per second, all endpoints",
                  "completed requests of every endpoint together, per second");
    for (size_t i = 0; i < n; i++) {
        chart_series *s = chart_add_series(c, v[i].name, CHART_LINE, chart_color(i));
        if (s)
            chart_series_style(s, i);
        for (size_t j = 0; s && j < v[i].st->sec.len; j++)
            ADD_ROW(s, &v[i].st->sec, j,
                    row_rate(r, &r->st, &v[i].st->sec.rows[j], v[i].st->sec.rows[j].requests));
        if (!s)
            return VOLLEY_ENOMEM;
    }
    const series *all = &r->st.sec;
    bool target = false, dropped = false;
    for (size_t j = 0; j < all->len; j++) {
        target |= all->rows[j].target_rps > 0;
        dropped |= all->rows[j].dropped > 0;
    }
    if (n > 1 && all->len) {
        chart_series *s = chart_add_series(tc, "total", CHART_LINE, C_TOTAL);
        for (size_t j = 0; s && j < all->len; j++)
            ADD_ROW(s, all, j, row_rate(r, &r->st, &all->rows[j], all->rows[j].requests));
        if (!s)
            return VOLLEY_ENOMEM;
    }
    if (target) {
        chart_series *s = chart_add_series(tc, "target", CHART_LINE, 0x999999);
        if (s)
            s->dash = CHART_DASHED;
        for (size_t j = 0; s && j < all->len; j++)
            ADD_ROW(s, all, j,
                    covered(r, &r->st, &all->rows[j]) < 0.2 ? NAN : all->rows[j].target_rps);
        if (!s)
            return VOLLEY_ENOMEM;
    }
    if (dropped) {
        chart_series *s = chart_add_series(tc, "dropped/s", CHART_LINE, 0xE15759);
        if (s)
            s->dash = CHART_DOTTED;
        for (size_t j = 0; s && j < all->len; j++)
            ADD_ROW(s, all, j, row_rate(r, &r->st, &all->rows[j], all->rows[j].dropped));
        if (!s)
            return VOLLEY_ENOMEM;
    }
    chart *e2 = &f->panels[split ? 2 : 1];
    snprintf(e2->title, sizeof e2->title, "Error rate");
    snprintf(e2->note, sizeof e2->note, "failed requests (transport errors and unexpected statuses), per second");
    return error_pct_lines(e2, v, n);
}

/* Status codes (numeric order) and then error kinds, as categories; one
 * bar series per endpoint (one endpoint: bars coloured by status class). */
static int status_bars(chart *c, const ep_view *v, size_t n)
{
    snprintf(c->y.label, sizeof c->y.label, "requests");
    for (int code = 0; code < METRICS_STATUS_MAX; code++) {
        for (size_t i = 0; i < n; i++) {
            if (v[i].st->tot.status[code]) {
                char name[16];
                snprintf(name, sizeof name, "%d", code);
                if (chart_category(c, name) < 0)
                    return VOLLEY_ENOMEM;
                break;
            }
        }
    }
    for (int k = 0; k < ERRK_COUNT; k++)
        for (size_t i = 0; i < n; i++)
            if (v[i].st->tot.err_kind[k]) {
                if (chart_category(c, metrics_err_kind_name((err_kind)k)) < 0)
                    return VOLLEY_ENOMEM;
                break;
            }
    for (size_t i = 0; i < n; i++) {
        chart_series *s = chart_add_series(c, v[i].name, CHART_BARS, chart_color(i));
        if (!s)
            return VOLLEY_ENOMEM;
        chart_series_style(s, i); /* bars show the colour, distinct up to CHART_NSTYLES */
        s->labels = true;
        s->no_legend = n == 1;
        for (size_t k = 0; k < c->ncats; k++) {
            const char *cat = c->cats[k];
            int kind = metrics_err_kind_from_name(cat);
            double y;
            uint32_t color;
            if (kind >= 0) {
                y = (double)v[i].st->tot.err_kind[kind];
                color = chart_status_color(0);
            } else {
                int code = atoi(cat);
                y = (double)v[i].st->tot.status[code];
                color = chart_status_color(code);
            }
            int rc = n == 1 ? chart_series_add_colored(s, (double)k, y, color)
                            : chart_series_add(s, (double)k, y);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int fig_status(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = ep_views(r, v);
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Responses by status and errors by kind");
    snprintf(c->note, sizeof c->note,
             "green 2xx, blue 3xx, orange 4xx, red 5xx, purple errors (one endpoint)");
    if (n > 1)
        c->note[0] = '\0';
    clip_note(c, r);
    return status_bars(c, v, n);
}

/* style: the series' index for chart_style, or -1 for the whole run
 * (grey, dashed). */
static int spectrum_line(chart *c, const char *name, const hist *h, int style, double *lo,
                         double *hi)
{
    chart_series *s = chart_add_series(c, name, CHART_LINE, C_TOTAL);
    if (!s)
        return VOLLEY_ENOMEM;
    if (style >= 0)
        chart_series_style(s, (size_t)style);
    else
        s->dash = CHART_DASHED;
    if (!hist_count(h))
        return 0;
    /* Even steps in nines: as much detail at 99.9..99.99% as at 0..90%. */
    for (int i = 0; i <= 250; i++) {
        double p = 100 * (1 - pow(10, -CHART_NINES_MAX * i / 250.0));
        double y = ms(hist_percentile(h, p));
        ADD(s, p, y);
        if (i == 0)
            *lo = fmin(*lo, fmax(y, 0.001));
        *hi = fmax(*hi, y);
    }
    return 0;
}

static int fig_spectrum(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = ep_views(r, v);
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Latency by percentile (HDR spectrum)");
    snprintf(c->note, sizeof c->note, "the whole run; x: share of requests at most this slow");
    clip_note(c, r);
    snprintf(c->x.label, sizeof c->x.label, "percentile");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    c->x.scale = CHART_NINES;
    c->x.has_min = c->x.has_max = true;
    c->x.min = 0;
    c->x.max = 100 * (1 - pow(10, -CHART_NINES_MAX));
    double lo = INFINITY, hi = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = spectrum_line(c, v[i].name, v[i].st->latency, (int)i, &lo, &hi);
    if (!rc && n > 1)
        rc = spectrum_line(c, "all", r->st.latency, -1, &lo, &hi);
    auto_log(c, lo, hi);
    return rc;
}

bool chart_streamed(const results_stats *st)
{
    const hist *fb = st->dist[METRICS_DIST_FIRST_BODY], *sv = st->service;
    if (!hist_count(fb) || !hist_count(sv))
        return false;
    /* Both from the first byte written, so queueing before the send (which
     * latency holds) cannot make a buffered route look streamed. */
    uint64_t f50 = hist_percentile(fb, 50), s50 = hist_percentile(sv, 50);
    return f50 * 2 < s50 && s50 - f50 >= CHART_STREAMED_MIN_NS;
}

/* Appends to dst the streamed endpoints (as many as fit): the ttfb
 * figure's note and caption say which routes streamed their bodies. */
static void streamed_list(const ep_view *v, size_t n, char *dst, size_t cap)
{
    size_t len = strlen(dst);
    len += (size_t)snprintf(dst + len, cap - len, "%sstreamed (first body byte well before "
                            "service end):", len ? "; " : "");
    size_t k = 0;
    for (size_t i = 0; i < n && len < cap; i++) {
        if (!chart_streamed(v[i].st))
            continue;
        int w = snprintf(dst + len, cap - len, "%s %s", k++ ? "," : "", v[i].name);
        if (w < 0 || len + (size_t)w >= cap - 5) {
            snprintf(dst + len, cap - len, " ...");
            return;
        }
        len += (size_t)w;
    }
    if (!k && len < cap)
        snprintf(dst + len, cap - len, " none (all buffered)");
}

static int fig_ttfb(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = ep_views(r, v);
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "First byte and first body byte beside service time");
    c->note[0] = '\0';
    streamed_list(v, n, c->note, sizeof c->note);
    clip_note(c, r);
    snprintf(c->y.label, sizeof c->y.label, "ms");
    static const struct {
        const char *name;
        uint32_t color;
        metrics_dist d;
        double p;
    } b[] = {
        {"TTFB p50", 0xA0CBE8, METRICS_DIST_TTFB, 50},
        {"TTFB p99", 0x4E79A7, METRICS_DIST_TTFB, 99},
        {"1st body p50", 0x8CD17D, METRICS_DIST_FIRST_BODY, 50},
        {"1st body p99", 0x59A14F, METRICS_DIST_FIRST_BODY, 99},
        {"service p50", 0xFFBE7D, METRICS_DIST_SERVICE, 50},
        {"service p99", 0xF28E2B, METRICS_DIST_SERVICE, 99},
    };
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= hist_count(v[i].st->latency) > 0;
    if (!any)
        return 0; /* "no data" */
    for (size_t i = 0; i < n; i++)
        if (chart_category(c, v[i].name) < 0)
            return VOLLEY_ENOMEM;
    for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
        chart_series *s = chart_add_series(c, b[k].name, CHART_BARS, b[k].color);
        if (!s)
            return VOLLEY_ENOMEM;
        s->labels = true;
        for (size_t i = 0; i < n; i++) {
            const hist *h = v[i].st->dist[b[k].d];
            ADD(s, (double)i, hist_count(h) ? ms(hist_percentile(h, b[k].p)) : NAN);
        }
    }
    return 0;
}

static double success_pct(const metrics_totals *t)
{
    return metrics_ok_pct(t);
}

/* The server under test's mean CPU in each step: what a rate costs it. */
static int sweep_server(const results *r, chart *c, const char *xl, bool by_rate)
{
    snprintf(c->title, sizeof c->title, "Server CPU");
    snprintf(c->x.label, sizeof c->x.label, "%s", xl);
    snprintf(c->y.label, sizeof c->y.label, "cpu (%% of one core), step mean");
    snprintf(c->note, sizeof c->note, "pid %d; peak RSS per step in summary.csv", r->monitor.pid);
    c->y.has_min = true;
    chart_series *s = chart_add_series(c, "cpu %", CHART_LINE, chart_color(1));
    if (!s)
        return VOLLEY_ENOMEM;
    s->no_legend = true;
    for (size_t i = 0; i < r->nsteps; i++) {
        double cpu;
        uint64_t rss;
        if (results_step_monitor(r, &r->steps[i], &cpu, &rss))
            ADD(s, by_rate ? r->steps[i].target_rps : r->steps[i].target_vus, cpu);
    }
    return 0;
}

static int fig_sweep(const results *r, chart_fig *f)
{
    bool by_rate = false;
    for (size_t i = 0; i < r->nsteps; i++)
        by_rate |= r->steps[i].target_rps > 0;
    const char *xl = by_rate ? "target rate (requests/s)" : "target virtual users";
    static const char *titles[] = {"Achieved rate", "p99 latency", "Success"};
    static const char *ylabels[] = {"requests/s", "latency (ms)", "not failed (%)"};
    for (int p = 0; p < 3; p++) {
        chart *c = &f->panels[p];
        snprintf(c->title, sizeof c->title, "%s", titles[p]);
        snprintf(c->x.label, sizeof c->x.label, "%s", xl);
        snprintf(c->y.label, sizeof c->y.label, "%s", ylabels[p]);
        c->y.has_min = true;
    }
    f->panels[2].y.has_max = true;
    f->panels[2].y.max = 100;
    size_t n = r->neps < MAX_CHART_EPS ? r->neps : MAX_CHART_EPS;
    /* Lines: each endpoint (when several), then the whole step. */
    for (size_t e = 0; e <= n; e++) {
        bool total = e == n;
        if (!total && n < 2)
            continue;
        const char *name = total ? "all endpoints" : r->eps[e].name;
        uint32_t color = total ? (n < 2 ? chart_color(0) : C_TOTAL) : chart_color(e);
        chart_series *s[3];
        for (int p = 0; p < 3; p++) {
            s[p] = chart_add_series(&f->panels[p], name, CHART_LINE, color);
            if (!s[p])
                return VOLLEY_ENOMEM;
            s[p]->no_legend = n < 2;
        }
        for (size_t i = 0; i < r->nsteps; i++) {
            const results_step *st = &r->steps[i];
            const results_stats *b = total ? &st->st : &st->eps[e].st;
            double x = by_rate ? st->target_rps : st->target_vus;
            ADD(s[0], x, results_stats_rps(b));
            ADD(s[1], x, hist_count(b->latency) ? ms(hist_percentile(b->latency, 99)) : NAN);
            ADD(s[2], x, success_pct(&b->tot));
        }
    }
    if (by_rate) {
        chart_series *s = chart_add_series(&f->panels[0], "target", CHART_LINE, 0xAAAAAA);
        if (!s)
            return VOLLEY_ENOMEM;
        s->dash = CHART_DASHED;
        s->width = 1.5;
        for (size_t i = 0; i < r->nsteps; i++)
            ADD(s, r->steps[i].target_rps, r->steps[i].target_rps);
    }
    return f->npanels > 3 ? sweep_server(r, &f->panels[3], xl, by_rate) : 0;
}

/* Adds a point of a reduced scatter to its class's series. */
static int scatter_point(chart_series *s, scatter_pt p)
{
    ADD(s, p.x_s, p.y_ms);
    return 0;
}

/* The reduced scatter of one endpoint: each column's fastest and slowest
 * request per status class, then every failure kept one by one. */
static int route_scatter(chart *c, const results *r, size_t ep, const scatter *sc)
{
    static const char *classes[SCATTER_NCLASS] = {"errors", "1xx/2xx", "3xx", "4xx", "5xx"};
    static const int sample[SCATTER_NCLASS] = {0, 200, 300, 400, 500};
    /* Pointers only after every add: chart_add_series may move them. */
    size_t base = c->nseries;
    for (int k = 0; k < SCATTER_NCLASS; k++)
        if (!chart_add_series(c, classes[k], CHART_POINTS, chart_status_color(sample[k])))
            return VOLLEY_ENOMEM;
    chart_series *s[SCATTER_NCLASS];
    for (int k = 0; k < SCATTER_NCLASS; k++)
        s[k] = &c->series[base + (size_t)k];
    const scatter_ep *se = &sc->eps[ep];
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < sc->ncols * SCATTER_NCLASS; i++) {
        const scatter_cell *cell = &se->cells[i];
        if (cell->lo.y_ms > cell->hi.y_ms)
            continue;
        chart_series *cs = s[i % SCATTER_NCLASS];
        if (scatter_point(cs, cell->lo) ||
            ((cell->hi.x_s != cell->lo.x_s || cell->hi.y_ms != cell->lo.y_ms) &&
             scatter_point(cs, cell->hi)))
            return VOLLEY_ENOMEM;
        if (cell->lo.y_ms > 0)
            lo = fmin(lo, cell->lo.y_ms);
        hi = fmax(hi, cell->hi.y_ms);
    }
    for (size_t i = 0; i < se->nfails; i++)
        if (scatter_point(s[se->fail_class[i]], se->fails[i]))
            return VOLLEY_ENOMEM;
    /* Only the classes that occur go into the legend. */
    for (int k = 0; k < SCATTER_NCLASS; k++)
        s[k]->no_legend = s[k]->n == 0;
    snprintf(c->title, sizeof c->title, "%s: latency of each request", r->eps[ep].name);
    char fails[64];
    if (se->nfails < se->failures)
        snprintf(fails, sizeof fails, "the first %zu of %llu failures", se->nfails,
                 (unsigned long long)se->failures);
    else
        snprintf(fails, sizeof fails, "all %llu failures", (unsigned long long)se->failures);
    snprintf(c->note, sizeof c->note,
             "%llu requests from requests.csv by intended start: min and max of each 1/%zu "
             "of the time per class, %s",
             (unsigned long long)se->rows, sc->ncols, fails);
    snprintf(c->x.label, sizeof c->x.label, "intended start (s since start)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    if (lo > 0 && hi / lo > 50)
        c->y.scale = CHART_LOG10;
    return 0;
}

static int fig_route(const results *r, size_t ep, const scatter *sc, chart_fig *f)
{
    ep_view v = {r->eps[ep].name, &r->eps[ep].st};
    chart *c = &f->panels[0];
    c->wide = true;
    int rc;
    if (sc && ep < sc->neps && sc->eps[ep].rows) {
        rc = route_scatter(c, r, ep, sc);
    } else {
        snprintf(c->title, sizeof c->title, "%s: latency percentiles over time", v.name);
        snprintf(c->note, sizeof c->note, "per second (no requests.csv beside results.json)");
        snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
        snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
        rc = percentile_lines(c, &v, 1, NULL, NULL);
    }
    if (rc)
        return rc;
    chart *e2 = &f->panels[1];
    snprintf(e2->title, sizeof e2->title, "Error rate");
    if ((rc = error_pct_lines(e2, &v, 1)))
        return rc;
    e2->series[0].no_legend = true;
    chart *s3 = &f->panels[2];
    snprintf(s3->title, sizeof s3->title, "Status and errors");
    return status_bars(s3, &v, 1);
}

void chart_set_free(chart_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        chart_fig_free(s->items[i].fig);
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

static chart_item *set_add(chart_set *s, const char *stem, const char *caption,
                           const char *title, size_t npanels, int cols)
{
    chart_item *it = realloc(s->items, (s->n + 1) * sizeof *it);
    if (!it)
        return NULL;
    s->items = it;
    it = &it[s->n];
    memset(it, 0, sizeof *it);
    snprintf(it->stem, sizeof it->stem, "%s", stem);
    snprintf(it->caption, sizeof it->caption, "%s", caption);
    if (!(it->fig = chart_fig_new(title, npanels, cols)))
        return NULL;
    s->n++;
    return it;
}

/* A file-name-safe stem for an endpoint, unique within the set. */
static void route_stem(const chart_set *s, const char *name, size_t idx, char *out, size_t cap)
{
    char clean[64];
    size_t k = 0;
    for (const char *p = name; *p && k < sizeof clean - 1; p++)
        clean[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
                                ? *p
                                : '_');
    clean[k] = '\0';
    snprintf(out, cap, "route-%s", k ? clean : "endpoint");
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].stem, out)) {
            snprintf(out, cap, "route-%zu-%s", idx, clean);
            break;
        }
}

/* Titles and labels of n panels over time (from 0 on the y axis). */
static void time_panels(chart_fig *f, int n, const char *const *titles,
                        const char *const *ylabels)
{
    for (int p = 0; p < n; p++) {
        chart *c = &f->panels[p];
        snprintf(c->title, sizeof c->title, "%s", titles[p]);
        snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
        snprintf(c->y.label, sizeof c->y.label, "%s", ylabels[p]);
        c->y.has_min = true;
    }
}

/* The server under test (--monitor-pid / --exec): its CPU and memory
 * beside the load that caused them, on one time axis. */
static int fig_server(const results *r, chart_fig *f)
{
    const results_monitor *m = &r->monitor;
    static const char *titles[] = {"Load: requests per second", "Server CPU",
                                   "Server memory (RSS)"};
    static const char *ylabels[] = {"requests/s", "cpu (% of one core)", "rss (MB)"};
    time_panels(f, 3, titles, ylabels);
    for (int p = 0; p < 3; p++) {
        f->panels[p].x.has_min = true; /* one time axis from 0 for all three */
        f->panels[p].wide = true;
    }
    snprintf(f->panels[1].note, sizeof f->panels[1].note, "pid %d, %.100s, sampled every %.1f s",
             m->pid, m->command, m->interval_s);
    chart_series *s = chart_add_series(&f->panels[0], "requests/s", CHART_LINE, chart_color(0));
    for (size_t j = 0; s && j < r->st.sec.len; j++)
        ADD(s, r->st.sec.rows[j].second + 0.5,
            row_rate(r, &r->st, &r->st.sec.rows[j], r->st.sec.rows[j].requests));
    chart_series *cpu = chart_add_series(&f->panels[1], "cpu %", CHART_LINE, chart_color(1));
    chart_series *rss = chart_add_series(&f->panels[2], "rss", CHART_LINE, chart_color(2));
    if (!s || !cpu || !rss)
        return VOLLEY_ENOMEM;
    for (size_t i = 0; i < m->nsamples; i++) {
        ADD(cpu, m->samples[i].t_s, m->samples[i].cpu_pct);
        ADD(rss, m->samples[i].t_s, (double)m->samples[i].rss_bytes / 1e6);
    }
    return 0;
}

/* The value of a WebSocket column of row w for series k of fig_ws. */
static double ws_value(const results *r, const series_row *w, int k)
{
    switch (k) {
    case 0: return row_rate(r, &r->st, w, w->ws_sent);
    case 1: return row_rate(r, &r->st, w, w->ws_received);
    case 2: return (double)w->ws_open;
    case 3: return row_rate(r, &r->st, w, w->ws_opened);
    case 4: return w->ws_rtts ? ms(w->ws_rtt_p50_ns) : NAN;
    default: return w->ws_rtts ? ms(w->ws_rtt_p99_ns) : NAN;
    }
}

/* A script's WebSocket sessions over time (the run's rows): messages sent
 * and received per second, sockets open at the end of each second (and
 * sessions opened per second), round trip p50 and p99 per second. */
static int fig_ws(const results *r, chart_fig *f)
{
    static const char *titles[] = {"WebSocket messages per second", "WebSocket sockets",
                                   "WebSocket round trip"};
    static const char *ylabels[] = {"messages/s", "sockets", "round trip (ms)"};
    static const char *names[] = {"sent/s", "received/s", "open", "opened/s", "p50", "p99"};
    time_panels(f, 3, titles, ylabels);
    snprintf(f->panels[1].note, sizeof f->panels[1].note,
             "open at the end of each second; sessions opened in it");
    snprintf(f->panels[2].note, sizeof f->panels[2].note,
             "send(msg, {rtt = ...}) to its reply, in the second the reply came");
    const series *sec = &r->st.sec;
    /* Two series a panel; each filled before the next is added (adding
     * one may move the panel's series). */
    for (int k = 0; k < 6; k++) {
        chart_series *s = chart_add_series(&f->panels[k / 2], names[k], CHART_LINE,
                                           chart_color((size_t)k));
        if (!s)
            return VOLLEY_ENOMEM;
        s->dash = k % 2 ? (k == 3 ? CHART_DOTTED : CHART_DASHED) : CHART_SOLID;
        for (size_t j = 0; j < sec->len; j++)
            ADD_ROW(s, sec, j, ws_value(r, &sec->rows[j], k));
    }
    return 0;
}

int chart_build_all(const results *r, const scatter *sc, chart_set *out, err *e)
{
    static const struct {
        const char *stem, *caption;
        size_t panels;
        int (*fn)(const results *, chart_fig *);
    } std[] = {
        {"latency", "Latency percentiles (p50, p90, p99) per second, per endpoint.", 1,
         fig_latency},
        {"throughput", "Requests per second and error rate over time.", 2, fig_throughput},
        {"status", "Responses by status code and errors by kind, per endpoint.", 1, fig_status},
        {"spectrum", "HDR latency spectrum: latency at each percentile, up to 99.999%.", 1,
         fig_spectrum},
        {"ttfb", "TTFB and first body byte beside service time (p50, p99) per endpoint", 1,
         fig_ttfb},
    };
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (size_t i = 0; i < sizeof std / sizeof std[0] && !rc; i++) {
        chart_item *it = set_add(out, std[i].stem, std[i].caption, "", std[i].panels, 1);
        rc = it ? std[i].fn(r, it->fig) : VOLLEY_ENOMEM;
        if (!rc && std[i].fn == fig_ttfb) {
            ep_view v[MAX_CHART_EPS];
            streamed_list(v, ep_views(r, v), it->caption, sizeof it->caption);
        }
    }
    if (!rc && r->nsteps) {
        bool srv = r->monitor.pid != 0; /* a fourth panel: the server's CPU */
        chart_item *it = set_add(out, "sweep",
                                 srv ? "Sweep: achieved rate, p99 latency, success and server "
                                       "CPU per step."
                                     : "Sweep: achieved rate, p99 latency and success per step.",
                                 "Sweep: each step's outcome against its target", srv ? 4 : 3,
                                 srv ? 2 : 3);
        rc = it ? fig_sweep(r, it->fig) : VOLLEY_ENOMEM;
    }
    if (!rc && series_has_ws(&r->st.sec)) {
        chart_item *it = set_add(out, "websocket",
                                 "WebSocket messages sent and received per second, sockets "
                                 "open, round trip p50 and p99 per second.",
                                 "WebSocket sessions", 3, 1);
        rc = it ? fig_ws(r, it->fig) : VOLLEY_ENOMEM;
    }
    if (!rc && r->monitor.pid) {
        chart_item *it = set_add(out, "server",
                                 "The server under test: its CPU and memory beside the load.",
                                 "Server under test", 3, 1);
        rc = it ? fig_server(r, it->fig) : VOLLEY_ENOMEM;
    }
    for (size_t i = 0; i < r->neps && i < MAX_ROUTE_VIEWS && !rc; i++) {
        char stem[96], title[160], caption[200];
        route_stem(out, r->eps[i].name, i, stem, sizeof stem);
        if (snprintf(title, sizeof title, "Endpoint %s: %s %s", r->eps[i].name,
                     r->eps[i].method, r->eps[i].url) >= (int)sizeof title)
            memcpy(title + sizeof title - 4, "...", 4); /* a long URL is cut */
        snprintf(caption, sizeof caption, "Endpoint %s: each request's latency, errors, statuses.",
                 r->eps[i].name);
        chart_item *it = set_add(out, stem, caption, title, 3, 2);
        rc = it ? fig_route(r, i, sc, it->fig) : VOLLEY_ENOMEM;
    }
    if (rc) {
        chart_set_free(out);
        return err_set(e, rc, "charts: out of memory");
    }
    return 0;
}
