/* chart: the chart model of chart.h, its drawing with cairo (PNG, SVG file,
 * SVG in memory for report/html), and the standard charts made from a
 * results struct (and requests.csv rows from results/csv) for cmd/report.
 * One drawing code for every output, so a PNG and the HTML report's SVG
 * always show the same thing. */
#include "report/chart.h"

#include "core/clock.h"

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

#define C_TEXT 0x222222
#define C_MUTED 0x6B6B6B
#define C_GRID 0xE6E6E6
#define C_AXIS 0x999999
#define C_TOTAL 0x555555
#define FONT "DejaVu Sans" /* fontconfig falls back to any sans when missing */

/* More endpoints than colours would make lines indistinguishable. */
#define MAX_CHART_EPS NPALETTE
#define MAX_ROUTE_VIEWS 20
/* A vector scatter with more points is huge and slow in a browser. */
#define MAX_VECTOR_POINTS 20000

uint32_t chart_color(size_t i)
{
    return palette[i % NPALETTE];
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
    char(*cats)[48] = realloc(c->cats, (c->ncats + 1) * sizeof *cats);
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

/* Percentiles on the "nines" axis: 90% -> 1, 99% -> 2, 99.9% -> 3. */
#define NINES_MAX 5.0

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
        return -log10(fmax(1 - v / 100, pow(10, -NINES_MAX)));
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
        v->hi = a->has_max ? hi : fmax(2, fmin(NINES_MAX, ceil(hi - 1e-9)));
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

/* The legend flows in lines under the title; returns its bottom. */
static double draw_legend(cairo_t *cr, const chart *c, double x0, double x1, double y)
{
    font(cr, 12, false);
    double x = x0;
    bool any = false;
    for (size_t i = 0; i < c->nseries; i++) {
        const chart_series *s = &c->series[i];
        if (s->no_legend || !s->name[0])
            continue;
        double w = 26 + text_w(cr, s->name) + 18;
        if (any && x + w > x1) {
            x = x0;
            y += 18;
        }
        any = true;
        if (s->kind == CHART_LINE) {
            set_rgb(cr, s->color, 1);
            cairo_set_line_width(cr, fmin(s->width, 3));
            set_dash(cr, s->dash, s->width);
            cairo_move_to(cr, x, y - 4);
            cairo_line_to(cr, x + 20, y - 4);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        } else {
            set_rgb(cr, s->color, 1);
            cairo_rectangle(cr, x + 5, y - 9, 10, 10);
            cairo_fill(cr);
        }
        text(cr, x + 26, y, s->name, 0, C_TEXT);
        x += w;
    }
    return any ? y + 10 : y - 8;
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
        size_t every = 1;
        double widest = 0;
        for (size_t i = 0; i < p->ncats; i++)
            widest = fmax(widest, text_w(cr, c->cats[i]));
        while (every < p->ncats && widest + 6 > slot * (double)every)
            every++;
        for (size_t i = 0; i < p->ncats; i += every)
            text(cr, p->l + slot * ((double)i + 0.5), p->b + 16, c->cats[i], 0.5, C_TEXT);
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

static void draw_line(cairo_t *cr, const chart *c, const plot *p, const chart_series *s)
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
    /* A line of one point is invisible; few points get markers. */
    if (drawn <= 40) {
        for (size_t k = 0; k < s->n; k++) {
            if (!valid(&c->x, s->x[k]) || !valid(&c->y, s->y[k]))
                continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, px(p, c, s->x[k]), py(p, c, s->y[k]), s->width + 1.5, 0, 2 * M_PI);
        }
        cairo_fill(cr);
    }
}

static void draw_points(cairo_t *cr, const chart *c, const plot *p, const chart_series *s,
                        bool vector)
{
    size_t stride = vector && s->n > MAX_VECTOR_POINTS ? s->n / MAX_VECTOR_POINTS + 1 : 1;
    double w = s->width;
    /* One path per series: one fill, a small SVG. */
    for (size_t k = 0; k < s->n; k += stride) {
        if (!valid(&c->x, s->x[k]) || !valid(&c->y, s->y[k]))
            continue;
        cairo_rectangle(cr, px(p, c, s->x[k]) - w / 2, py(p, c, s->y[k]) - w / 2, w, w);
    }
    set_rgb(cr, s->color, 0.55);
    cairo_fill(cr);
}

