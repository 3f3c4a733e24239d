/* compare: two runs side by side with a noise-aware verdict (see
 * compare.h). Whole-run values come from the exact histograms; the noise
 * estimate comes from the per-second series, so a run must last a few
 * seconds for a verdict other than by size alone. */
#include "report/compare.h"

#include "core/clock.h"
#include "report/chart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIG_P 0.01
#define MIN_PCT 10.0
#define MIN_PCT_NO_NOISE 25.0 /* too few seconds to estimate noise */
#define MIN_SAMPLES 3

const char *compare_verdict_name(cmp_verdict v)
{
    return v == CMP_BETTER ? "better" : v == CMP_WORSE ? "worse" : "same";
}

typedef struct pair {
    double v;
    int g;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    double x = ((const pair *)a)->v, y = ((const pair *)b)->v;
    return x < y ? -1 : x > y;
}

double compare_mann_whitney(const double *a, size_t na, const double *b, size_t nb)
{
    size_t n = na + nb;
    if (!na || !nb)
        return 1;
    pair *all = malloc(n * sizeof *all);
    if (!all)
        return 1;
    for (size_t i = 0; i < na; i++)
        all[i] = (pair){a[i], 0};
    for (size_t i = 0; i < nb; i++)
        all[na + i] = (pair){b[i], 1};
    qsort(all, n, sizeof *all, cmp_pair);
    double ra = 0, tie = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && all[j].v == all[i].v)
            j++;
        double rank = (double)(i + j + 1) / 2.0; /* average of ranks i+1..j */
        double t = (double)(j - i);
        tie += t * t * t - t;
        for (size_t k = i; k < j; k++)
            if (all[k].g == 0)
                ra += rank;
        i = j;
    }
    free(all);
    double n1 = (double)na, n2 = (double)nb, N = (double)n;
    double u = ra - n1 * (n1 + 1) / 2;
    double mu = n1 * n2 / 2;
    double var = n1 * n2 / 12.0 * ((N + 1) - tie / (N * (N - 1)));
    if (var <= 0)
        return 1;
    double z = (fabs(u - mu) - 0.5) / sqrt(var);
    if (z < 0)
        z = 0;
    return erfc(z / sqrt(2.0));
}

typedef enum { M_RPS, M_MEAN, M_P50, M_P90, M_P99, M_ERRORS, M_COUNT } metric_id;
static const char *metric_names[M_COUNT] = {"rps", "mean", "p50", "p90", "p99", "errors"};

/* Per-second values of a metric (the last, usually partial, second left out). */
static size_t per_second(const results_stats *s, metric_id m, double *out)
{
    size_t n = s->sec.len > 3 ? s->sec.len - 1 : s->sec.len, k = 0;
    for (size_t i = 0; i < n; i++) {
        const series_row *r = &s->sec.rows[i];
        if (!r->requests)
            continue;
        switch (m) {
        case M_RPS: out[k++] = (double)r->requests; break;
        case M_MEAN: out[k++] = r->mean_ns; break;
        case M_P50: out[k++] = (double)r->p50_ns; break;
        case M_P90: out[k++] = (double)r->p90_ns; break;
        case M_P99: out[k++] = (double)r->p99_ns; break;
        default: break;
        }
    }
    return k;
}

static double whole(const results_stats *s, metric_id m)
{
    switch (m) {
    case M_RPS: return results_stats_rps(s);
    case M_MEAN: return hist_mean(s->latency) / NS_PER_MS;
    case M_P50: return (double)hist_percentile(s->latency, 50) / NS_PER_MS;
    case M_P90: return (double)hist_percentile(s->latency, 90) / NS_PER_MS;
    case M_P99: return (double)hist_percentile(s->latency, 99) / NS_PER_MS;
    case M_ERRORS:
        return s->tot.requests ? (double)s->tot.errors / (double)s->tot.requests : 0;
    default: return 0;
    }
}

