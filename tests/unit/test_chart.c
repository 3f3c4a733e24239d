/* Tests for report/chart's model of a sweep (no drawing): every step's rows
 * are in the latency and throughput series with their values, and a
 * cool-down between steps is a gap (a NaN point), not a ramp. */
#include "report/chart.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NS 1000000000ull

/* A sweep of 20, 40, 60 req/s, 2 s each with a 0.1 s drain, 2 s cool-downs:
 * step k has rows at seconds 5k, 5k+1 (full) and 5k+2 (the drain). */
static void sweep(results *r)
{
    cr_assert_eq(results_init(r), 0);
    static const double rates[] = {20, 40, 60};
    for (size_t k = 0; k < 3; k++) {
        results_step *st = results_add_step(r, rates[k], 0);
        cr_assert_not_null(st);
        st->st.elapsed_ns = 2 * NS;
        st->st.drain_ns = NS / 10;
        for (uint32_t i = 0; i < 3; i++) {
            uint64_t n = i < 2 ? (uint64_t)rates[k] : 1;
            series_row row = {.second = (uint32_t)(5 * k + i), .requests = n, .responses = n,
                              .p50_ns = (k + 1) * 1000000, .p90_ns = (k + 1) * 1000000,
                              .p99_ns = (k + 1) * 2000000, .max_ns = (k + 1) * 3000000};
            cr_assert_eq(series_append(&st->st.sec, &row), 0);
            cr_assert_eq(series_append(&r->st.sec, &row), 0);
            r->st.tot.requests += n;
            r->st.tot.responses += n;
        }
        r->st.elapsed_ns += st->st.elapsed_ns;
        r->st.drain_ns += st->st.drain_ns;
    }
    snprintf(r->plan.executor, sizeof r->plan.executor, "constant-arrival-rate");
}

static const chart_series *find_panel(const chart_set *set, const char *stem, size_t panel,
                                      const char *name)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->items[i].stem, stem) || panel >= set->items[i].fig->npanels)
            continue;
        const chart *c = &set->items[i].fig->panels[panel];
        for (size_t k = 0; k < c->nseries; k++)
            if (!strcmp(c->series[k].name, name))
                return &c->series[k];
    }
    return NULL;
}

static const chart_series *find(const chart_set *set, const char *stem, const char *name)
{
    return find_panel(set, stem, 0, name);
}

/* The y of the point at x (NaN if none). */
static double at(const chart_series *s, double x)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i] == x)
            return s->y[i];
    return NAN;
}

static bool gap_between(const chart_series *s, double a, double b)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i] > a && s->x[i] < b && isnan(s->y[i]))
            return true;
    return false;
}

Test(chart, sweep_draws_every_step_and_breaks_at_cooldowns)
{
    results r;
    sweep(&r);
    chart_set set = {0};
    err e = {0};
    cr_assert_eq(chart_build_all(&r, NULL, &set, &e), 0, "%s", e.msg);
    const chart_series *rps = find(&set, "throughput", "all");
    const chart_series *p50 = find(&set, "latency", "p50");
    cr_assert_not_null(rps);
    cr_assert_not_null(p50);
    static const double rates[] = {20, 40, 60};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 2; i++) {
            double x = 5 * k + i;
            cr_assert_float_eq(at(rps, x), rates[k], 1e-9, "step %d second %g: %g", k, x,
                               at(rps, x));
            cr_assert_float_eq(at(p50, x), (k + 1) * 1.0, 1e-9, "step %d second %g", k, x);
        }
    /* The cool-downs are gaps in both lines. */
    cr_assert(gap_between(rps, 2, 5) && gap_between(rps, 7, 10));
    cr_assert(gap_between(p50, 2, 5) && gap_between(p50, 7, 10));
    /* A step's drain row (0.1 s) is no rate: not drawn as one; its
     * latency and error share are drawn (the drain holds the slowest). */
    cr_assert(isnan(at(rps, 12)));
    for (int k = 0; k < 3; k++)
        cr_assert_float_eq(at(p50, 5 * k + 2), (k + 1) * 1.0, 1e-9, "drain of step %d", k);
    const chart_series *errs = find_panel(&set, "throughput", 1, "all");
    cr_assert_not_null(errs);
    cr_assert_float_eq(at(errs, 12), 0.0, 1e-9);
    chart_set_free(&set);
    results_free(&r);
}

