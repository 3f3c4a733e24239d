/* tui: the terminal view (see tui.h). Plain ANSI sequences, no curses:
 * enter the alternate screen and hide the cursor at the start, redraw from
 * the top each time, and undo both at the end, at exit() and when the run
 * is interrupted (the run returns normally after Ctrl-C). */
#include "output/tui.h"

#include "output/prom.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TUI_SPARK 60

struct tui {
    FILE *f;
    bool on;  /* on the alternate screen (entered at the first draw) */
    double rps[TUI_SPARK];
    unsigned n;
};

static FILE *tui_active; /* for the exit hook: the terminal to give back */

static void restore(FILE *f)
{
    fputs("\x1b[?25h\x1b[?1049l", f);
    fflush(f);
}

static void at_exit(void)
{
    if (tui_active)
        restore(tui_active);
}

tui *tui_start(FILE *f, err *e)
{
    if (!isatty(fileno(f))) {
        err_set(e, VOLLEY_EINVAL, "--tui: standard output is not a terminal");
        return NULL;
    }
    tui *t = calloc(1, sizeof *t);
    if (!t) {
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        return NULL;
    }
    t->f = f;
    static bool hooked;
    if (!hooked && atexit(at_exit) == 0)
        hooked = true;
    return t;
}

void tui_second(tui *t, const series_row *row)
{
    if (t->n == TUI_SPARK)
        memmove(t->rps, t->rps + 1, (TUI_SPARK - 1) * sizeof t->rps[0]);
    else
        t->n++;
    t->rps[t->n - 1] = (double)row->requests;
}

static void bar(FILE *f, double frac, int width)
{
    int full = (int)(frac * width + 0.5);
    fputc('[', f);
    for (int i = 0; i < width; i++)
        fputs(i < full ? "#" : ".", f);
    fputc(']', f);
}

static void spark(tui *t)
{
    static const char *lv[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                               "\u2585", "\u2586", "\u2587", "\u2588"};
    double max = 1;
    for (unsigned i = 0; i < t->n; i++)
        max = t->rps[i] > max ? t->rps[i] : max;
    fputs("req/s  ", t->f);
    for (unsigned i = 0; i < t->n; i++)
        fputs(lv[(int)(t->rps[i] / max * 7 + 0.5)], t->f);
    fprintf(t->f, "  (max %.0f)\x1b[K\n", max);
}

static void histogram(tui *t, const hist *h)
{
    uint64_t total = hist_count(h), below = 0;
    fprintf(t->f, "latency (all so far, %llu samples)\x1b[K\n", (unsigned long long)total);
    for (unsigned i = 0; i < prom_nbuckets && total; i++) {
        uint64_t le = prom_hist_le(h, (uint64_t)(prom_buckets_s[i] * 1e9)), n = le - below;
        below = le;
        if (!n)
            continue;
        fprintf(t->f, "  <= %7.1f ms %9llu ", prom_buckets_s[i] * 1e3, (unsigned long long)n);
        for (int k = 0; k < (int)(40.0 * n / total + 0.5); k++)
            fputc('#', t->f);
        fputs("\x1b[K\n", t->f);
    }
    if (total > below)
        fprintf(t->f, "  >  %7.1f ms %9llu\x1b[K\n", prom_buckets_s[prom_nbuckets - 1] * 1e3,
                (unsigned long long)(total - below));
}

static void header(tui *t, const engine_progress *pr)
{
    double el = (double)pr->elapsed_ns / 1e9;
    fprintf(t->f, "volley %s", pr->warmup ? "warm-up " : "");
    if (pr->nsteps)
        fprintf(t->f, "step %u/%u ", pr->step + 1, pr->nsteps);
    if (pr->total_ns) {
        bar(t->f, el / ((double)pr->total_ns / 1e9) > 1 ? 1 : el / ((double)pr->total_ns / 1e9), 40);
        fprintf(t->f, " %.1fs / %.0fs", el, (double)pr->total_ns / 1e9);
    } else if (pr->planned_requests) {
        double fr = (double)pr->requests / (double)pr->planned_requests;
        bar(t->f, fr > 1 ? 1 : fr, 40);
        fprintf(t->f, " %.1fs", el);
    }
    fprintf(t->f, "%s\x1b[K\n\x1b[K\n", pr->stopping ? "  (stopping)" : "");
}