/* Two-proportion z test for error rates. */
static double proportion_p(const metrics_totals *a, const metrics_totals *b)
{
    double n1 = (double)a->requests, n2 = (double)b->requests;
    if (n1 < 1 || n2 < 1)
        return 1;
    double p1 = (double)a->errors / n1, p2 = (double)b->errors / n2;
    double p = ((double)a->errors + (double)b->errors) / (n1 + n2);
    double se = sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
    if (se <= 0)
        return p1 == p2 ? 1 : 0;
    return erfc(fabs(p1 - p2) / se / sqrt(2.0));
}

/* With few seconds the U test cannot reach p < 0.01 at all (4 vs 4 samples:
 * p >= 0.029); then complete separation of the two sets stands in for
 * significance. */
static bool separated(const double *a, size_t na, const double *b, size_t nb)
{
    double amin = INFINITY, amax = -INFINITY, bmin = INFINITY, bmax = -INFINITY;
    for (size_t i = 0; i < na; i++) {
        amin = fmin(amin, a[i]);
        amax = fmax(amax, a[i]);
    }
    for (size_t i = 0; i < nb; i++) {
        bmin = fmin(bmin, b[i]);
        bmax = fmax(bmax, b[i]);
    }
    return amax < bmin || bmax < amin;
}

static double best_possible_p(size_t na, size_t nb)
{
    double a[64], b[64];
    na = na > 64 ? 64 : na;
    nb = nb > 64 ? 64 : nb;
    for (size_t i = 0; i < na; i++)
        a[i] = (double)i;
    for (size_t i = 0; i < nb; i++)
        b[i] = (double)(na + i);
    return compare_mann_whitney(a, na, b, nb);
}

static void judge(cmp_row *row, metric_id m)
{
    bool higher_is_better = m == M_RPS;
    double mag = fabs(row->pct);
    bool changed;
    if (m == M_ERRORS) {
        /* Error rates: significant and at least 0.1 percentage points. */
        changed = row->p_value < SIG_P && fabs(row->cur - row->base) >= 0.001;
    } else if (row->samples_base < MIN_SAMPLES || row->samples_cur < MIN_SAMPLES) {
        changed = mag >= MIN_PCT_NO_NOISE;
    } else {
        /* Separation of a few seconds happens by chance more often than
         * p < 0.01 would, so it must come with a change twice as large. */
        if (row->p_value < SIG_P)
            changed = mag >= MIN_PCT;
        else
            changed = row->separated && row->min_p >= SIG_P && mag >= 2 * MIN_PCT;
    }
    if (!changed)
        row->verdict = CMP_SAME;
    else if ((row->cur > row->base) == higher_is_better)
        row->verdict = CMP_BETTER;
    else
        row->verdict = CMP_WORSE;
}

static int add_rows(cmp_report *c, const char *name, const results_stats *a,
                    const results_stats *b, err *e)
{
    size_t na = a->sec.len + 1, nb = b->sec.len + 1;
    double *va = malloc(na * sizeof *va), *vb = malloc(nb * sizeof *vb);
    cmp_row *rows = realloc(c->rows, (c->n + M_COUNT) * sizeof *rows);
    if (!va || !vb || !rows) {
        free(va);
        free(vb);
        if (rows)
            c->rows = rows;
        return err_set(e, VOLLEY_ENOMEM, "compare: out of memory");
    }
    c->rows = rows;
    for (int m = 0; m < M_COUNT; m++) {
        cmp_row *row = &c->rows[c->n++];
        memset(row, 0, sizeof *row);
        snprintf(row->endpoint, sizeof row->endpoint, "%s", name);
        snprintf(row->metric, sizeof row->metric, "%s", metric_names[m]);
        row->base = whole(a, (metric_id)m);
        row->cur = whole(b, (metric_id)m);
        row->pct = row->base != 0 ? (row->cur - row->base) / row->base * 100.0 : 0;
        if (m == M_ERRORS) {
            row->p_value = proportion_p(&a->tot, &b->tot);
            row->samples_base = (int)a->tot.requests;
            row->samples_cur = (int)b->tot.requests;
        } else {
            size_t ka = per_second(a, (metric_id)m, va), kb = per_second(b, (metric_id)m, vb);
            row->samples_base = (int)ka;
            row->samples_cur = (int)kb;
            row->p_value = compare_mann_whitney(va, ka, vb, kb);
            row->separated = separated(va, ka, vb, kb);
            row->min_p = best_possible_p(ka, kb);
        }
        judge(row, (metric_id)m);
    }
    free(va);
    free(vb);
    return 0;
}