/* ---- many endpoints: styles, legend placement, small multiples, names ---- */

Test(chart, styles_are_distinct_pairs_and_colours_for_many_series)
{
    for (size_t i = 0; i < CHART_NSTYLES; i++) {
        uint32_t ci, cj;
        chart_dash di, dj;
        chart_marker mi, mj;
        chart_style(i, &ci, &di, &mi);
        cr_assert_lt(mi, CHART_NMARKS);
        for (size_t j = 0; j < i; j++) {
            chart_style(j, &cj, &dj, &mj);
            cr_assert_neq(ci, cj, "series %zu and %zu share colour %06x", i, j, ci);
        }
    }
    /* The first ten are the palette, solid; the next ten are dashed. */
    uint32_t c;
    chart_dash d;
    chart_marker m;
    chart_style(0, &c, &d, &m);
    cr_assert_eq(c, chart_color(0));
    cr_assert_eq(d, CHART_SOLID);
    chart_style(CHART_NCOLORS + 1, &c, &d, &m);
    cr_assert_eq(d, CHART_DASHED);
    chart_style(2 * CHART_NCOLORS + 1, &c, &d, &m);
    cr_assert_eq(d, CHART_DOTTED);
}

static bool overlap(chart_rect a, chart_rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

Test(chart, legend_of_many_long_names_sits_below_the_plot)
{
    chart c = {0};
    snprintf(c.title, sizeof c.title, "Requests per second");
    snprintf(c.note, sizeof c.note, "a note");
    snprintf(c.x.label, sizeof c.x.label, "time (s)");
    for (int i = 0; i < 13; i++) {
        char name[96];
        snprintf(name, sizeof name, "endpoint-%02d-with-a-long-name-for-the-checkout-flow", i);
        chart_series *s = chart_add_series(&c, name, CHART_LINE, 0);
        cr_assert_not_null(s);
        cr_assert_eq(chart_series_add(s, 0, i), 0);
    }
    chart_rect plot, leg;
    cr_assert(chart_panel_layout(&c, 0, 0, 1200, 600, &plot, &leg));
    cr_assert_gt(leg.h, 18, "13 long names need more than one legend row");
    cr_assert(!overlap(plot, leg), "legend overlaps the plot");
    cr_assert_geq(leg.y, plot.y + plot.h + 30, "legend above the x axis labels");
    cr_assert_leq(leg.y + leg.h, 600);
    cr_assert_gt(plot.h, 250, "the plot keeps most of the panel: %.0f px", plot.h);
    /* Without series there is no legend and the plot takes the room. */
    chart e = {0};
    cr_assert(chart_panel_layout(&e, 0, 0, 1200, 600, &plot, &leg));
    cr_assert_eq(leg.h, 0);
    for (size_t i = 0; i < c.nseries; i++) {
        free(c.series[i].x);
        free(c.series[i].y);
    }
    free(c.series);
    chart_shutdown(); /* cairo's and fontconfig's caches, for the leak checker */
}

/* n endpoints with per-second rows; endpoint 0 has a 60-character name. */
static void many(results *r, size_t n)
{
    cr_assert_eq(results_init(r), 0);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        if (i == 0)
            snprintf(name, sizeof name, "%s",
                     "checkout-payment-confirmation-with-three-d-secure-redirect-x");
        else
            snprintf(name, sizeof name, "ep%zu", i);
        results_endpoint *ep = results_add_endpoint(r, name, "GET", "http://127.0.0.1/x");
        cr_assert_not_null(ep);
        ep->st.elapsed_ns = 3 * NS;
        for (uint32_t s = 0; s < 3; s++) {
            series_row row = {.second = s, .requests = 10, .responses = 10,
                              .p50_ns = (i + 1) * 1000000, .p90_ns = (i + 2) * 1000000,
                              .p99_ns = (i + 3) * 1000000, .max_ns = (i + 4) * 1000000};
            cr_assert_eq(series_append(&ep->st.sec, &row), 0);
        }
        hist_record(ep->st.latency, (i + 1) * 1000000);
        ep->st.tot.requests = ep->st.tot.responses = 30;
        ep->st.tot.status[200] = 30;
    }
    for (uint32_t s = 0; s < 3; s++) { /* the run's rows: every endpoint's together */
        series_row row = {.second = s, .requests = 10 * (uint32_t)n,
                          .responses = 10 * (uint32_t)n, .p50_ns = 1000000, .p90_ns = 2000000,
                          .p99_ns = 3000000, .max_ns = 4000000};
        cr_assert_eq(series_append(&r->st.sec, &row), 0);
    }
    r->st.elapsed_ns = 3 * NS;
}

