/* Tests for report/chart's model of a sweep (no drawing): every step's rows
 * are in the latency and throughput series with their values, and a
 * cool-down between steps is a gap (a NaN point), not a ramp. */
#include "report/chart.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

static const chart_series *find(const chart_set *set, const char *stem, const char *name)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->items[i].stem, stem))
            continue;
        const chart *c = &set->items[i].fig->panels[0];
        for (size_t k = 0; k < c->nseries; k++)
            if (!strcmp(c->series[k].name, name))
                return &c->series[k];
    }
    return NULL;
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
    /* A step's drain row (0.1 s) is no rate: not drawn as one. */
    cr_assert(isnan(at(rps, 12)));
    chart_set_free(&set);
    results_free(&r);
}
