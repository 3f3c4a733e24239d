/* tui: the terminal view (see tui.h). Plain ANSI sequences, no curses:
 * enter the alternate screen and hide the cursor at the first draw, render
 * each frame into memory and write it from the top clipped to the
 * terminal's size (read again on SIGWINCH, then the screen is cleared and
 * redrawn), and undo it all at the end, at exit() and when the run is
 * interrupted. While the view is up, stderr (when it is the terminal too)
 * goes to a temporary file, printed once the terminal is given back, so a
 * warning during the load is not lost with the alternate screen. */
#include "output/tui.h"

#include "output/prom.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUI_SPARK 60

struct tui {
    FILE *f;
    bool on;  /* on the alternate screen (entered at the first draw) */
    double rps[TUI_SPARK];
    unsigned n;
    int rows, cols;       /* the terminal's size, read at start and on SIGWINCH */
    FILE *held;           /* stderr while the view is up (NULL: not held) */
    int saved_err;        /* the real stderr, dup'ed */
    struct sigaction old_winch;
};

static tui *tui_active; /* for the exit hook: the terminal to give back */
static volatile sig_atomic_t tui_resized;

static void on_winch(int sig)
{
    (void)sig;
    tui_resized = 1;
}

static void read_size(tui *t)
{
    struct winsize ws;
    t->rows = 24;
    t->cols = 80;
    if (ioctl(fileno(t->f), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        t->rows = ws.ws_row;
        t->cols = ws.ws_col;
    }
}

/* stderr into a temporary file while the view is up, if it is a terminal. */
static void hold_stderr(tui *t)
{
    if (!isatty(STDERR_FILENO))
        return;
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = tmp ? dup(STDERR_FILENO) : -1;
    if (saved < 0 || dup2(fileno(tmp), STDERR_FILENO) < 0) {
        if (saved >= 0)
            close(saved);
        if (tmp)
            fclose(tmp);
        return;
    }
    t->held = tmp;
    t->saved_err = saved;
}

/* The real stderr back, and what was written meanwhile printed on it. */
static void release_stderr(tui *t)
{
    if (!t->held)
        return;
    fflush(stderr);
    dup2(t->saved_err, STDERR_FILENO);
    close(t->saved_err);
    rewind(t->held);
    char b[4096];
    size_t n;
    while ((n = fread(b, 1, sizeof b, t->held)) > 0)
        fwrite(b, 1, n, stderr);
    fflush(stderr);
    fclose(t->held);
    t->held = NULL;
}

static void restore(tui *t)
{
    fputs("\x1b[?25h\x1b[?1049l", t->f);
    fflush(t->f);
    release_stderr(t);
}

static void at_exit(void)
{
    if (tui_active && tui_active->on)
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
    t->saved_err = -1;
    read_size(t);
    struct sigaction sa = {.sa_handler = on_winch};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, &t->old_winch);
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

/* A width that fits beside `used` columns of text: within lo..hi. */
static int fit(const tui *t, int used, int lo, int hi)
{
    int w = t->cols - used;
    return w < lo ? lo : w > hi ? hi : w;
}

static void spark(tui *t, FILE *f)
{
    static const char *lv[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                               "\u2585", "\u2586", "\u2587", "\u2588"};
    unsigned w = (unsigned)fit(t, 24, 5, TUI_SPARK), from = t->n > w ? t->n - w : 0;
    double max = 1;
    for (unsigned i = from; i < t->n; i++)
        max = t->rps[i] > max ? t->rps[i] : max;
    fputs("req/s  ", f);
    for (unsigned i = from; i < t->n; i++)
        fputs(lv[(int)(t->rps[i] / max * 7 + 0.5)], f);
    fprintf(f, "  (max %.0f)\n", max);
}

static void histogram(tui *t, FILE *f, const hist *h)
{
    uint64_t total = hist_count(h), below = 0;
    int w = fit(t, 32, 5, 40);
    fprintf(f, "latency (all so far, %llu samples)\n", (unsigned long long)total);
    for (unsigned i = 0; i < prom_nbuckets && total; i++) {
        uint64_t le = prom_hist_le(h, (uint64_t)(prom_buckets_s[i] * 1e9)), n = le - below;
        below = le;
        if (!n)
            continue;
        fprintf(f, "  <= %7.1f ms %9llu ", prom_buckets_s[i] * 1e3, (unsigned long long)n);
        for (int k = 0; k < (int)((double)w * n / total + 0.5); k++)
            fputc('#', f);
        fputc('\n', f);
    }
    if (total > below)
        fprintf(f, "  >  %7.1f ms %9llu\n", prom_buckets_s[prom_nbuckets - 1] * 1e3,
                (unsigned long long)(total - below));
}

static void header(tui *t, FILE *f, const engine_progress *pr)
{
    double el = (double)pr->elapsed_ns / 1e9;
    int w = fit(t, 32, 10, 40);
    fprintf(f, "volley %s", pr->warmup ? "warm-up " : "");
    if (pr->nsteps)
        fprintf(f, "step %u/%u ", pr->step + 1, pr->nsteps);
    if (pr->total_ns) {
        double fr = el / ((double)pr->total_ns / 1e9);
        bar(f, fr > 1 ? 1 : fr, w);
        fprintf(f, " %.1fs / %.0fs", el, (double)pr->total_ns / 1e9);
    } else if (pr->planned_requests) {
        double fr = (double)pr->requests / (double)pr->planned_requests;
        bar(f, fr > 1 ? 1 : fr, w);
        fprintf(f, " %.1fs", el);
    }
    fprintf(f, "%s\n\n", pr->stopping ? "  (stopping)" : "");
}

/* Responses by status class and errors by kind: whole run (+ last second). */
static void failures(FILE *f, const snap *s)
{
    const series_row *l = &s->last;
    fputs("status", f);
    for (int c = 1; c < SNAP_STATUS_CLASSES; c++)
        if (s->status_class[c])
            fprintf(f, "   %s %llu (+%llu/s)", snap_status_class_name(c),
                    (unsigned long long)s->status_class[c],
                    (unsigned long long)(s->have_last ? l->status_class[c] : 0));
    fputs("\nerrors", f);
    bool any = false;
    for (int k = 0; k < ERRK_COUNT; k++)
        if (s->err_kind[k]) {
            any = true;
            fprintf(f, "   %s %llu (+%llu/s)", metrics_err_kind_name((err_kind)k),
                    (unsigned long long)s->err_kind[k],
                    (unsigned long long)(s->have_last ? l->err_kind[k] : 0));
        }
    fprintf(f, "%s\n", any ? "" : "   none");
    if (s->retries)
        fprintf(f, "retries %llu (+%llu/s)\n", (unsigned long long)s->retries,
                (unsigned long long)(s->have_last ? l->retries : 0));
    if (s->have_last)
        fprintf(f, "send lag p99 %.2f ms   generator CPU %.0f %%\n", l->send_lag_p99_ns / 1e6,
                l->cpu_pct);
}

static void endpoints(FILE *f, const snap *s)
{
    if (!s->neps)
        return;
    fprintf(f, "\n%-24s %12s %10s %10s %10s\n", "endpoint", "requests", "failed", "req/s",
            "p99 ms");
    for (size_t i = 0; i < s->neps && i < 12; i++)
        fprintf(f, "%-24.24s %12llu %10llu %10.0f %10.2f\n", s->eps[i].name,
                (unsigned long long)s->eps[i].requests, (unsigned long long)s->eps[i].errors,
                s->eps[i].rps, s->eps[i].p99_ns / 1e6);
}

static void frame(tui *t, FILE *f, const engine_progress *pr, const snap *s)
{
    header(t, f, pr);
    fprintf(f, "requests %llu   failed %llu   dropped %llu   conns %u\n",
            (unsigned long long)pr->requests, (unsigned long long)pr->errors,
            (unsigned long long)pr->dropped, pr->active);
    fprintf(f, "last second: req/s %.0f", pr->last_rps);
    if (pr->target_rps > 0)
        fprintf(f, " (target %.0f)", pr->target_rps);
    fprintf(f, "   p50 %.2f ms   p99 %.2f ms\n", pr->last_p50_ns / 1e6, pr->last_p99_ns / 1e6);
    failures(f, s);
    fputc('\n', f);
    spark(t, f);
    fputc('\n', f);
    histogram(t, f, s->latency);
    endpoints(f, s);
    fprintf(f, "\nbytes in %llu   out %llu   generator CPU %.1f s\n",
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out, s->cpu_s);
    fputs("Ctrl-C stops the run (twice: at once)\n", f);
}

/* One line of the frame, cut to `cols` characters (UTF-8: a character is
 * a byte that does not continue one); returns where the next line starts. */
static const char *emit_line(FILE *out, const char *p, const char *end, int cols)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end, *q = p;
    for (int shown = 0; q < stop; q++) {
        if (((unsigned char)*q & 0xC0) != 0x80 && shown++ == cols)
            break;
    }
    fwrite(p, 1, (size_t)(q - p), out);
    fputs("\x1b[K", out); /* the rest of the row: the last frame's text */
    return nl ? nl + 1 : end;
}

