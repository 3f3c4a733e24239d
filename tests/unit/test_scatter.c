/* Tests report/scatter (the streaming reduction of requests.csv) and the
 * route scatter chart drawn from it: every failure and every column's
 * extremes survive the reduction, and the chart says it is reduced. */
#include "core/clock.h"
#include "report/chart.h"
#include "report/scatter.h"
#include "results/results.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NROWS 40000
#define RUN_MS 10000.0

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

typedef struct row {
    double off, lat;
    int status;
} row;

/* NROWS rows over RUN_MS for endpoint "e": latencies 1..50 ms, a 503 every
 * 301st row, a timeout every 997th, one very slow and one very fast. */
static row *make_rows(void)
{
    row *rs = calloc(NROWS, sizeof *rs);
    uint32_t seed = 42;
    for (size_t i = 0; i < NROWS; i++) {
        rs[i].off = (double)i * RUN_MS / NROWS;
        rs[i].lat = 1 + (double)(lcg(&seed) % 49000) / 1000;
        rs[i].status = i % 997 == 0 ? 0 : i % 301 == 0 ? 503 : 200;
    }
    rs[12345].lat = 900.5;
    rs[12345].status = 200;
    rs[23456].lat = 0.125;
    rs[23456].status = 200;
    return rs;
}

static char *write_csv(const row *rs, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/volley-test-scatter-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "offset_ms,step,endpoint,status,latency_ms,service_ms,ttfb_ms,bytes_in,"
               "bytes_out,error\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.3f,0,e,%d,%.3f,0,0,0,0,%s\n", rs[i].off, rs[i].status, rs[i].lat,
                rs[i].status ? "" : "timeout");
    fclose(f);
    return path;
}

static void one_endpoint(results *r, uint64_t elapsed_ns)
{
    cr_assert_eq(results_init(r), 0);
    cr_assert_not_null(results_add_endpoint(r, "e", "GET", "http://127.0.0.1/"));
    r->st.elapsed_ns = elapsed_ns;
    r->eps[0].st.elapsed_ns = elapsed_ns;
}

static bool has_point(const chart_series *s, double x, double y)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->x[i] == (double)(float)x && s->y[i] == (double)(float)y)
            return true;
    return false;
}

static const chart *route_panel(const chart_set *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        if (!strcmp(cs->items[i].stem, "route-e"))
            return &cs->items[i].fig->panels[0];
    cr_assert_fail("no route-e chart");
    return NULL;
}

Test(scatter, test_reduced_scatter_keeps_every_failure_and_extremes)
{
    row *rs = make_rows();
    char *path = write_csv(rs, NROWS);
    results r;
    one_endpoint(&r, (uint64_t)RUN_MS * NS_PER_MS);
    scatter sc;
    err e = {0};
    cr_assert_eq(scatter_init(&sc, &r, 512, &e), 0);
    cr_assert_eq(scatter_read_csv(&sc, path, &e), 0, "%s", e.msg);
    cr_assert_eq(sc.rows, NROWS);
    chart_set cs;
    cr_assert_eq(chart_build_all(&r, &sc, &cs, &e), 0, "%s", e.msg);
    const chart *c = route_panel(&cs);
    const chart_series *err_s = &c->series[SCATTER_ERRORS], *ok = &c->series[SCATTER_2XX],
                       *s5 = &c->series[SCATTER_5XX];
    size_t shown = 0, fails = 0;
    for (size_t k = 0; k < c->nseries; k++)
        shown += c->series[k].n;
    /* Every failure, at its own place. */
    for (size_t i = 0; i < NROWS; i++) {
        if (rs[i].status == 200)
            continue;
        fails++;
        const chart_series *s = rs[i].status ? s5 : err_s;
        cr_assert(has_point(s, rs[i].off / 1000, rs[i].lat), "failure %zu missing", i);
    }
    /* Each column's fastest and slowest 2xx (512 columns of RUN_MS/512). */
    double lo[512], hi[512];
    size_t lo_i[512], hi_i[512];
    for (int k = 0; k < 512; k++)
        lo[k] = INFINITY, hi[k] = -INFINITY;
    for (size_t i = 0; i < NROWS; i++) {
        int k = (int)(rs[i].off / (RUN_MS / 512));
        if (rs[i].status != 200)
            continue;
        if (rs[i].lat < lo[k])
            lo[k] = rs[i].lat, lo_i[k] = i;
        if (rs[i].lat > hi[k])
            hi[k] = rs[i].lat, hi_i[k] = i;
    }
    for (int k = 0; k < 512; k++) {
        cr_assert(has_point(ok, rs[lo_i[k]].off / 1000, lo[k]), "column %d min missing", k);
        cr_assert(has_point(ok, rs[hi_i[k]].off / 1000, hi[k]), "column %d max missing", k);
    }
    cr_assert(has_point(ok, rs[12345].off / 1000, 900.5));
    cr_assert(has_point(ok, rs[23456].off / 1000, 0.125));
    /* Reduced: at most two points per column and class, plus the failures. */
    cr_assert_leq(shown, 2 * 512 * 2 + 2 * fails, "%zu points", shown);
    cr_assert_lt(shown, NROWS / 8);
    cr_assert(strstr(c->note, "40000 requests") && strstr(c->note, "min and max") &&
                  strstr(c->note, "all 173 failures"),
              "%s", c->note);
    chart_set_free(&cs);
    scatter_free(&sc);
    results_free(&r);
    unlink(path);
    free(rs);
}