static const chart_item *item(const chart_set *set, const char *stem)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->items[i].stem, stem))
            return &set->items[i];
    return NULL;
}

Test(chart, many_endpoints_get_small_multiples_on_one_scale)
{
    results r;
    many(&r, 12);
    chart_set set;
    err e = {0};
    cr_assert_eq(chart_build_all(&r, NULL, &set, &e), 0, "%s", e.msg);
    const chart_item *lat = item(&set, "latency");
    cr_assert_not_null(lat);
    cr_assert_eq(lat->fig->npanels, 12, "one panel per endpoint, none left out");
    cr_assert_gt(lat->fig->h_scale, 1, "the figure grows with its rows");
    for (size_t i = 0; i < 12; i++) {
        const chart *c = &lat->fig->panels[i];
        cr_assert_str_eq(c->title, r.eps[i].name, "panel titles are the whole names");
        cr_assert_eq(c->nseries, 3);
        cr_assert_eq(c->y.least_max, lat->fig->panels[0].y.least_max, "one y scale");
    }
    /* Lines of every endpoint, each with its own (colour, dash). */
    const chart *tp = &item(&set, "throughput")->fig->panels[0];
    cr_assert_geq(tp->nseries, 12);
    for (size_t i = 0; i < 12; i++)
        for (size_t j = 0; j < i; j++)
            cr_assert(tp->series[i].color != tp->series[j].color ||
                          tp->series[i].dash != tp->series[j].dash,
                      "series %zu and %zu look the same", i, j);
    /* The total (ten times an endpoint's rate) on a panel of its own, so
     * that it does not set the endpoints' scale; then the error rate. */
    const chart_fig *tf = item(&set, "throughput")->fig;
    cr_assert_eq(tf->npanels, 3);
    cr_assert_eq(tp->nseries, 12, "the endpoints' panel holds the 12 endpoints only");
    cr_assert_str_eq(tf->panels[1].series[0].name, "total");
    for (size_t i = 1; i < tf->panels[1].nseries; i++) /* the run's own lines only */
        cr_assert(!strcmp(tf->panels[1].series[i].name, "target") ||
                      !strcmp(tf->panels[1].series[i].name, "dropped/s"),
                  "%s", tf->panels[1].series[i].name);
    cr_assert_str_eq(tf->panels[2].title, "Error rate");
    cr_assert_gt(tf->h_scale, 1, "three panels: a taller figure");
    chart_set_free(&set);
    results_free(&r);
    /* Up to eight endpoints stay on one panel, the total among them. */
    many(&r, 8);
    cr_assert_eq(chart_build_all(&r, NULL, &set, &e), 0, "%s", e.msg);
    cr_assert_eq(item(&set, "latency")->fig->npanels, 1);
    cr_assert_eq(item(&set, "latency")->fig->panels[0].nseries, 24);
    tf = item(&set, "throughput")->fig;
    cr_assert_eq(tf->npanels, 2);
    cr_assert_str_eq(tf->panels[0].series[8].name, "total");
    chart_set_free(&set);
    results_free(&r);
}

