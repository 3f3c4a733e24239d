/* chart_plot: the plotting layer of the chart module (chart_plot.h): the
 * chart model (figures, panels, axes, series), scales and nice ticks,
 * legends, and its drawing with cairo (PNG, SVG file, SVG in memory for
 * report/html). One drawing code for every output, so a PNG and the HTML
 * report's SVG always show the same thing. The figures are in chart.c. */
#include "report/chart_plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tableau 10: distinct, colour-blind-friendly enough, readable on white. */
static const uint32_t palette[] = {0x4E79A7, 0xF28E2B, 0x59A14F, 0xE15759, 0x76B7B2,
                                   0xEDC948, 0xB07AA1, 0xFF9DA7, 0x9C755F, 0xBAB0AC};
#define NPALETTE (sizeof palette / sizeof palette[0])
_Static_assert(NPALETTE == CHART_NCOLORS, "chart_plot.h names the palette size");

#define C_TEXT 0x222222
#define C_MUTED 0x6B6B6B
#define C_GRID 0xE6E6E6
#define C_AXIS 0x999999
#define FONT "DejaVu Sans" /* fontconfig falls back to any sans when missing */

/* A vector scatter with more points is huge and slow in a browser. */
#define MAX_VECTOR_POINTS 20000

uint32_t chart_color(size_t i)
{
    return palette[i % NPALETTE];
}

static uint32_t mix(uint32_t c, uint32_t with, double t)
{
    uint32_t out = 0;
    for (int sh = 16; sh >= 0; sh -= 8) {
        double a = (c >> sh) & 255, b = (with >> sh) & 255;
        out |= (uint32_t)lround(a * (1 - t) + b * t) << sh;
    }
    return out;
}

void chart_style(size_t i, uint32_t *color, chart_dash *dash, chart_marker *marker)
{
    size_t k = i % CHART_NSTYLES, band = k / CHART_NCOLORS;
    uint32_t c = palette[k % CHART_NCOLORS];
    *color = band == 0 ? c : band == 1 ? mix(c, 0x000000, 0.4) : mix(c, 0xFFFFFF, 0.35);
    *dash = band == 0 ? CHART_SOLID : band == 1 ? CHART_DASHED : CHART_DOTTED;
    *marker = (chart_marker)(i % CHART_NMARKS);
}

void chart_series_style(chart_series *s, size_t i)
{
    chart_style(i, &s->color, &s->dash, &s->marker);
}

uint32_t chart_status_color(int status)
{
    if (status <= 0)
        return 0xB07AA1;
    if (status < 300)
        return 0x59A14F;
    if (status < 400)
        return 0x4E79A7;
    if (status < 500)
        return 0xF28E2B;
    return 0xE15759;
}

/* ---- model ------------------------------------------------------------------ */

chart_fig *chart_fig_new(const char *title, size_t npanels, int cols)
{
    chart_fig *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->panels = calloc(npanels ? npanels : 1, sizeof *f->panels);
    if (!f->panels) {
        free(f);
        return NULL;
    }
    snprintf(f->title, sizeof f->title, "%s", title ? title : "");
    f->npanels = npanels;
    f->cols = cols > 0 ? cols : 1;
    return f;
}

void chart_fig_free(chart_fig *f)
{
    if (!f)
        return;
    for (size_t p = 0; p < f->npanels; p++) {
        chart *c = &f->panels[p];
        for (size_t i = 0; i < c->nseries; i++) {
            free(c->series[i].x);
            free(c->series[i].y);
            free(c->series[i].colors);
        }
        free(c->series);
        free(c->cats);
    }
    free(f->panels);
    free(f);
}

int chart_fig_set_panels(chart_fig *f, size_t n)
{
    chart *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return VOLLEY_ENOMEM;
    free(f->panels);
    f->panels = p;
    f->npanels = n;
    return 0;
}

