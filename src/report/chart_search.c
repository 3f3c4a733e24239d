/* chart_search: find-max's figure (docs/capacity.md "Reading the chart").
 * Top: p50/p95/p99 of each step against its target rate, the SLO bound as a
 * dashed line, the maximum (green) and knee (orange) as vertical lines.
 * Bottom: failures and dropped iterations as a share of each step. */
#include "report/chart_search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_rate(const void *a, const void *b)
{
    double x = ((const search_step *)a)->target_rps, y = ((const search_step *)b)->target_rps;
    return (x > y) - (x < y);
}

/* A vertical marker from y0 to y1 at x. */
static int vline(chart *c, const char *name, double x, double y0, double y1, uint32_t color,
                 chart_dash dash)
{
    chart_series *s = chart_add_series(c, name, CHART_LINE, color);
    if (!s)
        return -1;
    s->dash = dash;
    return chart_series_add(s, x, y0) || chart_series_add(s, x, y1) ? -1 : 0;
}

static int markers(chart *c, const search *s, double ymin, double ymax)
{
    char name[96];
    double knee = search_knee(s);
    if (s->pass_rate > 0) {
        snprintf(name, sizeof name, "max %.0f req/s", s->pass_rate);
        if (vline(c, name, s->pass_rate, ymin, ymax, 0x2ca02c, CHART_DASHED))
            return -1;
    }
    if (knee > 0) {
        snprintf(name, sizeof name, "knee %.0f req/s", knee);
        if (vline(c, name, knee, ymin, ymax, 0xff7f0e, CHART_DOTTED))
            return -1;
    }
    return 0;
}

static int latency_panel(chart *c, const search_step *st, size_t n, const search *s,
                         double slo_ms)
{
    snprintf(c->title, sizeof c->title, "latency by target rate");
    snprintf(c->x.label, sizeof c->x.label, "target rate (req/s)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    c->y.scale = CHART_LOG10;
    const char *names[] = {"p50", "p95", "p99"};
    double ymax = slo_ms, ymin = slo_ms > 0 ? slo_ms : INFINITY;
    for (int k = 0; k < 3; k++) {
        chart_series *ser = chart_add_series(c, names[k], CHART_LINE, chart_color((size_t)k));
        if (!ser)
            return -1;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = k == 0 ? st[i].p50_ns : k == 1 ? st[i].p95_ns : st[i].p99_ns;
            double ms = (double)v / 1e6;
            if (ms > ymax)
                ymax = ms;
            if (ms > 0 && ms < ymin)
                ymin = ms;
            if (chart_series_add(ser, st[i].target_rps, ms > 0 ? ms : NAN))
                return -1;
        }
    }
    if (slo_ms > 0 && n) {
        char name[96];
        snprintf(name, sizeof name, "SLO %.3g ms", slo_ms);
        chart_series *ser = chart_add_series(c, name, CHART_LINE, 0xd62728);
        if (!ser)
            return -1;
        ser->dash = CHART_DASHED;
        if (chart_series_add(ser, st[0].target_rps, slo_ms) ||
            chart_series_add(ser, st[n - 1].target_rps, slo_ms))
            return -1;
    }
    /* A log axis: the markers run from the lowest latency drawn, not 0. */
    return markers(c, s, isfinite(ymin) ? ymin : 0.1, ymax > 0 ? ymax : 1);
}

static int failure_panel(chart *c, const search_step *st, size_t n, const search *s)
{
    snprintf(c->title, sizeof c->title, "failures and dropped by target rate");
    snprintf(c->x.label, sizeof c->x.label, "target rate (req/s)");
    snprintf(c->y.label, sizeof c->y.label, "share of the step (%%)");
    c->y.least_max = 1;
    chart_series *f = chart_add_series(c, "failures", CHART_LINE, 0xd62728);
    chart_series *d = chart_add_series(c, "dropped", CHART_LINE, 0x9467bd);
    if (!f || !d)
        return -1;
    double ymax = 1;
    for (size_t i = 0; i < n; i++) {
        double planned = st[i].requests + st[i].dropped;
        double fp = planned ? 100.0 * st[i].failures / planned : 0;
        double dp = planned ? 100.0 * st[i].dropped / planned : 0;
        ymax = fmax(ymax, fmax(fp, dp));
        if (chart_series_add(f, st[i].target_rps, fp) || chart_series_add(d, st[i].target_rps, dp))
            return -1;
    }
    return markers(c, s, 0, ymax);
}

chart_fig *chart_search_figure(const search *s, double slo_ms, err *e)
{
    search_step st[SEARCH_MAX_STEPS];
    size_t n = s->nsteps;
    memcpy(st, s->steps, n * sizeof st[0]);
    qsort(st, n, sizeof st[0], by_rate);
    chart_fig *f = chart_fig_new("find-max: latency and failures against the target rate", 2, 1);
    if (!f || latency_panel(&f->panels[0], st, n, s, slo_ms) ||
        failure_panel(&f->panels[1], st, n, s)) {
        chart_fig_free(f);
        err_set(e, VOLLEY_ENOMEM, "find-max chart: out of memory");
        return NULL;
    }
    return f;
}