Test(scatter, test_rows_past_the_run_merge_columns_and_keep_extremes)
{
    /* elapsed 1 s over 8 columns; rows up to 4 s: columns double twice. */
    row rs[4000];
    for (int i = 0; i < 4000; i++)
        rs[i] = (row){i, 10 + (i % 500 == 250 ? 90 : i % 500 == 7 ? -9 : 0), 200};
    char *path = write_csv(rs, 4000);
    results r;
    one_endpoint(&r, NS_PER_S);
    scatter sc;
    err e = {0};
    cr_assert_eq(scatter_init(&sc, &r, 8, &e), 0);
    cr_assert_eq(scatter_read_csv(&sc, path, &e), 0, "%s", e.msg);
    cr_assert_float_eq(sc.col_ms, 500, 1e-9);
    for (int k = 0; k < 8; k++) {
        const scatter_cell *cell = &sc.eps[0].cells[k * SCATTER_NCLASS + SCATTER_2XX];
        cr_assert_float_eq(cell->lo.y_ms, 1, 1e-6, "column %d", k);
        cr_assert_float_eq(cell->lo.x_s, (k * 500 + 7) / 1000.0, 1e-6);
        cr_assert_float_eq(cell->hi.y_ms, 100, 1e-6);
        cr_assert_float_eq(cell->hi.x_s, (k * 500 + 250) / 1000.0, 1e-6);
    }
    scatter_free(&sc);
    results_free(&r);
    unlink(path);
}

Test(scatter, test_rows_of_other_endpoints_are_not_drawn)
{
    row rs[3] = {{1, 5, 200}, {2, 6, 200}, {3, 7, 0}};
    char *path = write_csv(rs, 3);
    results r;
    cr_assert_eq(results_init(&r), 0);
    cr_assert_not_null(results_add_endpoint(&r, "other", "GET", "http://127.0.0.1/"));
    cr_assert_not_null(results_add_endpoint(&r, "x", "GET", "http://127.0.0.1/x"));
    scatter sc;
    err e = {0};
    cr_assert_eq(scatter_init(&sc, &r, 0, &e), 0);
    cr_assert_eq(scatter_read_csv(&sc, path, &e), 0, "%s", e.msg);
    cr_assert_eq(sc.rows, 3);
    cr_assert_eq(sc.eps[0].rows + sc.eps[1].rows, 0);
    scatter_free(&sc);
    results_free(&r);
    unlink(path);
}

Test(scatter, test_two_halves_reduce_like_one_pass)
{
    row *rs = make_rows();
    char *path = write_csv(rs, NROWS);
    results r;
    one_endpoint(&r, (uint64_t)RUN_MS * NS_PER_MS / 4); /* rows past it: columns merge */
    scatter one, two;
    err e = {0};
    cr_assert_eq(scatter_init(&one, &r, 512, &e), 0);
    cr_assert_eq(scatter_init(&two, &r, 512, &e), 0);
    cr_assert_eq(scatter_read_csv_split(&one, path, false, &e), 0, "%s", e.msg);
    cr_assert_eq(scatter_read_csv_split(&two, path, true, &e), 0, "%s", e.msg);
    cr_assert_eq(two.rows, NROWS);
    cr_assert_float_eq(two.col_ms, one.col_ms, 1e-9);
    for (size_t i = 0; i < 512 * SCATTER_NCLASS; i++) {
        const scatter_cell *a = &one.eps[0].cells[i], *b = &two.eps[0].cells[i];
        cr_assert(!memcmp(a, b, sizeof *a), "cell %zu: (%g,%g)-(%g,%g) vs (%g,%g)-(%g,%g)", i,
                  a->lo.x_s, a->lo.y_ms, a->hi.x_s, a->hi.y_ms, b->lo.x_s, b->lo.y_ms, b->hi.x_s,
                  b->hi.y_ms);
        /* Merged columns keep real extremes (an empty neighbour adds none). */
        cr_assert(a->lo.y_ms > a->hi.y_ms || (isfinite(a->lo.y_ms) && isfinite(a->hi.y_ms)),
                  "cell %zu", i);
    }
    cr_assert_eq(two.eps[0].nfails, one.eps[0].nfails);
    cr_assert_eq(two.eps[0].failures, one.eps[0].failures);
    cr_assert_eq(memcmp(two.eps[0].fails, one.eps[0].fails,
                        one.eps[0].nfails * sizeof(scatter_pt)), 0);
    scatter_free(&one);
    scatter_free(&two);
    results_free(&r);
    unlink(path);
    free(rs);
}