int compare_results(const results *base, const results *cur, cmp_report *out, err *e)
{
    memset(out, 0, sizeof *out);
    int rc = add_rows(out, "total", &base->st, &cur->st, e);
    for (size_t i = 0; i < base->neps && !rc; i++)
        for (size_t k = 0; k < cur->neps && !rc; k++)
            if (!strcmp(base->eps[i].name, cur->eps[k].name) &&
                (base->neps > 1 || cur->neps > 1))
                rc = add_rows(out, base->eps[i].name, &base->eps[i].st, &cur->eps[k].st, e);
    if (rc)
        compare_free(out);
    return rc;
}

void compare_free(cmp_report *c)
{
    free(c->rows);
    c->rows = NULL;
    c->n = 0;
}

static void fmt_value(const cmp_row *r, double v, char *out, size_t cap)
{
    if (!strcmp(r->metric, "errors"))
        snprintf(out, cap, "%.3f%%", v * 100);
    else if (!strcmp(r->metric, "rps"))
        snprintf(out, cap, "%.1f/s", v);
    else
        snprintf(out, cap, "%.3fms", v);
}

void compare_print(FILE *f, const cmp_report *c, const char *base_name, const char *cur_name)
{
    fprintf(f, "\n  base: %s\n  new:  %s\n\n", base_name, cur_name);
    fprintf(f, "  %-20s %-7s %12s %12s %9s %9s  %s\n", "endpoint", "metric", "base", "new",
            "change", "p", "verdict");
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        char a[32], b[32];
        fmt_value(r, r->base, a, sizeof a);
        fmt_value(r, r->cur, b, sizeof b);
        fprintf(f, "  %-20.20s %-7s %12s %12s %+8.1f%% %9.4f  %s\n", r->endpoint, r->metric, a, b,
                r->pct, r->p_value, compare_verdict_name(r->verdict));
    }
    fprintf(f, "\n  better/worse: the per-second values differ (Mann-Whitney p < 0.01) and the\n"
               "  change is over 10%%; anything else is within noise (\"same\").\n\n");
}

static void json_str(buf *o, const char *s)
{
    buf_append(o, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_printf(o, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            buf_printf(o, "\\u%04x", (unsigned char)*s);
        else
            buf_append(o, s, 1);
    }
    buf_append(o, "\"", 1);
}

int compare_json(const cmp_report *c, const char *base_name, const char *cur_name, buf *o,
                 err *e)
{
    buf_printf(o, "{\n  \"base\": ");
    json_str(o, base_name);
    buf_printf(o, ",\n  \"new\": ");
    json_str(o, cur_name);
    buf_printf(o, ",\n  \"rows\": [\n");
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        buf_printf(o, "    {\"endpoint\": ");
        json_str(o, r->endpoint);
        buf_printf(o,
                   ", \"metric\": \"%s\", \"base\": %.6g, \"new\": %.6g, \"change_pct\": %.3f, "
                   "\"p_value\": %.6g, \"samples_base\": %d, \"samples_new\": %d, "
                   "\"verdict\": \"%s\"}%s\n",
                   r->metric, r->base, r->cur, r->pct, r->p_value, r->samples_base,
                   r->samples_cur, compare_verdict_name(r->verdict), i + 1 < c->n ? "," : "");
    }
    if (buf_printf(o, "  ]\n}\n"))
        return err_set(e, VOLLEY_ENOMEM, "compare: out of memory");
    return 0;
}