Test(chart, long_names_are_whole_in_categories)
{
    results r;
    many(&r, 2);
    chart_set set;
    err e = {0};
    cr_assert_eq(chart_build_all(&r, NULL, &set, &e), 0, "%s", e.msg);
    const chart *c = &item(&set, "ttfb")->fig->panels[0];
    cr_assert_str_eq(c->cats[0], r.eps[0].name);
    chart_set_free(&set);
    results_free(&r);
}

#include <cairo.h>
#include <limits.h>

/* Pixels of a PNG in the box [x0, x1) x [y0, y1) for which match(pixel,
 * arg) holds (pixel: 0xRRGGBB); their leftmost and rightmost columns and
 * how many rows hold any (each may be NULL). */
static size_t scan_png(const char *path, int x0, int x1, int y0, int y1,
                       bool (*match)(uint32_t px, uint32_t arg), uint32_t arg, int *left,
                       int *right, int *rows)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    size_t n = 0;
    int l = w, r = -1, nrows = 0;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < h; y++) {
        bool any = false;
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < w; x++) {
            uint32_t px;
            memcpy(&px, d + y * stride + x * 4, 4);
            if (match(px & 0xFFFFFF, arg)) {
                n++, any = true;
                l = x < l ? x : l;
                r = x > r ? x : r;
            }
        }
        nrows += any;
    }
    cairo_surface_destroy(s);
    if (left)
        *left = l;
    if (right)
        *right = r;
    if (rows)
        *rows = nrows;
    return n;
}

/* Draws f as a w x h PNG into a new temporary file; its name in path
 * (char[32]), to unlink. */