/* Responses by status class and errors by kind: whole run (+ last second). */
static void failures(tui *t, const snap *s)
{
    const series_row *l = &s->last;
    fputs("status", t->f);
    for (int c = 1; c < SNAP_STATUS_CLASSES; c++)
        if (s->status_class[c])
            fprintf(t->f, "   %s %llu (+%llu/s)", snap_status_class_name(c),
                    (unsigned long long)s->status_class[c],
                    (unsigned long long)(s->have_last ? l->status_class[c] : 0));
    fputs("\x1b[K\nerrors", t->f);
    bool any = false;
    for (int k = 0; k < ERRK_COUNT; k++)
        if (s->err_kind[k]) {
            any = true;
            fprintf(t->f, "   %s %llu (+%llu/s)", metrics_err_kind_name((err_kind)k),
                    (unsigned long long)s->err_kind[k],
                    (unsigned long long)(s->have_last ? l->err_kind[k] : 0));
        }
    fprintf(t->f, "%s\x1b[K\n", any ? "" : "   none");
    if (s->have_last)
        fprintf(t->f, "send lag p99 %.2f ms   generator CPU %.0f %%\x1b[K\n",
                l->send_lag_p99_ns / 1e6, l->cpu_pct);
}

static void endpoints(tui *t, const snap *s)
{
    if (!s->neps)
        return;
    fprintf(t->f, "\x1b[K\n%-24s %12s %10s %10s %10s\x1b[K\n", "endpoint", "requests", "failed",
            "req/s", "p99 ms");
    for (size_t i = 0; i < s->neps && i < 12; i++)
        fprintf(t->f, "%-24.24s %12llu %10llu %10.0f %10.2f\x1b[K\n", s->eps[i].name,
                (unsigned long long)s->eps[i].requests, (unsigned long long)s->eps[i].errors,
                s->eps[i].rps, s->eps[i].p99_ns / 1e6);
}

void tui_draw(tui *t, const engine_progress *pr, const snap *s)
{
    FILE *f = t->f;
    if (!t->on) { /* now, not at the start: errors before the load stay visible */
        t->on = true;
        tui_active = f;
        fputs("\x1b[?1049h\x1b[?25l\x1b[2J", f);
    }
    fputs("\x1b[H", f);
    header(t, pr);
    fprintf(f, "requests %llu   failed %llu   dropped %llu   conns %u\x1b[K\n",
            (unsigned long long)pr->requests, (unsigned long long)pr->errors,
            (unsigned long long)pr->dropped, pr->active);
    fprintf(f, "last second: req/s %.0f", pr->last_rps);
    if (pr->target_rps > 0)
        fprintf(f, " (target %.0f)", pr->target_rps);
    fprintf(f, "   p50 %.2f ms   p99 %.2f ms\x1b[K\n", pr->last_p50_ns / 1e6,
            pr->last_p99_ns / 1e6);
    failures(t, s);
    fputs("\x1b[K\n", f);
    spark(t);
    fputs("\x1b[K\n", f);
    histogram(t, s->latency);
    endpoints(t, s);
    fprintf(f, "\x1b[K\nbytes in %llu   out %llu   generator CPU %.1f s\x1b[K\n",
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out, s->cpu_s);
    fputs("Ctrl-C stops the run (twice: at once)\x1b[K\n\x1b[J", f);
    fflush(f);
}

void tui_stop(tui *t)
{
    if (!t)
        return;
    if (t->on)
        restore(t->f);
    tui_active = NULL;
    free(t);
}