/* The frame from the top: at most `rows` lines (no newline after the last,
 * so the screen never scrolls), each clipped, the rest of the screen cleared. */
static void emit(tui *t, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    fputs("\x1b[H", t->f);
    for (int row = 0; p < end && row < t->rows; row++) {
        if (row)
            fputc('\n', t->f);
        p = emit_line(t->f, p, end, t->cols);
    }
    fputs("\x1b[J", t->f);
}

void tui_draw(tui *t, const engine_progress *pr, const snap *s)
{
    if (!t->on) { /* now, not at the start: errors before the load stay visible */
        t->on = true;
        tui_active = t;
        fputs("\x1b[?1049h\x1b[?25l\x1b[2J", t->f);
        hold_stderr(t);
    }
    if (tui_resized) { /* SIGWINCH: the new size, a clean screen */
        tui_resized = 0;
        read_size(t);
        fputs("\x1b[2J", t->f);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return;
    frame(t, mem, pr, s);
    if (fclose(mem) == 0)
        emit(t, text, len);
    free(text);
    fflush(t->f);
}

void tui_stop(tui *t)
{
    if (!t)
        return;
    if (t->on)
        restore(t);
    sigaction(SIGWINCH, &t->old_winch, NULL);
    tui_active = NULL;
    free(t);
}
