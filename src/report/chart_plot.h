/* chart_plot: the plotting layer of the chart module: a small chart model
 * (figures of one or more panels; each panel has a title, x/y axes with
 * nice ticks, linear / log / "nines" scales, line, bar and scatter series,
 * a legend) drawn by cairo to PNG or SVG (a file or a memory buffer for
 * inlining into HTML). Drawing never fails on empty data: a panel with
 * nothing to show says "no data". The figures are in chart.h. */
#ifndef VOLLEY_CHART_PLOT_H
#define VOLLEY_CHART_PLOT_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHART_DEFAULT_W 1200
#define CHART_DEFAULT_H 600

typedef enum { CHART_LINE, CHART_POINTS, CHART_BARS } chart_kind;
typedef enum { CHART_LINEAR, CHART_LOG10, CHART_NINES } chart_scale;
/* Percentiles on the "nines" axis: 90% -> 1, 99% -> 2, 99.9% -> 3, up to
 * 99.999% at most. */
#define CHART_NINES_MAX 5.0
typedef enum { CHART_SOLID, CHART_DASHED, CHART_DOTTED } chart_dash;
/* The shape of a line's markers (hollow, so shapes on the same point all
 * stay visible). */
typedef enum {
    CHART_MARK_CIRCLE,
    CHART_MARK_SQUARE,
    CHART_MARK_TRIANGLE,
    CHART_MARK_DIAMOND,
    CHART_MARK_CROSS,
    CHART_NMARKS
} chart_marker;

typedef struct chart_series {
    char name[96];
    chart_kind kind;
    uint32_t color;    /* 0xRRGGBB */
    uint32_t *colors;  /* optional per-point colors (bars) */
    chart_dash dash;
    chart_marker marker;
    double width;      /* line width, or the side of a point, in px */
    bool labels;       /* bars: print each value above its bar */
    bool no_legend;
    double *x, *y;     /* bars: x is the category index */
    size_t n, cap;
} chart_series;

typedef struct chart_axis {
    char label[64];    /* with the unit: "latency (ms)" */
    chart_scale scale;
    bool has_min, has_max;
    double min, max;   /* forced ends when has_min / has_max */
    double least_max;  /* the axis reaches at least this (0: no minimum) */
} chart_axis;

typedef struct chart {
    char title[160];
    char note[160];    /* small text under the title (what the data is) */
    chart_axis x, y;
    chart_series *series;
    size_t nseries;
    char (*cats)[96];  /* categorical x axis (bar charts), ncats names */
    size_t ncats;
    bool wide;         /* takes a whole row of a multi-panel figure */
} chart;

typedef struct chart_fig {
    char title[160];
    chart *panels;
    size_t npanels;
    int cols;          /* panels per row (a wide panel takes a row) */
    double h_scale;    /* the figure is this many times the asked height (0: 1);
                          small multiples grow instead of shrinking */
} chart_fig;

/* Where a panel's parts go inside its box: the plot rectangle and the
 * legend, which sits below the plot (under the x axis title) and never
 * overlaps it. */
typedef struct chart_rect {
    double x, y, w, h;
} chart_rect;

/* Fixed palette of CHART_NCOLORS colours: series i takes chart_color(i). */
#define CHART_NCOLORS 10
uint32_t chart_color(size_t i);
/* Styles for many series: the first CHART_NSTYLES get distinct colours (the
 * palette, then darker, then lighter) and distinct (colour, dash) pairs
 * (solid, then dashed, then dotted), and markers that cycle through the
 * shapes; past CHART_NSTYLES they repeat. */
#define CHART_NSTYLES (3 * CHART_NCOLORS)
void chart_style(size_t i, uint32_t *color, chart_dash *dash, chart_marker *marker);
/* Sets series s to style i (chart_style). */
void chart_series_style(chart_series *s, size_t i);
/* Lays out panel c in the box (X, Y, W, H): its plot rectangle and its
 * legend (h 0 without one). False when the box is too small to plot. */
bool chart_panel_layout(const chart *c, double X, double Y, double W, double H, chart_rect *plot,
                        chart_rect *legend);
/* The figure's height in pixels when asked for h (h_scale, within the
 * 10000 px limit). */
int chart_fig_height(const chart_fig *f, int h);
/* Green 2xx, blue 3xx, orange 4xx, red 5xx, purple errors (status 0). */
uint32_t chart_status_color(int status);

chart_fig *chart_fig_new(const char *title, size_t npanels, int cols);
void chart_fig_free(chart_fig *f);
/* Gives f n new empty panels in place of its panels (which must still be
 * empty: nothing drawn on them yet). 0 or VOLLEY_ENOMEM (f unchanged). */
int chart_fig_set_panels(chart_fig *f, size_t n);
chart_series *chart_add_series(chart *c, const char *name, chart_kind kind, uint32_t color);
/* Appends a point; NaN y leaves a gap in a line. 0 or VOLLEY_ENOMEM. */
int chart_series_add(chart_series *s, double x, double y);
int chart_series_add_colored(chart_series *s, double x, double y, uint32_t color);
/* Adds a category (or finds it) and returns its index, or -1 (ENOMEM). */
int chart_category(chart *c, const char *name);

/* Draws f at w x h pixels. */
int chart_write_png(const chart_fig *f, const char *path, int w, int h, err *e);
int chart_write_svg(const chart_fig *f, const char *path, int w, int h, err *e);
/* Appends the SVG document to out (NUL-terminated). */
int chart_svg_buf(const chart_fig *f, int w, int h, buf *out, err *e);

/* Frees cairo's (and fontconfig's) process-wide caches; call once at exit
 * so leak checkers see only real leaks. */
void chart_shutdown(void);

#endif
