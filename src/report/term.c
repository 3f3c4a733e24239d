/* term: the txt format of `volley report` (cmd/report): summary_print's
 * console summary, then tables per endpoint and per sweep step, and
 * Unicode block sparklines / bars, all from a results struct. */
#include "report/term.h"

#include "core/clock.h"
#include "report/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *blocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                               "\u2585", "\u2586", "\u2587", "\u2588"};

void term_sparkline(const double *v, size_t n, size_t width, int use_max, char *out,
                    size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    if (!n || !width || cap < 4)
        return;
    size_t cells = n < width ? n : width;
    double top = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > top)
            top = v[i];
    for (size_t c = 0; c < cells && len + 4 <= cap; c++) {
        size_t a = c * n / cells, b = (c + 1) * n / cells;
        double acc = 0;
        size_t k = 0;
        for (size_t i = a; i < b; i++) {
            if (!isfinite(v[i]))
                continue;
            acc = use_max ? fmax(acc, v[i]) : acc + v[i];
            k++;
        }
        const char *g = " ";
        if (k) {
            double x = use_max ? acc : acc / (double)k;
            int level = top > 0 ? (int)lround(x / top * 7) : 0;
            g = blocks[level < 0 ? 0 : level > 7 ? 7 : level];
        }
        size_t gl = strlen(g);
        memcpy(out + len, g, gl);
        len += gl;
    }
    out[len] = '\0';
}

static double pct(uint64_t n, uint64_t of)
{
    return of ? 100.0 * (double)n / (double)of : 0;
}

static void sparks(FILE *f, const char *name, const series *sec)
{
    if (!sec->len)
        return;
    double *rps = malloc(sec->len * sizeof *rps), *p99 = malloc(sec->len * sizeof *p99);
    if (rps && p99) {
        double top_rps = 0, top_p99 = 0;
        for (size_t i = 0; i < sec->len; i++) {
            rps[i] = (double)sec->rows[i].requests;
            p99[i] = sec->rows[i].responses ? (double)sec->rows[i].p99_ns / 1e6 : NAN;
            top_rps = fmax(top_rps, rps[i]);
            if (isfinite(p99[i]))
                top_p99 = fmax(top_p99, p99[i]);
        }
        char line[TERM_SPARK_WIDTH * 3 + 1];
        term_sparkline(rps, sec->len, TERM_SPARK_WIDTH, 0, line, sizeof line);
        /* A name longer than the label column gets a line of its own. */
        if (strlen(name) > 12) {
            fprintf(f, "  %s\n", name);
            name = "";
        }
        fprintf(f, "  %-12s req/s %s  max %.0f/s\n", name, line, top_rps);
        term_sparkline(p99, sec->len, TERM_SPARK_WIDTH, 1, line, sizeof line);
        fprintf(f, "  %-12s p99   %s  max %.3fms\n", "", line, top_p99);
    }
    free(rps);
    free(p99);
}

/* One sparkline of a row field (k: 0 sent, 1 received, 2 open, 3 rtt p99). */
static void ws_line(FILE *f, const series *sec, int k, double *v)
{
    static const char *labels[] = {"ws sent/s", "ws recv/s", "ws open", "ws rtt p99"};
    double top = 0;
    for (size_t i = 0; i < sec->len; i++) {
        const series_row *w = &sec->rows[i];
        v[i] = k == 0   ? (double)w->ws_sent
               : k == 1 ? (double)w->ws_received
               : k == 2 ? (double)w->ws_open
               : w->ws_rtts ? (double)w->ws_rtt_p99_ns / 1e6 : NAN;
        if (isfinite(v[i]))
            top = fmax(top, v[i]);
    }
    char line[TERM_SPARK_WIDTH * 3 + 1];
    term_sparkline(v, sec->len, TERM_SPARK_WIDTH, k >= 2, line, sizeof line);
    fprintf(f, "  %-12s %s  max %.*f%s\n", labels[k], line, k == 3 ? 3 : 0, top,
            k == 3 ? "ms" : k == 2 ? "" : "/s");
}

/* A script's WebSocket sessions per second (the run's rows). */
static void ws_sparks(FILE *f, const series *sec)
{
    if (!series_has_ws(sec))
        return;
    double *v = malloc(sec->len * sizeof *v);
    for (int k = 0; v && k < 4; k++)
        ws_line(f, sec, k, v);
    free(v);
}

#define BAR_WIDTH 40

static void bar(FILE *f, const char *label, uint64_t n, uint64_t of)
{
    /* Eighth blocks make short bars visible and long ones exact. */
    static const char *eighths[] = {"", "\u258f", "\u258e", "\u258d",
                                    "\u258c", "\u258b", "\u258a", "\u2589"};
    double w = of ? (double)n / (double)of * BAR_WIDTH : 0;
    int full = (int)w, part = (int)((w - full) * 8);
    fprintf(f, "    %-16s ", label);
    for (int i = 0; i < full; i++)
        fputs("\u2588", f);
    fputs(eighths[part], f);
    if (n && !full && !part)
        fputs("\u258f", f);
    fprintf(f, " %llu (%.2f%%)\n", (unsigned long long)n, pct(n, of));
}

static void status_bars(FILE *f, const metrics_totals *t)
{
    for (int i = 0; i < METRICS_STATUS_MAX; i++) {
        if (!t->status[i])
            continue;
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        bar(f, k, t->status[i], t->requests);
    }
    for (int i = 0; i < ERRK_COUNT; i++)
        if (t->err_kind[i])
            bar(f, metrics_err_kind_name((err_kind)i), t->err_kind[i], t->requests);
}

void term_print(FILE *f, const results *r)
{
    summary_print(f, r);
    /* summary_print has the endpoint and step tables; add what it cannot
     * show in numbers: the shape over time and the mix of outcomes. */
    bool any = r->st.sec.len > 0;
    for (size_t i = 0; i < r->neps; i++)
        any |= r->eps[i].st.sec.len > 0;
    if (any) {
        fprintf(f, "  per second (%zu s)\n", r->st.sec.len);
        sparks(f, "all", &r->st.sec);
        for (size_t i = 0; i < r->neps && r->neps > 1; i++)
            sparks(f, r->eps[i].name, &r->eps[i].st.sec);
        ws_sparks(f, &r->st.sec);
        fprintf(f, "\n");
    }
    if (r->st.tot.requests) {
        fprintf(f, "  outcomes\n");
        status_bars(f, &r->st.tot);
        for (size_t i = 0; i < r->neps && r->neps > 1; i++) {
            fprintf(f, "   %s\n", r->eps[i].name);
            status_bars(f, &r->eps[i].st.tot);
        }
        fprintf(f, "\n");
    }
}