static void bar_label(cairo_t *cr, double x, double y, double v)
{
    char t[32];
    if (v >= 100 || v == floor(v))
        snprintf(t, sizeof t, "%.0f", v);
    else if (v >= 10)
        snprintf(t, sizeof t, "%.1f", v);
    else
        snprintf(t, sizeof t, "%.2f", v);
    font(cr, 10, false);
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
            bar_label(cr, x + bw / 2, y, s->y[k]);
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
    font(cr, 15, true);
    double y = Y + 24;
    text(cr, X + 14, y, c->title, 0, C_TEXT);
    if (c->note[0]) {
        font(cr, 11, false);
        y += 17;
        text(cr, X + 14, y, c->note, 0, C_MUTED);
    }
    double legend_end = draw_legend(cr, c, X + 14, X + W - 14, y + 22);
    plot p = {.l = X + 72, .r = X + W - 24, .t = legend_end + 14, .b = Y + H - 44};
    if (p.r - p.l < 40 || p.b - p.t < 30)
        return; /* too small to draw anything useful */
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
        text(cr, (p.l + p.r) / 2, p.b + 36, c->x.label, 0.5, C_MUTED);
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
            draw_line(cr, c, &p, &c->series[i]);
    cairo_restore(cr);
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

/* The share of second w that the run covered: the last row of a series is
 * usually a fraction (the wait for in-flight requests), and counting it as
 * a whole second would draw a false drop at the end. */
static double covered(const results_stats *st, const series_row *w)
{
    double el = (double)st->elapsed_ns / NS_PER_S;
    if (el <= 0)
        return 1;
    return fmin(1, el - w->second);
}

/* Requests per second in row w, or NaN when it covers too little time to
 * be a rate. */
static double row_rate(const results_stats *st, const series_row *w, uint64_t count)
{
    double f = covered(st, w);
    return f < 0.2 ? NAN : (double)count / f;
}

static int percentile_lines(chart *c, const ep_view *v, size_t n)
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
            chart_series *s = chart_add_series(c, name, CHART_LINE,
                                               n == 1 ? chart_color(pc[k].color) : chart_color(i));
            if (!s)
                return VOLLEY_ENOMEM;
            s->dash = n == 1 ? CHART_SOLID : pc[k].dash;
            s->width = k == 2 ? 2.5 : 2;
            for (size_t j = 0; j < sec->len; j++) {
                const series_row *w = &sec->rows[j];
                uint64_t ns = *(const uint64_t *)((const char *)w + pc[k].off);
                bool none = (w->responses == 0 && ns == 0) || covered(v[i].st, w) < 0.2;
                ADD(s, w->second, none ? NAN : ms(ns));
                if (!none && k == 0 && ns)
                    lo = fmin(lo, ms(ns));
                if (!none)
                    hi = fmax(hi, ms(ns));
            }
        }
    }
    auto_log(c, lo, hi);
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

static int fig_latency(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = time_views(r, v);
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Latency percentiles over time");
    snprintf(c->note, sizeof c->note, "per second, from the intended start of each request");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    return percentile_lines(c, v, n);
}

static int error_pct_lines(chart *c, const ep_view *v, size_t n)
{
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "errors (%% of requests)");
    c->y.has_min = true;
    c->y.least_max = 1; /* 0% errors is a flat line at the bottom, not mid-chart */
    for (size_t i = 0; i < n; i++) {
        chart_series *s = chart_add_series(c, v[i].name, CHART_LINE, chart_color(i));
        for (size_t j = 0; s && j < v[i].st->sec.len; j++) {
            const series_row *w = &v[i].st->sec.rows[j];
            bool part = covered(v[i].st, w) < 0.2; /* a few stragglers are no rate */
            ADD(s, w->second,
                w->requests && !part ? 100.0 * (double)w->errors / (double)w->requests : NAN);
        }
        if (!s)
            return VOLLEY_ENOMEM;
    }
    return 0;
}

static int fig_throughput(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = time_views(r, v);
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Requests per second");
    snprintf(c->note, sizeof c->note, "completed requests (responses and errors) per second");
    snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
    snprintf(c->y.label, sizeof c->y.label, "requests/s");
    for (size_t i = 0; i < n; i++) {
        chart_series *s = chart_add_series(c, v[i].name, CHART_LINE, chart_color(i));
        for (size_t j = 0; s && j < v[i].st->sec.len; j++)
            ADD(s, v[i].st->sec.rows[j].second,
                row_rate(&r->st, &v[i].st->sec.rows[j], v[i].st->sec.rows[j].requests));
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
        chart_series *s = chart_add_series(c, "total", CHART_LINE, C_TOTAL);
        for (size_t j = 0; s && j < all->len; j++)
            ADD(s, all->rows[j].second, row_rate(&r->st, &all->rows[j], all->rows[j].requests));
        if (!s)
            return VOLLEY_ENOMEM;
    }
    if (target) {
        chart_series *s = chart_add_series(c, "target", CHART_LINE, 0x999999);
        if (s)
            s->dash = CHART_DASHED;
        for (size_t j = 0; s && j < all->len; j++)
            ADD(s, all->rows[j].second,
                covered(&r->st, &all->rows[j]) < 0.2 ? NAN : all->rows[j].target_rps);
        if (!s)
            return VOLLEY_ENOMEM;
    }
    if (dropped) {
        chart_series *s = chart_add_series(c, "dropped/s", CHART_LINE, 0xE15759);
        if (s)
            s->dash = CHART_DOTTED;
        for (size_t j = 0; s && j < all->len; j++)
            ADD(s, all->rows[j].second, row_rate(&r->st, &all->rows[j], all->rows[j].dropped));
        if (!s)
            return VOLLEY_ENOMEM;
    }
    c->y.has_min = true;
    chart *e2 = &f->panels[1];
    snprintf(e2->title, sizeof e2->title, "Error rate");
    snprintf(e2->note, sizeof e2->note, "requests without a complete response, per second");
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
    return status_bars(c, v, n);
}