chart_series *chart_add_series(chart *c, const char *name, chart_kind kind, uint32_t color)
{
    chart_series *s = realloc(c->series, (c->nseries + 1) * sizeof *s);
    if (!s)
        return NULL;
    c->series = s;
    s = &s[c->nseries++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->color = color;
    s->width = kind == CHART_POINTS ? 3 : 2;
    return s;
}

static int grow(chart_series *s)
{
    if (s->n < s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 64;
    double *x = realloc(s->x, cap * sizeof *x);
    if (!x)
        return VOLLEY_ENOMEM;
    s->x = x;
    double *y = realloc(s->y, cap * sizeof *y);
    if (!y)
        return VOLLEY_ENOMEM;
    s->y = y;
    if (s->colors) {
        uint32_t *c = realloc(s->colors, cap * sizeof *c);
        if (!c)
            return VOLLEY_ENOMEM;
        s->colors = c;
    }
    s->cap = cap;
    return 0;
}

int chart_series_add(chart_series *s, double x, double y)
{
    if (grow(s))
        return VOLLEY_ENOMEM;
    s->x[s->n] = x;
    s->y[s->n] = y;
    if (s->colors)
        s->colors[s->n] = s->color;
    s->n++;
    return 0;
}

int chart_series_add_colored(chart_series *s, double x, double y, uint32_t color)
{
    if (!s->colors) {
        s->colors = malloc((s->cap ? s->cap : 1) * sizeof *s->colors);
        if (!s->colors)
            return VOLLEY_ENOMEM;
        for (size_t i = 0; i < s->n; i++)
            s->colors[i] = s->color;
    }
    if (chart_series_add(s, x, y))
        return VOLLEY_ENOMEM;
    s->colors[s->n - 1] = color;
    return 0;
}

int chart_category(chart *c, const char *name)
{
    for (size_t i = 0; i < c->ncats; i++)
        if (!strcmp(c->cats[i], name))
            return (int)i;
    char(*cats)[96] = realloc(c->cats, (c->ncats + 1) * sizeof *cats);
    if (!cats)
        return -1;
    c->cats = cats;
    snprintf(cats[c->ncats], sizeof cats[0], "%s", name);
    return (int)c->ncats++;
}

/* ---- drawing helpers ----------------------------------------------------------- */

static void set_rgb(cairo_t *cr, uint32_t c, double alpha)
{
    cairo_set_source_rgba(cr, ((c >> 16) & 255) / 255.0, ((c >> 8) & 255) / 255.0,
                          (c & 255) / 255.0, alpha);
}

static void font(cairo_t *cr, double size, bool bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t ext;
    cairo_text_extents(cr, s, &ext);
    return ext.x_advance;
}

/* Text with its baseline at y; align 0 = left, 0.5 = centre, 1 = right. */
static void text(cairo_t *cr, double x, double y, const char *s, double align, uint32_t color)
{
    set_rgb(cr, color, 1);
    cairo_move_to(cr, x - align * text_w(cr, s), y);
    cairo_show_text(cr, s);
}

static void set_dash(cairo_t *cr, chart_dash d, double width)
{
    double dashed[] = {6 * width / 2 + 2, 4};
    double dotted[] = {1, width + 2.5};
    if (d == CHART_DASHED)
        cairo_set_dash(cr, dashed, 2, 0);
    else if (d == CHART_DOTTED)
        cairo_set_dash(cr, dotted, 2, 0);
    else
        cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_line_cap(cr, d == CHART_DOTTED ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
}

/* ---- axes ---------------------------------------------------------------------- */

static bool valid(const chart_axis *a, double v)
{
    if (!isfinite(v))
        return false;
    if (a->scale == CHART_LOG10)
        return v > 0;
    if (a->scale == CHART_NINES)
        return v >= 0 && v <= 100;
    return true;
}

static double tx(const chart_axis *a, double v)
{
    switch (a->scale) {
    case CHART_LOG10:
        return log10(v);
    case CHART_NINES:
        return -log10(fmax(1 - v / 100, pow(10, -CHART_NINES_MAX)));
    default:
        return v;
    }
}

/* An axis after layout: the transformed range and the ticks. */
#define MAX_TICKS 24
typedef struct axis_view {
    double lo, hi;           /* transformed */
    double ticks[MAX_TICKS]; /* transformed positions */
    char labels[MAX_TICKS][24];
    int nticks;
} axis_view;

static double nice_step(double span, int target)
{
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return nice * mag;
}

static void fmt_num(char *out, size_t cap, double v, double step)
{
    /* Enough decimals to show the step exactly (0.25 needs two). */
    int dec = 0;
    while (dec < 6 && fabs(step * pow(10, dec) - round(step * pow(10, dec))) > 1e-6)
        dec++;
    if (fabs(v) < step * 1e-6)
        v = 0; /* no "-0" */
    if (fabs(v) >= 1e6 && step >= 1e5)
        snprintf(out, cap, "%gM", v / 1e6);
    else if (fabs(v) >= 1e4 && step >= 1e3 && fmod(v, 1000) == 0)
        snprintf(out, cap, "%gk", v / 1e3);
    else
        snprintf(out, cap, "%.*f", dec, v);
}

/* Lays out an axis over the transformed data range [lo, hi]. extend: round
 * the ends out to ticks (value axes), else keep the data range (time). */
static void axis_layout(const chart_axis *a, double lo, double hi, bool extend, int target,
                        axis_view *v)
{
    memset(v, 0, sizeof *v);
    if (a->has_min)
        lo = tx(a, a->min);
    if (a->has_max)
        hi = tx(a, a->max);
    if (a->least_max > 0 && valid(a, a->least_max) && hi < tx(a, a->least_max))
        hi = tx(a, a->least_max);
    if (a->scale == CHART_NINES) {
        v->lo = a->has_min ? lo : 0;
        v->hi = a->has_max ? hi : fmax(2, fmin(CHART_NINES_MAX, ceil(hi - 1e-9)));
        static const char *names[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
        for (int k = (int)ceil(v->lo); k <= (int)floor(v->hi) && k <= 5; k++) {
            v->ticks[v->nticks] = k;
            snprintf(v->labels[v->nticks++], sizeof v->labels[0], "%s", names[k]);
        }
        return;
    }
    if (a->scale == CHART_LOG10) {
        if (hi - lo < 1e-9) {
            lo -= 0.5;
            hi += 0.5;
        }
        v->lo = floor(lo + 1e-9);
        v->hi = ceil(hi - 1e-9);
        bool minor = v->hi - v->lo <= 2;
        for (int d = (int)v->lo; d <= (int)v->hi && v->nticks < MAX_TICKS - 3; d++) {
            static const double mult[] = {1, 2, 5};
            for (int m = 0; m < (minor ? 3 : 1); m++) {
                double t = d + log10(mult[m]);
                if (t > v->hi + 1e-9)
                    break;
                double val = mult[m] * pow(10, d);
                v->ticks[v->nticks] = t;
                snprintf(v->labels[v->nticks++], sizeof v->labels[0], "%g", val);
            }
        }
        return;
    }
    if (hi - lo < 1e-12) {
        if (lo == 0) {
            hi = 1;
        } else {
            double pad = fabs(lo) * 0.1;
            lo -= pad;
            hi += pad;
        }
    }
    double step = nice_step(hi - lo, target);
    if (extend) {
        if (!a->has_min)
            lo = floor(lo / step + 1e-9) * step;
        if (!a->has_max)
            hi = ceil(hi / step - 1e-9) * step;
    }
    v->lo = lo;
    v->hi = hi;
    double first = ceil(lo / step - 1e-9) * step;
    for (double t = first; t <= hi + step * 1e-9 && v->nticks < MAX_TICKS; t += step) {
        v->ticks[v->nticks] = t;
        fmt_num(v->labels[v->nticks++], sizeof v->labels[0], t, step);
    }
}

/* The data range of a panel in transformed units; false when it has no
 * point to draw. */
static bool data_range(const chart *c, bool yaxis, double *lo, double *hi)
{
    const chart_axis *a = yaxis ? &c->y : &c->x;
    bool any = false;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < c->nseries; i++) {
        const chart_series *s = &c->series[i];
        for (size_t k = 0; k < s->n; k++) {
            if (!valid(&c->y, s->y[k]) || (!c->ncats && !valid(&c->x, s->x[k])))
                continue;
            double v = tx(a, yaxis ? s->y[k] : s->x[k]);
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
            any = true;
        }
        /* Bars grow from zero on a linear axis. */
        if (yaxis && s->kind == CHART_BARS && a->scale == CHART_LINEAR && s->n)
            *lo = fmin(*lo, 0);
    }
    return any;
}

/* ---- panel --------------------------------------------------------------------- */

typedef struct plot {
    double l, r, t, b; /* the plot rectangle */
    axis_view xv, yv;
    bool cats;
    size_t ncats;
    size_t cat_every;  /* every how many categories a name is written (1: all) */
    int cat_lines;     /* lines the widest category name takes, wrapped */
} plot;

static double px(const plot *p, const chart *c, double x)
{
    double t = p->cats ? x : tx(&c->x, x);
    return p->l + (t - p->xv.lo) / (p->xv.hi - p->xv.lo) * (p->r - p->l);
}

static double py(const plot *p, const chart *c, double y)
{
    return p->b - (tx(&c->y, y) - p->yv.lo) / (p->yv.hi - p->yv.lo) * (p->b - p->t);
}

#define LEGEND_ROW 18

/* A hollow marker: shapes drawn on the same point all stay visible. */
static void marker_path(cairo_t *cr, chart_marker m, double x, double y, double r)
{
    cairo_new_sub_path(cr);
    switch (m) {
    case CHART_MARK_SQUARE:
        cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, 1.7 * r, 1.7 * r);
        break;
    case CHART_MARK_TRIANGLE:
        cairo_move_to(cr, x, y - r * 1.2);
        cairo_line_to(cr, x + r * 1.1, y + r * 0.8);
        cairo_line_to(cr, x - r * 1.1, y + r * 0.8);
        cairo_close_path(cr);
        break;
    case CHART_MARK_DIAMOND:
        cairo_move_to(cr, x, y - r * 1.25);
        cairo_line_to(cr, x + r * 1.25, y);
        cairo_line_to(cr, x, y + r * 1.25);
        cairo_line_to(cr, x - r * 1.25, y);
        cairo_close_path(cr);
        break;
    case CHART_MARK_CROSS:
        cairo_move_to(cr, x - r, y - r);
        cairo_line_to(cr, x + r, y + r);
        cairo_move_to(cr, x + r, y - r);
        cairo_line_to(cr, x - r, y + r);
        break;
    default:
        cairo_arc(cr, x, y, r, 0, 2 * M_PI);
    }
}

static void legend_entry(cairo_t *cr, const chart_series *s, double x, double y)
{
    set_rgb(cr, s->color, 1);
    if (s->kind == CHART_LINE) {
        cairo_set_line_width(cr, fmin(s->width, 3));
        set_dash(cr, s->dash, s->width);
        cairo_move_to(cr, x, y - 4);
        cairo_line_to(cr, x + 26, y - 4);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_line_width(cr, 1.5);
        marker_path(cr, s->marker, x + 13, y - 4, 3.5);
        cairo_stroke(cr);
    } else {
        cairo_rectangle(cr, x + 8, y - 9, 10, 10);
        cairo_fill(cr);
    }
    text(cr, x + 32, y, s->name, 0, C_TEXT);
}

/* Flows the legend's entries in rows of LEGEND_ROW px from x0 to x1, the
 * first baseline at y; draws them when draw. Returns the rows (0: none). */
static int legend_rows(cairo_t *cr, const chart *c, double x0, double x1, double y, bool draw)
{
    font(cr, 12, false);
    double x = x0;
    int rows = 0;
    for (size_t i = 0; i < c->nseries; i++) {
        const chart_series *s = &c->series[i];
        if (s->no_legend || !s->name[0])
            continue;
        double w = 32 + text_w(cr, s->name) + 18;
        if (!rows || x + w > x1) {
            if (rows)
                y += LEGEND_ROW;
            x = x0;
            rows++;
        }
        if (draw)
            legend_entry(cr, s, x, y);
        x += w;
    }
    return rows;
}

/* Text wrapped to width at spaces (a word wider than a line is broken
 * anywhere), lines line_h apart from baseline y, each line anchored at x
 * as text() does (0 left, 0.5 centred); drawn when draw. Returns the lines.
 * Names are never cut: a long title takes more lines. */
static int wrapped(cairo_t *cr, const char *s, double x, double y, double width, double line_h,
                   double anchor, uint32_t color, bool draw)
{
    char line[512];
    int lines = 0;
    size_t n = strlen(s);
    while (n) {
        size_t len = n < sizeof line - 1 ? n : sizeof line - 1, cut = len, space = 0;
        for (size_t k = 1; k <= len; k++) {
            memcpy(line, s, k);
            line[k] = '\0';
            if (k > 1 && text_w(cr, line) > width) {
                cut = space ? space : k - 1;
                break;
            }
            if (s[k - 1] == ' ' || s[k - 1] == '-' || s[k - 1] == '/')
                space = k; /* a break after a space, a dash or a slash */
        }
        memcpy(line, s, cut);
        line[cut] = '\0';
        if (draw)
            text(cr, x, y + line_h * lines, line, anchor, color);
        lines++;
        s += cut;
        n -= cut;
    }
    return lines;
}

/* The title and the note, wrapped; returns the last baseline. */
static double head(cairo_t *cr, const chart *c, double X, double Y, double W, bool draw)
{
    font(cr, 15, true);
    int t = wrapped(cr, c->title, X + 14, Y + 24, W - 28, 19, 0, C_TEXT, draw);
    double y = Y + 24 + 19 * (t ? t - 1 : 0);
    if (c->note[0]) {
        font(cr, 11, false);
        int k = wrapped(cr, c->note, X + 14, y + 17, W - 28, 15, 0, C_MUTED, draw);
        y += 17 + 15 * (k - 1);
    }
    return y;
}

/* Category names under a bar chart: each wrapped (at dashes, spaces,
 * slashes) to the width of its slot, centred, never cut. A name is written
 * under every category while the widest takes at most CAT_MAX_LINES lines;
 * past that (many categories of long names) under every second, third...
 * one, each then wrapped to that wider room. */
#define CAT_MAX_LINES 6
#define CAT_LINE_H 13

static void cat_layout(cairo_t *cr, const chart *c, plot *p)
{
    p->cat_every = 1;
    p->cat_lines = 1;
    if (!c->ncats)
        return;
    font(cr, 11, false);
    double slot = (p->r - p->l) / (double)c->ncats;
    for (size_t every = 1; every <= c->ncats; every++) {
        int lines = 1;
        for (size_t i = 0; i < c->ncats; i += every) {
            int k = wrapped(cr, c->cats[i], 0, 0, slot * (double)every - 6, CAT_LINE_H, 0.5,
                            C_TEXT, false);
            lines = k > lines ? k : lines;
        }
        p->cat_every = every;
        p->cat_lines = lines;
        if (lines <= CAT_MAX_LINES)
            break;
    }
}

/* The panel's plot rectangle and legend box (see chart_panel_layout). */
static bool layout(cairo_t *cr, const chart *c, double X, double Y, double W, double H,
                   plot *p, chart_rect *leg)
{
    int rows = legend_rows(cr, c, X + 14, X + W - 14, 0, false);
    double lh = rows * LEGEND_ROW;
    *leg = (chart_rect){.x = X + 14, .y = Y + H - 6 - lh, .w = W - 28, .h = lh};
    p->l = X + 72;
    p->r = X + W - 24;
    p->t = head(cr, c, X, Y, W, false) + 16;
    cat_layout(cr, c, p);
    /* tick labels (category names may take more lines) and the x title */
    p->b = (rows ? leg->y - 2 : Y + H) - 44 - CAT_LINE_H * (p->cat_lines - 1);
    return p->r - p->l >= 40 && p->b - p->t >= 30;
}

static void draw_grid(cairo_t *cr, const chart *c, const plot *p)
{
    font(cr, 11, false);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < p->yv.nticks; i++) {
        double y = p->b - (p->yv.ticks[i] - p->yv.lo) / (p->yv.hi - p->yv.lo) * (p->b - p->t);
        y = floor(y) + 0.5; /* crisp one-pixel lines */
        set_rgb(cr, C_GRID, 1);
        cairo_move_to(cr, p->l, y);
        cairo_line_to(cr, p->r, y);
        cairo_stroke(cr);
        text(cr, p->l - 6, y + 4, p->yv.labels[i], 1, C_MUTED);
    }
    if (p->cats) {
        double slot = (p->r - p->l) / (double)p->ncats;
        for (size_t i = 0; i < p->ncats; i += p->cat_every)
            wrapped(cr, c->cats[i], p->l + slot * ((double)i + 0.5), p->b + 16,
                    slot * (double)p->cat_every - 6, CAT_LINE_H, 0.5, C_TEXT, true);
    } else {
        for (int i = 0; i < p->xv.nticks; i++) {
            double x = p->l + (p->xv.ticks[i] - p->xv.lo) / (p->xv.hi - p->xv.lo) * (p->r - p->l);
            x = floor(x) + 0.5;
            set_rgb(cr, C_GRID, 1);
            cairo_move_to(cr, x, p->t);
            cairo_line_to(cr, x, p->b);
            cairo_stroke(cr);
            text(cr, x, p->b + 16, p->xv.labels[i], 0.5, C_MUTED);
        }
    }
    set_rgb(cr, C_AXIS, 1);
    cairo_move_to(cr, p->l + 0.5, p->t);
    cairo_line_to(cr, p->l + 0.5, p->b + 0.5);
    cairo_line_to(cr, p->r, p->b + 0.5);
    cairo_stroke(cr);
}

/* Markers on a line: on every point when there are few, else about 16
 * along it, shifted by the series' index so that identical series show
 * each their own markers beside each other's. */
static void draw_markers(cairo_t *cr, const chart *c, const plot *p, const chart_series *s,
                         size_t idx, size_t drawn)
{
    size_t stride = drawn <= 40 ? 1 : drawn / 16 + 1, k2 = 0;
    cairo_set_line_width(cr, 1.5);
    for (size_t k = 0; k < s->n; k++) {
        if (!valid(&c->x, s->x[k]) || !valid(&c->y, s->y[k]))
            continue;
        if ((k2++ + idx) % stride)
            continue;
        marker_path(cr, s->marker, px(p, c, s->x[k]), py(p, c, s->y[k]), s->width + 2);
    }
    cairo_stroke(cr);
}

static void draw_line(cairo_t *cr, const chart *c, const plot *p, const chart_series *s,
                      size_t idx)
{
    set_rgb(cr, s->color, 1);
    cairo_set_line_width(cr, s->width);
    set_dash(cr, s->dash, s->width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    bool pen = false;
    size_t drawn = 0;
    for (size_t k = 0; k < s->n; k++) {
        if (!valid(&c->x, s->x[k]) || !valid(&c->y, s->y[k])) {
            pen = false;
            continue;
        }
        double x = px(p, c, s->x[k]), y = py(p, c, s->y[k]);
        if (pen)
            cairo_line_to(cr, x, y);
        else
            cairo_move_to(cr, x, y);
        pen = true;
        drawn++;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    /* A line of one point is invisible without its marker. */
    draw_markers(cr, c, p, s, idx, drawn);
}

static void draw_points(cairo_t *cr, const chart *c, const plot *p, const chart_series *s,
                        bool vector)
{
    size_t stride = vector && s->n > MAX_VECTOR_POINTS ? s->n / MAX_VECTOR_POINTS + 1 : 1;
    double w = fmax(s->width, 4); /* smaller points vanish on a 1200 px chart */
    /* One path per series: one fill, a small SVG. */
    for (size_t k = 0; k < s->n; k += stride) {
        if (!valid(&c->x, s->x[k]) || !valid(&c->y, s->y[k]))
            continue;
        cairo_rectangle(cr, px(p, c, s->x[k]) - w / 2, py(p, c, s->y[k]) - w / 2, w, w);
    }
    set_rgb(cr, s->color, 0.8);
    cairo_fill(cr);
}

/* The value above a bar, when it fits the bar's width (side by side, the
 * values of narrow bars would run into each other). */
static void bar_label(cairo_t *cr, double x, double y, double w, double v)
{
    char t[32];
    if (v >= 100 || v == floor(v))
        snprintf(t, sizeof t, "%.0f", v);
    else if (v >= 10)
        snprintf(t, sizeof t, "%.1f", v);
    else
        snprintf(t, sizeof t, "%.2f", v);
    font(cr, 10, false);
    if (text_w(cr, t) <= w)
        text(cr, x, y - 4, t, 0.5, C_TEXT);
}

static void draw_bars(cairo_t *cr, const chart *c, const plot *p, const chart_series *s,
                      size_t bi, size_t nb)
{
    double slot = (p->r - p->l) / (double)(p->ncats ? p->ncats : 1);
    double group = slot * 0.8, bw = group / (double)nb;
    double base = c->y.scale == CHART_LINEAR ? py(p, c, 0) : p->b;
    for (size_t k = 0; k < s->n; k++) {
        if (!valid(&c->y, s->y[k]) || s->y[k] == 0 || s->x[k] < 0 ||
            s->x[k] >= (double)p->ncats)
            continue;
        double x = p->l + slot * (s->x[k] + 0.5) - group / 2 + bw * (double)bi;
        double y = fmax(py(p, c, s->y[k]), p->t);
        set_rgb(cr, s->colors ? s->colors[k] : s->color, 1);
        cairo_rectangle(cr, x + 1, y, fmax(bw - 2, 1), fmax(base - y, 0.5));
        cairo_fill(cr);
        if (s->labels && s->y[k] != 0)
            bar_label(cr, x + bw / 2, y, bw, s->y[k]);
    }
}

static void draw_no_data(cairo_t *cr, const plot *p)
{
    set_rgb(cr, C_AXIS, 1);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, p->l + 0.5, p->t + 0.5, p->r - p->l, p->b - p->t);
    cairo_stroke(cr);
    font(cr, 16, false);
    text(cr, (p->l + p->r) / 2, (p->t + p->b) / 2 + 6, "no data", 0.5, C_MUTED);
}

static void draw_panel(cairo_t *cr, const chart *c, double X, double Y, double W, double H,
                       bool vector)
{
    head(cr, c, X, Y, W, true);
    plot p = {0};
    chart_rect leg;
    if (!layout(cr, c, X, Y, W, H, &p, &leg))
        return; /* too small to draw anything useful */
    legend_rows(cr, c, leg.x, leg.x + leg.w, leg.y + 13, true);
    double xlo = 0, xhi = 0, ylo, yhi;
    bool any = data_range(c, true, &ylo, &yhi);
    p.cats = c->ncats > 0;
    p.ncats = c->ncats;
    if (!any || (!p.cats && !data_range(c, false, &xlo, &xhi))) {
        draw_no_data(cr, &p);
        return;
    }
    bool labelled = false;
    for (size_t i = 0; i < c->nseries; i++)
        labelled |= c->series[i].kind == CHART_BARS && c->series[i].labels;
    if (labelled && c->y.scale == CHART_LINEAR && !c->y.has_max)
        yhi += (yhi - ylo) * 0.08; /* room for the value above the tallest bar */
    int ytarget = (int)fmax(3, fmin(8, (p.b - p.t) / 50));
    int xtarget = (int)fmax(3, fmin(12, (p.r - p.l) / 90));
    axis_layout(&c->y, ylo, yhi, true, ytarget, &p.yv);
    if (p.cats) {
        p.xv.lo = -0.5;
        p.xv.hi = (double)c->ncats - 0.5;
    } else {
        axis_layout(&c->x, xlo, xhi, false, xtarget, &p.xv);
    }
    draw_grid(cr, c, &p);
    /* Axis titles. */
    font(cr, 12, false);
    if (c->x.label[0])
        text(cr, (p.l + p.r) / 2, p.b + 36 + CAT_LINE_H * (p.cat_lines - 1), c->x.label, 0.5,
             C_MUTED);
    if (c->y.label[0]) {
        cairo_save(cr);
        cairo_translate(cr, X + 18, (p.t + p.b) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text(cr, 0, 0, c->y.label, 0.5, C_MUTED);
        cairo_restore(cr);
    }
    cairo_save(cr);
    cairo_rectangle(cr, p.l - 4, p.t - 4, p.r - p.l + 8, p.b - p.t + 8);
    cairo_clip(cr);
    size_t nb = 0, bi = 0;
    for (size_t i = 0; i < c->nseries; i++)
        nb += c->series[i].kind == CHART_BARS;
    for (size_t i = 0; i < c->nseries; i++) {
        const chart_series *s = &c->series[i];
        if (s->kind == CHART_BARS)
            draw_bars(cr, c, &p, s, bi++, nb);
        else if (s->kind == CHART_POINTS)
            draw_points(cr, c, &p, s, vector);
    }
    /* Lines over bars and points, so a summary line is never hidden. */
    for (size_t i = 0; i < c->nseries; i++)
        if (c->series[i].kind == CHART_LINE)
            draw_line(cr, c, &p, &c->series[i], i);
    cairo_restore(cr);
}

bool chart_panel_layout(const chart *c, double X, double Y, double W, double H, chart_rect *plot_r,
                        chart_rect *legend)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    plot p;
    bool ok = layout(cr, c, X, Y, W, H, &p, legend);
    *plot_r = (chart_rect){.x = p.l, .y = p.t, .w = p.r - p.l, .h = p.b - p.t};
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return ok;
}

int chart_fig_height(const chart_fig *f, int h)
{
    double v = h * (f->h_scale > 0 ? f->h_scale : 1);
    return v > 10000 ? 10000 : (int)lround(v);
}

static void draw_fig(cairo_t *cr, const chart_fig *f, int w, int h, bool vector)
{
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_BEST);
    set_rgb(cr, 0xFFFFFF, 1);
    cairo_paint(cr);
    double top = 0;
    if (f->npanels > 1 && f->title[0]) {
        font(cr, 18, true);
        text(cr, 14, 30, f->title, 0, C_TEXT);
        top = 40;
    }
    /* Rows: a wide panel alone, the others f->cols at a time. */
    size_t nrows = 0, inrow = 0;
    for (size_t i = 0; i < f->npanels; i++) {
        if (f->panels[i].wide || inrow == 0 || inrow == (size_t)f->cols) {
            nrows++;
            inrow = 0;
        }
        inrow = f->panels[i].wide ? (size_t)f->cols : inrow + 1;
    }
    if (!nrows)
        return;
    double rh = (h - top) / (double)nrows;
    size_t row = 0, i = 0;
    while (i < f->npanels) {
        size_t n = 1;
        if (!f->panels[i].wide)
            while (n < (size_t)f->cols && i + n < f->npanels && !f->panels[i + n].wide)
                n++;
        double cw = (double)w / (double)n;
        for (size_t k = 0; k < n; k++)
            draw_panel(cr, &f->panels[i + k], cw * (double)k, top + rh * (double)row, cw, rh,
                       vector);
        i += n;
        row++;
    }
}

/* ---- output --------------------------------------------------------------------- */

static int size_ok(int w, int h, err *e)
{
    if (w < 200 || h < 150 || w > 10000 || h > 10000)
        return err_set(e, VOLLEY_EINVAL, "chart size %dx%d out of range (200x150..10000x10000)",
                       w, h);
    return 0;
}

static int finish(cairo_surface_t *s, cairo_t *cr, const char *what, err *e)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return err_set(e, VOLLEY_EIO, "%s: cairo: %s", what, cairo_status_to_string(st));
    return 0;
}