int compare_gate_parse(const char *s, cmp_gate *g, err *e)
{
    memset(g, 0, sizeof *g);
    snprintf(g->expr, sizeof g->expr, "%s", s);
    const char *op = strpbrk(s, "<>");
    if (!op)
        return err_set(e, VOLLEY_EINVAL, "--fail-if '%s': expected METRIC>+N%% or METRIC<-N%%", s);
    char m[16];
    size_t ml = (size_t)(op - s);
    if (ml == 0 || ml >= sizeof m)
        return err_set(e, VOLLEY_EINVAL, "--fail-if '%s': at position 1: expected a metric", s);
    memcpy(m, s, ml);
    m[ml] = 0;
    if (!strcmp(m, "p(50)") || !strcmp(m, "med"))
        strcpy(m, "p50");
    else if (!strcmp(m, "p(90)"))
        strcpy(m, "p90");
    else if (!strcmp(m, "p(99)"))
        strcpy(m, "p99");
    else if (!strcmp(m, "avg"))
        strcpy(m, "mean");
    else if (!strcmp(m, "rate"))
        strcpy(m, "rps");
    bool known = false;
    for (int i = 0; i < M_COUNT; i++)
        known |= !strcmp(m, metric_names[i]);
    if (!known)
        return err_set(e, VOLLEY_EINVAL,
                       "--fail-if '%s': at position 1: unknown metric '%s' (p(50), p(90), "
                       "p(99), avg, rate, errors)",
                       s, m);
    snprintf(g->metric, sizeof g->metric, "%s", m);
    g->increase = *op == '>';
    char *end;
    double v = strtod(op + 1, &end);
    if (end == op + 1 || *end != '%' || end[1])
        return err_set(e, VOLLEY_EINVAL, "--fail-if '%s': at position %zu: expected a change like +10%%",
                       s, (size_t)(op - s) + 2);
    g->pct = fabs(v);
    return 0;
}

bool compare_gate_fails(const cmp_gate *g, const cmp_report *c, char *why, size_t cap)
{
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        if (strcmp(r->endpoint, "total") || strcmp(r->metric, g->metric))
            continue;
        double pct = r->pct;
        if (!strcmp(r->metric, "errors")) /* percentage points for error rates */
            pct = (r->cur - r->base) * 100.0;
        bool fail = g->increase ? pct > g->pct : pct < -g->pct;
        if (fail)
            snprintf(why, cap, "--fail-if '%s': %s changed %+.2f%s", g->expr, r->metric, pct,
                     !strcmp(r->metric, "errors") ? " percentage points" : "%");
        return fail;
    }
    return false;
}

/* ---- HTML with the two runs overlaid ---- */

static void add_series_line(chart *c, const char *name, const results_stats *s, metric_id m,
                            uint32_t color, chart_dash dash)
{
    chart_series *cs = chart_add_series(c, name, CHART_LINE, color);
    if (!cs)
        return;
    cs->dash = dash;
    for (size_t i = 0; i < s->sec.len; i++) {
        const series_row *r = &s->sec.rows[i];
        double v = m == M_RPS ? (double)r->requests
                   : m == M_P99 ? (double)r->p99_ns / NS_PER_MS
                                : (double)r->p50_ns / NS_PER_MS;
        chart_series_add(cs, (double)r->second, r->requests || m == M_RPS ? v : NAN);
    }
}