static void png_to_temp(chart_fig *f, int w, int h, char *path)
{
    strcpy(path, "/tmp/volley-chart-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    err e = {0};
    cr_assert_eq(chart_write_png(f, path, w, h, &e), 0, "%s", e.msg);
}

static bool is_colour(uint32_t px, uint32_t c)
{
    return px == c;
}

/* Pixels of exactly colour c in a PNG drawn by chart_write_png, above
 * row y_max (the legend is below the plot). */
static size_t pixels_of(const char *path, uint32_t c, int y_max)
{
    return scan_png(path, 0, INT_MAX, 0, y_max, is_colour, c, NULL, NULL, NULL);
}

Test(chart, identical_series_both_stay_visible_and_points_are_seen)
{
    chart_fig *f = chart_fig_new("", 1, 1);
    cr_assert_not_null(f);
    chart *c = &f->panels[0];
    for (size_t k = 0; k < 2; k++) {
        chart_series *s = chart_add_series(c, k ? "b" : "a", CHART_LINE, 0);
        cr_assert_not_null(s);
        chart_series_style(s, k);
        for (int i = 0; i < 100; i++)
            cr_assert_eq(chart_series_add(s, i, 10 + (i % 7)), 0);
    }
    chart_series *pts = chart_add_series(c, "points", CHART_POINTS, 0x000000);
    cr_assert_not_null(pts);
    pts->width = 1; /* asked too small: drawn at least 4 px */
    for (int i = 0; i < 50; i++)
        cr_assert_eq(chart_series_add(pts, i * 2, 30), 0);
    char path[32];
    png_to_temp(f, 800, 400, path);
    /* The first line lies under the second, but its markers sit where the
     * second's do not: both colours are drawn well beyond the legend. */
    chart_rect plot, leg;
    cr_assert(chart_panel_layout(c, 0, 0, 800, 400, &plot, &leg));
    int bottom = (int)(plot.y + plot.h + 4);
    uint32_t c0 = c->series[0].color, c1 = c->series[1].color;
    size_t n0 = pixels_of(path, c0, bottom), n1 = pixels_of(path, c1, bottom);
    cr_assert_gt(n0, 40, "the hidden series shows only %zu pixels in the plot", n0);
    cr_assert_gt(n1, 40);
    /* Points: 50 squares of 4 px at 80%: blended, so count the dark ones. */
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    size_t dark = 0;
    for (int y = 0; y < 400; y++)
        for (int x = 0; x < 800; x++) {
            uint32_t px;
            memcpy(&px, cairo_image_surface_get_data(s) + y * cairo_image_surface_get_stride(s) +
                            x * 4, 4);
            dark += ((px >> 16) & 255) < 80 && ((px >> 8) & 255) < 80 && (px & 255) < 80;
        }
    cairo_surface_destroy(s);
    cr_assert_gt(dark, 50 * 9, "scatter points too small to see: %zu dark pixels", dark);
    unlink(path);
    chart_fig_free(f);
    chart_shutdown();
}

static bool is_dark(uint32_t px, uint32_t limit)
{
    return ((px >> 16) & 255) < limit && ((px >> 8) & 255) < limit && (px & 255) < limit;
}

/* Dark (text) pixels of a PNG in the box [x0, x1) x [y0, y1); their
 * leftmost and rightmost columns and how many rows hold any. */
static size_t ink(const char *path, int x0, int x1, int y0, int y1, int *left, int *right,
                  int *rows)
{
    return scan_png(path, x0, x1, y0, y1, is_dark, 110, left, right, rows);
}

/* Twelve endpoints side by side, one of them named in 60 characters (the
 * ttfb chart's shape): every category is named under its own slot, the
 * long name wrapped over several lines inside its slot (not centred off
 * the left edge, nor making every other name go), and the values of bars
 * too narrow for them are left out rather than written over each other. */
Test(chart, twelve_categories_are_all_named_and_a_long_one_wraps_in_its_slot)
{
    chart_fig *f = chart_fig_new("", 1, 1);
    cr_assert_not_null(f);
    chart *c = &f->panels[0];
    cr_assert_eq(chart_category(c, "checkout-payment-confirmation-with-three-d-secure-redirect-x"),
                 0);
    for (int i = 1; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof name, "ep%d", i);
        cr_assert_eq(chart_category(c, name), i);
    }
    for (size_t k = 0; k < 6; k++) {
        chart_series *s = chart_add_series(c, "v", CHART_BARS, 0);
        cr_assert_not_null(s);
        chart_series_style(s, k);
        s->labels = true;
        for (int i = 0; i < 12; i++)
            cr_assert_eq(chart_series_add(s, i, 2.25 + i), 0);
    }
    char path[32];
    png_to_temp(f, 1200, 600, path);
    chart_rect plot, leg;
    cr_assert(chart_panel_layout(c, 0, 0, 1200, 600, &plot, &leg));
    double slot = plot.w / 12;
    int below = (int)(plot.y + plot.h + 3), above = (int)leg.y;
    int left, right, rows, rows0 = 0;
    for (int i = 0; i < 12; i++) {
        int x0 = (int)(plot.x + slot * i), x1 = (int)(plot.x + slot * (i + 1));
        size_t n = ink(path, x0, x1, below, above, &left, &right, &rows);
        cr_assert_gt(n, 10, "category %d has no name under it", i);
        if (i == 0)
            rows0 = rows;
        else
            cr_assert_lt(rows, 16, "a short name takes one line (%d rows)", rows);
    }
    cr_assert_gt(rows0, 4 * 13 - 6, "the long name is not wrapped over lines: %d rows", rows0);
    /* Nothing of it left of its slot (it was centred off the left edge). */
    ink(path, 0, (int)plot.x, below, above, &left, &right, &rows);
    cr_assert_eq(right, -1, "a name runs left of the plot to column %d", right);
    /* Six bars of about 13 px per slot: no "2.25" above them. */
    size_t values = ink(path, (int)plot.x + 2, (int)(plot.x + plot.w), (int)plot.y,
                        (int)(plot.y + plot.h * 0.45), &left, &right, &rows);
    cr_assert_eq(values, 0, "%zu dark pixels of values above narrow bars", values);
    unlink(path);
    /* Wide bars keep their values. */
    chart_fig *g = chart_fig_new("", 1, 1);
    cr_assert_not_null(g);
    chart *d = &g->panels[0];
    cr_assert_eq(chart_category(d, "200"), 0);
    chart_series *s = chart_add_series(d, "v", CHART_BARS, 0x4c78a8);
    cr_assert_not_null(s);
    s->labels = true;
    cr_assert_eq(chart_series_add(s, 0, 734), 0);
    char path2[32];
    png_to_temp(g, 1200, 600, path2);
    cr_assert(chart_panel_layout(d, 0, 0, 1200, 600, &plot, &leg));
    values = ink(path2, (int)plot.x + 2, (int)(plot.x + plot.w), (int)plot.y,
                 (int)(plot.y + plot.h * 0.2), &left, &right, &rows);
    cr_assert_gt(values, 10, "the value of a wide bar is not written");
    unlink(path2);
    chart_fig_free(g);
    chart_fig_free(f);
    chart_shutdown();
}