int chart_write_png(const chart_fig *f, const char *path, int w, int h, err *e)
{
    h = chart_fig_height(f, h);
    int rc = size_ok(w, h, e);
    if (rc)
        return rc;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(s);
    draw_fig(cr, f, w, h, false);
    cairo_status_t st = cairo_status(cr);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png(s, path);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return err_set(e, VOLLEY_EIO, "cannot write '%s': %s", path, cairo_status_to_string(st));
    return 0;
}

int chart_write_svg(const chart_fig *f, const char *path, int w, int h, err *e)
{
    h = chart_fig_height(f, h);
    int rc = size_ok(w, h, e);
    if (rc)
        return rc;
    cairo_surface_t *s = cairo_svg_surface_create(path, w, h);
    cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
    cairo_t *cr = cairo_create(s);
    draw_fig(cr, f, w, h, true);
    char what[4300];
    snprintf(what, sizeof what, "cannot write '%s'", path);
    return finish(s, cr, what, e);
}

void chart_shutdown(void)
{
    cairo_debug_reset_static_data();
    /* fontconfig (loaded by cairo for text) keeps its configuration until
     * FcFini; we do not link it directly, so look it up where cairo put it.
     * Cairo's own test suite ends the same way. */
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini)
        fc_fini();
}

static cairo_status_t to_buf(void *closure, const unsigned char *data, unsigned int len)
{
    return buf_append(closure, data, len) ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

int chart_svg_buf(const chart_fig *f, int w, int h, buf *out, err *e)
{
    h = chart_fig_height(f, h);
    int rc = size_ok(w, h, e);
    if (rc)
        return rc;
    cairo_surface_t *s = cairo_svg_surface_create_for_stream(to_buf, out, w, h);
    cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
    cairo_t *cr = cairo_create(s);
    draw_fig(cr, f, w, h, true);
    if ((rc = finish(s, cr, "SVG chart", e)))
        return rc;
    if (buf_reserve(out, 1))
        return err_set(e, VOLLEY_ENOMEM, "SVG chart: out of memory");
    out->data[out->len] = '\0';
    return 0;
}