static int spectrum_line(chart *c, const char *name, const hist *h, uint32_t color,
                         chart_dash dash, double *lo, double *hi)
{
    chart_series *s = chart_add_series(c, name, CHART_LINE, color);
    if (!s)
        return VOLLEY_ENOMEM;
    s->dash = dash;
    if (!hist_count(h))
        return 0;
    /* Even steps in nines: as much detail at 99.9..99.99% as at 0..90%. */
    for (int i = 0; i <= 250; i++) {
        double p = 100 * (1 - pow(10, -NINES_MAX * i / 250.0));
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
    snprintf(c->x.label, sizeof c->x.label, "percentile");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    c->x.scale = CHART_NINES;
    c->x.has_min = c->x.has_max = true;
    c->x.min = 0;
    c->x.max = 100 * (1 - pow(10, -NINES_MAX));
    double lo = INFINITY, hi = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = spectrum_line(c, v[i].name, v[i].st->latency, chart_color(i), CHART_SOLID, &lo, &hi);
    if (!rc && n > 1)
        rc = spectrum_line(c, "all", r->st.latency, C_TOTAL, CHART_DASHED, &lo, &hi);
    auto_log(c, lo, hi);
    return rc;
}

static int fig_ttfb(const results *r, chart_fig *f)
{
    ep_view v[MAX_CHART_EPS];
    size_t n = ep_views(r, v);
    chart *c = &f->panels[0];
    snprintf(c->title, sizeof c->title, "Time to first byte beside total latency");
    snprintf(c->note, sizeof c->note,
             "TTFB near latency: sent in one piece (buffered); TTFB far below: streamed");
    snprintf(c->y.label, sizeof c->y.label, "ms");
    static const struct {
        const char *name;
        uint32_t color;
        bool ttfb;
        double p;
    } b[] = {
        {"TTFB p50", 0xA0CBE8, true, 50},
        {"TTFB p99", 0x4E79A7, true, 99},
        {"latency p50", 0xFFBE7D, false, 50},
        {"latency p99", 0xF28E2B, false, 99},
    };
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= hist_count(v[i].st->latency) > 0;
    if (!any)
        return 0; /* "no data" */
    for (size_t i = 0; i < n; i++)
        if (chart_category(c, v[i].name) < 0)
            return VOLLEY_ENOMEM;
    for (size_t k = 0; k < 4; k++) {
        chart_series *s = chart_add_series(c, b[k].name, CHART_BARS, b[k].color);
        if (!s)
            return VOLLEY_ENOMEM;
        s->labels = true;
        for (size_t i = 0; i < n; i++) {
            const hist *h = b[k].ttfb ? v[i].st->ttfb : v[i].st->latency;
            ADD(s, (double)i, hist_count(h) ? ms(hist_percentile(h, b[k].p)) : NAN);
        }
    }
    return 0;
}

static double success_pct(const metrics_totals *t)
{
    if (!t->requests)
        return NAN;
    uint64_t ok = 0;
    for (int i = 100; i < 400; i++)
        ok += t->status[i];
    return 100.0 * (double)ok / (double)t->requests;
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
    static const char *ylabels[] = {"requests/s", "latency (ms)", "1xx-3xx responses (%)"};
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

static bool row_matches(const csv_request_row *q, const results *r, size_t ep)
{
    if (!strcmp(q->endpoint, r->eps[ep].name))
        return true;
    return r->neps == 1 && !q->endpoint[0]; /* a one-endpoint run may leave it empty */
}

static int route_scatter(chart *c, const results *r, size_t ep, const csv_request_row *reqs,
                         size_t nreqs)
{
    static const char *classes[] = {"errors", "1xx/2xx", "3xx", "4xx", "5xx"};
    static const int sample[] = {0, 200, 300, 400, 500};
    /* Pointers only after every add: chart_add_series may move them. */
    size_t base = c->nseries;
    for (int k = 0; k < 5; k++)
        if (!chart_add_series(c, classes[k], CHART_POINTS, chart_status_color(sample[k])))
            return VOLLEY_ENOMEM;
    chart_series *s[5];
    for (int k = 0; k < 5; k++)
        s[k] = &c->series[base + (size_t)k];
    double lo = INFINITY, hi = 0;
    size_t shown = 0;
    for (size_t i = 0; i < nreqs; i++) {
        const csv_request_row *q = &reqs[i];
        if (!row_matches(q, r, ep))
            continue;
        int k = q->status == 0 ? 0 : q->status < 300 ? 1 : q->status < 400 ? 2
                                   : q->status < 500 ? 3 : 4;
        ADD(s[k], q->offset_ms / 1000.0, q->latency_ms);
        shown++;
        if (q->latency_ms > 0)
            lo = fmin(lo, q->latency_ms);
        hi = fmax(hi, q->latency_ms);
    }
    /* Only the classes that occur go into the legend. */
    for (int k = 0; k < 5; k++)
        s[k]->no_legend = s[k]->n == 0;
    snprintf(c->title, sizeof c->title, "%s: latency of each request", r->eps[ep].name);
    snprintf(c->note, sizeof c->note, "%zu requests from requests.csv%s, by intended start",
             shown, nreqs >= CSV_REQUESTS_MAX_ROWS ? " (evenly sampled)" : "");
    snprintf(c->x.label, sizeof c->x.label, "intended start (s since start)");
    snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
    if (lo > 0 && hi / lo > 50)
        c->y.scale = CHART_LOG10;
    return 0;
}

static int fig_route(const results *r, size_t ep, const csv_request_row *reqs, size_t nreqs,
                     chart_fig *f)
{
    ep_view v = {r->eps[ep].name, &r->eps[ep].st};
    chart *c = &f->panels[0];
    c->wide = true;
    size_t match = 0;
    for (size_t i = 0; i < nreqs && !match; i++)
        match += row_matches(&reqs[i], r, ep);
    int rc;
    if (match) {
        rc = route_scatter(c, r, ep, reqs, nreqs);
    } else {
        snprintf(c->title, sizeof c->title, "%s: latency percentiles over time", v.name);
        snprintf(c->note, sizeof c->note, "per second (no requests.csv beside results.json)");
        snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
        snprintf(c->y.label, sizeof c->y.label, "latency (ms)");
        rc = percentile_lines(c, &v, 1);
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

/* The server under test (--monitor-pid / --exec): its CPU and memory
 * beside the load that caused them, on one time axis. */
static int fig_server(const results *r, chart_fig *f)
{
    const results_monitor *m = &r->monitor;
    static const char *titles[] = {"Load: requests per second", "Server CPU",
                                   "Server memory (RSS)"};
    static const char *ylabels[] = {"requests/s", "cpu (% of one core)", "rss (MB)"};
    for (int p = 0; p < 3; p++) {
        chart *c = &f->panels[p];
        snprintf(c->title, sizeof c->title, "%s", titles[p]);
        snprintf(c->x.label, sizeof c->x.label, "time since start (s)");
        snprintf(c->y.label, sizeof c->y.label, "%s", ylabels[p]);
        c->y.has_min = true;
        c->x.has_min = true; /* one time axis from 0 for all three */
        c->wide = true;
    }
    snprintf(f->panels[1].note, sizeof f->panels[1].note, "pid %d, %.100s, sampled every %.1f s",
             m->pid, m->command, m->interval_s);
    chart_series *s = chart_add_series(&f->panels[0], "requests/s", CHART_LINE, chart_color(0));
    for (size_t j = 0; s && j < r->st.sec.len; j++)
        ADD(s, r->st.sec.rows[j].second + 0.5,
            row_rate(&r->st, &r->st.sec.rows[j], r->st.sec.rows[j].requests));
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

int chart_build_all(const results *r, const csv_request_row *reqs, size_t nreqs,
                    chart_set *out, err *e)
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
        {"ttfb", "Time to first byte beside total latency (p50, p99) per endpoint.", 1,
         fig_ttfb},
    };
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (size_t i = 0; i < sizeof std / sizeof std[0] && !rc; i++) {
        chart_item *it = set_add(out, std[i].stem, std[i].caption, "", std[i].panels, 1);
        rc = it ? std[i].fn(r, it->fig) : VOLLEY_ENOMEM;
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
        rc = it ? fig_route(r, i, reqs, nreqs, it->fig) : VOLLEY_ENOMEM;
    }
    if (rc) {
        chart_set_free(out);
        return err_set(e, rc, "charts: out of memory");
    }
    return 0;
}