Test(chart, past_thirty_endpoints_charts_say_which_they_show)
{
    results r;
    many(&r, 35);
    chart_set set;
    err e = {0};
    cr_assert_eq(chart_build_all(&r, NULL, &set, &e), 0, "%s", e.msg);
    const chart *tp = &item(&set, "throughput")->fig->panels[0];
    cr_assert(strstr(tp->note, "the first 30 of 35 endpoints"), "%s", tp->note);
    cr_assert_eq(item(&set, "latency")->fig->npanels, 30);
    chart_set_free(&set);
    results_free(&r);
}

/* Streamed is judged against service time: a buffered route whose latency
 * holds queueing (latency far above TTFB) is not streamed. */
Test(chart, streamed_compares_first_body_with_service_time)
{
    results r;
    many(&r, 3);
    results_stats *bufd = &r.eps[0].st, *str = &r.eps[1].st, *tiny = &r.eps[2].st;
    for (int i = 0; i < 20; i++) {
        hist_record(bufd->latency, 200000000); /* queued 180 ms before the send */
        hist_record(bufd->service, 20000000);
        hist_record(bufd->ttfb, 19500000);
        hist_record(bufd->dist[METRICS_DIST_FIRST_BODY], 19500000);
        hist_record(str->service, 250000000);
        hist_record(str->dist[METRICS_DIST_FIRST_BODY], 1000000);
        hist_record(tiny->service, 400000); /* under CHART_STREAMED_MIN_NS apart */
        hist_record(tiny->dist[METRICS_DIST_FIRST_BODY], 100000);
    }
    cr_assert_not(chart_streamed(bufd));
    cr_assert(chart_streamed(str));
    cr_assert_not(chart_streamed(tiny));
    cr_assert_not(chart_streamed(&r.st), "no first body byte: not streamed");
    chart_set set;
    err e = {0};
    cr_assert_eq(chart_build_all(&r, NULL, &set, &e), 0, "%s", e.msg);
    const chart_item *it = item(&set, "ttfb");
    const chart *c = &it->fig->panels[0];
    cr_assert(strstr(c->note, "service end): ep1"), "%s", c->note);
    cr_assert_null(strstr(c->note, "checkout"), "%s", c->note);
    cr_assert_null(strstr(c->note, "ep2"), "%s", c->note);
    cr_assert(strstr(it->caption, "service end): ep1"), "%s", it->caption);
    cr_assert_eq(c->nseries, 6);
    cr_assert_str_eq(c->series[2].name, "1st body p50");
    cr_assert_str_eq(c->series[4].name, "service p50");
    chart_set_free(&set);
    results_free(&r);
}