static void spectrum(chart *c, const char *name, const hist *h, uint32_t color, chart_dash dash)
{
    chart_series *cs = chart_add_series(c, name, CHART_LINE, color);
    if (!cs)
        return;
    cs->dash = dash;
    static const double ps[] = {0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        chart_series_add(cs, ps[i], (double)hist_percentile(h, ps[i]) / NS_PER_MS);
}

static chart_fig *overlay(const results *a, const results *b)
{
    chart_fig *f = chart_fig_new("base vs new", 3, 1);
    if (!f)
        return NULL;
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Latency p50 and p99 per second");
    snprintf(c->note, sizeof c->note, "base solid, new dashed");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    add_series_line(c, "base p50", &a->st, M_P50, chart_color(0), CHART_SOLID);
    add_series_line(c, "base p99", &a->st, M_P99, chart_color(1), CHART_SOLID);
    add_series_line(c, "new p50", &b->st, M_P50, chart_color(0), CHART_DASHED);
    add_series_line(c, "new p99", &b->st, M_P99, chart_color(1), CHART_DASHED);
    c = &f->panels[1];
    snprintf(c->title, sizeof c->title, "Requests per second");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "requests/s");
    add_series_line(c, "base", &a->st, M_RPS, chart_color(2), CHART_SOLID);
    add_series_line(c, "new", &b->st, M_RPS, chart_color(3), CHART_DASHED);
    c = &f->panels[2];
    snprintf(c->title, sizeof c->title, "Latency by percentile");
    snprintf(c->x.label, sizeof c->x.label, "percentile");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    c->x.scale = CHART_NINES;
    spectrum(c, "base", a->st.latency, chart_color(2), CHART_SOLID);
    spectrum(c, "new", b->st.latency, chart_color(3), CHART_DASHED);
    return f;
}

static void html_text(buf *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_printf(o, "&lt;"); break;
        case '>': buf_printf(o, "&gt;"); break;
        case '&': buf_printf(o, "&amp;"); break;
        case '"': buf_printf(o, "&quot;"); break;
        default: buf_append(o, s, 1);
        }
    }
}

int compare_html(const results *a, const results *b, const cmp_report *c, const char *base_name,
                 const char *cur_name, const char *path, err *e)
{
    buf o = {0};
    buf_printf(&o, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "style-src 'unsafe-inline'; img-src data:\">\n"
                   "<title>volley compare</title>\n<style>body{font-family:sans-serif;margin:2em;"
                   "color:#222}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:"
                   "1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}"
                   ".better{color:#1a7f37;font-weight:bold}.worse{color:#cf222e;font-weight:bold}"
                   "</style></head><body>\n<h1>volley compare</h1>\n<p>base: ");
    html_text(&o, base_name);
    buf_printf(&o, "<br>new: ");
    html_text(&o, cur_name);
    buf_printf(&o, "</p>\n<table><tr><th>endpoint</th><th>metric</th><th>base</th><th>new</th>"
                   "<th>change</th><th>p</th><th>verdict</th></tr>\n");
    for (size_t i = 0; i < c->n; i++) {
        const cmp_row *r = &c->rows[i];
        char va[32], vb[32];
        fmt_value(r, r->base, va, sizeof va);
        fmt_value(r, r->cur, vb, sizeof vb);
        buf_printf(&o, "<tr><td>");
        html_text(&o, r->endpoint);
        buf_printf(&o, "</td><td>%s</td><td>%s</td><td>%s</td><td>%+.1f%%</td><td>%.4f</td>"
                       "<td class=\"%s\">%s</td></tr>\n",
                   r->metric, va, vb, r->pct, r->p_value, compare_verdict_name(r->verdict),
                   compare_verdict_name(r->verdict));
    }
    buf_printf(&o, "</table>\n<p>better/worse: the per-second values differ (Mann-Whitney "
                   "p &lt; 0.01) and the change is over 10%%; otherwise the difference is "
                   "within noise.</p>\n");
    chart_fig *f = overlay(a, b);
    int rc = 0;
    if (f) {
        buf svg = {0};
        rc = chart_svg_buf(f, 1100, 1200, &svg, e);
        /* Inline: from <svg on, without the XML declaration. */
        char *start = svg.data ? strstr(svg.data, "<svg") : NULL;
        if (!rc && start)
            buf_append(&o, start, strlen(start));
        buf_free(&svg);
        chart_fig_free(f);
    }
    buf_printf(&o, "\n</body></html>\n");
    if (!rc) {
        FILE *out = fopen(path, "w");
        if (!out || fwrite(o.data, 1, o.len, out) != o.len) {
            rc = err_sys(e, "compare: cannot write '%s'", path);
        }
        if (out && fclose(out) && !rc)
            rc = err_sys(e, "compare: cannot write '%s'", path);
    }
    buf_free(&o);
    return rc;
}
