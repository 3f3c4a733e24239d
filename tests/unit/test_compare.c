/* Tests for report/compare: verdicts on synthetic runs at every boundary
 * (minimum change, p-value, direction of each metric, error-rate test and
 * its dispersion allowance, the per-second spread, short runs), Student's t
 * and Mann-Whitney against known p-values, and the --fail-if gates of
 * every metric form. */
#include "core/clock.h"
#include "report/compare.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A run of `secs` one-second rows; every request takes one of the values
 * in lat_ns (cycled); per-second means follow sec_mean_ms (cycled) when
 * given, else equal the whole-run mean; errors_by_sec adds errors. */
typedef struct spec {
    const double *lat_ms;
    size_t nlat;
    uint64_t per_sec;
    uint32_t secs;
    const double *sec_mean_ms;
    size_t nsec_mean;
    const uint64_t *errors_by_sec;
} spec;

static void build(results *r, const spec *s)
{
    cr_assert_eq(results_init(r), 0);
    results_stats *st = &r->st;
    uint64_t n = s->per_sec * s->secs;
    for (uint64_t i = 0; i < n; i++)
        hist_record(st->latency, (uint64_t)llround(s->lat_ms[i % s->nlat] * 1e6));
    st->tot.requests = n;
    st->tot.responses = n;
    st->elapsed_ns = (uint64_t)s->secs * NS_PER_S;
    double mean = hist_mean(st->latency);
    for (uint32_t k = 0; k < s->secs; k++) {
        series_row row = {.second = k, .requests = s->per_sec, .responses = s->per_sec};
        row.mean_ns = s->sec_mean_ms ? s->sec_mean_ms[k % s->nsec_mean] * 1e6 : mean;
        row.p50_ns = hist_percentile(st->latency, 50);
        row.p90_ns = hist_percentile(st->latency, 90);
        row.p99_ns = hist_percentile(st->latency, 99);
        if (s->errors_by_sec) {
            row.errors = s->errors_by_sec[k];
            st->tot.errors += row.errors;
        }
        cr_assert_eq(series_append(&st->sec, &row), 0);
    }
}

static const cmp_row *row_of(const cmp_report *c, const char *metric)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->rows[i].endpoint, "total") && !strcmp(c->rows[i].metric, metric))
            return &c->rows[i];
    cr_assert_fail("no row %s", metric);
    return NULL;
}

/* The verdict of metric when comparing a to b. */
static cmp_verdict verdict(const spec *a, const spec *b, const char *metric, cmp_row *out)
{
    results ra, rb;
    build(&ra, a);
    build(&rb, b);
    cmp_report c;
    err e = {0};
    cr_assert_eq(compare_results(&ra, &rb, &c, &e), 0, "%s", e.msg);
    const cmp_row *r = row_of(&c, metric);
    if (out)
        *out = *r;
    cmp_verdict v = r->verdict;
    compare_free(&c);
    results_free(&ra);
    results_free(&rb);
    return v;
}

#define CONST_SPEC(ms_ptr) {.lat_ms = (ms_ptr), .nlat = 1, .per_sec = 1000, .secs = 4}

/* No noise at all (every request the same, every second the same): the
 * minimum change alone decides, at exactly 10 %. */
Test(compare, minimum_change_is_ten_percent)
{
    static const double base = 10, below = 10.999, above = 11.001, down_below = 9.001,
                        down_above = 8.999;
    spec a = CONST_SPEC(&base), b = CONST_SPEC(&below);
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_SAME, "pct %f p %f", r.pct, r.p_value);
    cr_expect_lt(r.p_value, 0.01);
    b.lat_ms = &above;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_WORSE, "pct %f p %f", r.pct, r.p_value);
    b.lat_ms = &down_below;
    cr_expect_eq(verdict(&a, &b, "mean", NULL), CMP_SAME);
    b.lat_ms = &down_above;
    cr_expect_eq(verdict(&a, &b, "mean", NULL), CMP_BETTER);
}

/* Per-second means alternate mean +- d: with 4 seconds a side the pooled
 * t test has 6 degrees of freedom, t = 2 / (d sqrt(2/3)), and the 1 %
 * critical value is 3.7074. A 20 % change is "worse" only when t passes it. */
Test(compare, p_value_boundary_from_the_per_second_spread)
{
    static const double ten = 10, twelve = 12;
    static const struct {
        double t;
        cmp_verdict v;
    } cases[] = {{3.80, CMP_WORSE}, {3.62, CMP_SAME}, {8.0, CMP_WORSE}, {2.0, CMP_SAME}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double d = 2 / (cases[i].t * sqrt(2.0 / 3.0));
        double ma[2] = {10 - d, 10 + d}, mb[2] = {12 - d, 12 + d};
        spec a = CONST_SPEC(&ten), b = CONST_SPEC(&twelve);
        a.sec_mean_ms = ma, a.nsec_mean = 2;
        b.sec_mean_ms = mb, b.nsec_mean = 2;
        cmp_row r;
        cr_expect_eq(verdict(&a, &b, "mean", &r), cases[i].v, "t %.2f: p %f", cases[i].t,
                     r.p_value);
        cr_expect_float_eq(r.df, 6, 1e-9);
        cr_expect_float_eq(r.p_value, compare_t_p(cases[i].t, 6), 1e-6);
        cr_expect_eq(r.seconds_base, 4);
        cr_expect_eq(r.samples_cur, 4000);
        /* The printed interval: t(0.99, 6) * se / base, in %. */
        cr_expect_float_eq(r.ci, 3.7074 * 2 / cases[i].t / 10 * 100, 0.01);
    }
}

/* The same 20 % change in the whole-run values is "worse" when every
 * second agrees and "same" when the seconds scatter (the allowance for
 * correlated requests), although the sampling error is the same. */
Test(compare, per_second_spread_can_hide_a_change)
{
    static const double lat_a[2] = {9, 11}, lat_b[2] = {11, 13};
    static const double wild_a[4] = {4, 16, 5, 15}, wild_b[4] = {6, 18, 7, 17};
    spec a = {.lat_ms = lat_a, .nlat = 2, .per_sec = 1000, .secs = 5};
    spec b = {.lat_ms = lat_b, .nlat = 2, .per_sec = 1000, .secs = 5};
    cr_expect_eq(verdict(&a, &b, "mean", NULL), CMP_WORSE);
    a.sec_mean_ms = wild_a, a.nsec_mean = 4;
    b.sec_mean_ms = wild_b, b.nsec_mean = 4;
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_SAME, "p %f", r.p_value);
    cr_expect_gt(r.se_base, 2.0);
}

/* Under 3 seconds there is no spread to measure: the sampling error counts
 * twice. Means 10 vs 12 ms, sd 5 ms, 200 requests a side: z = 4 with the
 * sampling error alone, 2 when doubled. */
Test(compare, short_runs_double_the_sampling_error)
{
    static const double lat_a[2] = {5, 15}, lat_b[2] = {7, 17};
    spec a = {.lat_ms = lat_a, .nlat = 2, .per_sec = 50, .secs = 4};
    spec b = {.lat_ms = lat_b, .nlat = 2, .per_sec = 50, .secs = 4};
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_WORSE, "p %f", r.p_value);
    cr_expect_float_eq(r.se_base, 5 / sqrt(200), 0.02);
    a.per_sec = b.per_sec = 100, a.secs = b.secs = 2;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_SAME, "p %f", r.p_value);
    cr_expect_float_eq(r.se_base, 2 * 5 / sqrt(200), 0.04);
    cr_expect_eq(r.seconds_base, 2);
}

/* Higher latency is worse, higher rps is better; and the reverse. */
Test(compare, direction_of_every_metric)
{
    static const double ten = 10, fifteen = 15;
    spec a = CONST_SPEC(&ten), b = CONST_SPEC(&fifteen);
    const char *lat[] = {"mean", "p50", "p90", "p99"};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(verdict(&a, &b, lat[i], NULL), CMP_WORSE, "%s up", lat[i]);
        cr_expect_eq(verdict(&b, &a, lat[i], NULL), CMP_BETTER, "%s down", lat[i]);
    }
    spec c = CONST_SPEC(&ten);
    c.per_sec = 1300;
    cr_expect_eq(verdict(&a, &c, "rps", NULL), CMP_BETTER);
    cr_expect_eq(verdict(&c, &a, "rps", NULL), CMP_WORSE);
    c.per_sec = 1050; /* 5 %: under the minimum */
    cr_expect_eq(verdict(&a, &c, "rps", NULL), CMP_SAME);
    cr_expect_eq(verdict(&a, &a, "rps", NULL), CMP_SAME);
}

/* Error rates: significant and at least 0.1 percentage points. */
Test(compare, error_rate_test)
{
    static const double ten = 10;
    uint64_t none[4] = {0}, some[4] = {25, 25, 25, 25};
    spec a = CONST_SPEC(&ten), b = CONST_SPEC(&ten);
    a.errors_by_sec = none;
    b.errors_by_sec = some; /* 100 of 4000: 2.5 points */
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "errors", &r), CMP_WORSE, "p %g", r.p_value);
    cr_expect_float_eq(r.cur, 0.025, 1e-12);
    cr_expect_eq(verdict(&b, &a, "errors", NULL), CMP_BETTER);
    uint64_t few[4] = {1, 0, 1, 0}; /* 2 of 4000: not significant */
    b.errors_by_sec = few;
    cr_expect_eq(verdict(&a, &b, "errors", &r), CMP_SAME, "p %g", r.p_value);
    cr_expect_gt(r.p_value, 0.01);
}

/* Significant but under 0.1 points: 999 vs 1001 errors in a million
 * requests against none. */
Test(compare, error_rate_minimum_is_a_tenth_of_a_point)
{
    static const double ten = 10;
    uint64_t none[4] = {0}, under[4] = {250, 250, 250, 249}, over[4] = {250, 250, 250, 251};
    spec a = CONST_SPEC(&ten), b = CONST_SPEC(&ten);
    a.per_sec = b.per_sec = 250000;
    a.lat_ms = b.lat_ms = &ten;
    a.errors_by_sec = none;
    b.errors_by_sec = under;
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "errors", &r), CMP_SAME);
    cr_expect_lt(r.p_value, 0.01);
    b.errors_by_sec = over;
    cr_expect_eq(verdict(&a, &b, "errors", &r), CMP_WORSE, "p %g", r.p_value);
}

/* 60 errors in 4000 requests: spread over the seconds they are a change;
 * all in one second (a burst: correlated failures) they are not. */
Test(compare, error_bursts_count_as_one_event)
{
    static const double ten = 10;
    uint64_t none[4] = {0}, even[4] = {15, 15, 15, 15}, burst[4] = {60, 0, 0, 0};
    spec a = CONST_SPEC(&ten), b = CONST_SPEC(&ten);
    a.errors_by_sec = none;
    b.errors_by_sec = even;
    cr_expect_eq(verdict(&a, &b, "errors", NULL), CMP_WORSE);
    b.errors_by_sec = burst;
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "errors", &r), CMP_SAME, "p %g", r.p_value);
}

Test(compare, identical_runs_are_same_with_p_one)
{
    static const double lat[3] = {1, 2, 30};
    spec a = {.lat_ms = lat, .nlat = 3, .per_sec = 300, .secs = 6};
    results ra;
    build(&ra, &a);
    cmp_report c;
    err e = {0};
    cr_assert_eq(compare_results(&ra, &ra, &c, &e), 0);
    cr_expect_eq(c.n, 6);
    for (size_t i = 0; i < c.n; i++) {
        cr_expect_eq(c.rows[i].verdict, CMP_SAME, "%s", c.rows[i].metric);
        cr_expect_float_eq(c.rows[i].pct, 0, 1e-12);
        cr_expect_geq(c.rows[i].p_value, 0.99, "%s", c.rows[i].metric);
    }
    compare_free(&c);
    results_free(&ra);
}

/* Two-sided p of Student's t: textbook critical values. */
Test(compare, student_t_known_p_values)
{
    static const struct {
        double t, df, p;
    } cases[] = {
        {12.7062, 1, 0.05}, {63.6567, 1, 0.01}, {4.3027, 2, 0.05}, {9.9248, 2, 0.01},
        {2.4469, 6, 0.05},  {3.7074, 6, 0.01},  {2.2281, 10, 0.05}, {3.1693, 10, 0.01},
        {1.9600, 1e6, 0.05}, {2.5758, 1e6, 0.01}, {0, 6, 1}, {1.0, 1, 0.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_float_eq(compare_t_p(cases[i].t, cases[i].df), cases[i].p, 2e-5,
                           "t %g df %g: %g", cases[i].t, cases[i].df,
                           compare_t_p(cases[i].t, cases[i].df));
    cr_expect_float_eq(compare_t_p(-3.7074, 6), 0.01, 2e-5);
    cr_expect_float_eq(compare_t_p(INFINITY, 6), 0, 1e-12);
    cr_expect_float_eq(compare_t_p(NAN, 6), 1, 1e-12);
}

/* Mann-Whitney U, normal approximation with continuity and tie correction
 * (the values R's wilcox.test(exact = FALSE, correct = TRUE) gives). */
Test(compare, mann_whitney_known_p_values)
{
    const double a1[] = {1, 2, 3, 4, 5}, b1[] = {6, 7, 8, 9, 10};
    cr_expect_float_eq(compare_mann_whitney(a1, 5, b1, 5), 0.01219, 5e-5);
    cr_expect_float_eq(compare_mann_whitney(b1, 5, a1, 5), 0.01219, 5e-5);
    const double a2[] = {1, 3, 5, 7, 9}, b2[] = {2, 4, 6, 8, 10};
    cr_expect_float_eq(compare_mann_whitney(a2, 5, b2, 5), 0.6761, 5e-4);
    const double a3[] = {1, 1, 2, 2, 3}, b3[] = {2, 3, 3, 4, 4};
    cr_expect_float_eq(compare_mann_whitney(a3, 5, b3, 5), 0.05241, 5e-4);
    const double a4[] = {1, 2, 3}, b4[] = {4, 5, 6};
    cr_expect_float_eq(compare_mann_whitney(a4, 3, b4, 3), 0.08086, 5e-4);
    cr_expect_float_eq(compare_mann_whitney(a1, 5, a1, 5), 1, 1e-12);
    cr_expect_float_eq(compare_mann_whitney(a1, 0, b1, 5), 1, 1e-12);
}

/* A report with one "total" row per metric and the given changes. */
static void gate_report(cmp_report *c, cmp_row *rows, double pct, double err_points)
{
    static const char *m[] = {"rps", "mean", "p50", "p90", "p99", "errors"};
    for (size_t i = 0; i < 6; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        snprintf(rows[i].endpoint, sizeof rows[i].endpoint, "total");
        snprintf(rows[i].metric, sizeof rows[i].metric, "%s", m[i]);
        rows[i].base = i == 5 ? 0.01 : 100;
        rows[i].cur = i == 5 ? 0.01 + err_points / 100 : 100 * (1 + pct / 100);
        rows[i].pct = (rows[i].cur - rows[i].base) / rows[i].base * 100;
    }
    c->rows = rows;
    c->n = 6;
}

static bool gate(const char *expr, double pct, double err_points)
{
    cmp_gate g;
    err e = {0};
    cr_assert_eq(compare_gate_parse(expr, &g, &e), 0, "%s: %s", expr, e.msg);
    cmp_row rows[6];
    cmp_report c;
    gate_report(&c, rows, pct, err_points);
    char why[256] = "";
    bool f = compare_gate_fails(&g, &c, why, sizeof why);
    if (f)
        cr_expect(strstr(why, expr) != NULL, "%s", why);
    return f;
}

/* Every metric form fails just beyond its limit and passes at it. */
Test(compare, fail_if_every_metric_form)
{
    static const char *up[] = {"p(50)>+10%", "med>+10%", "p50>+10%", "p(90)>+10%",
                               "p90>+10%",   "p(99)>+10%", "p99>+10%", "avg>+10%",
                               "mean>+10%"};
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        cr_expect(gate(up[i], 10.5, 0), "%s at +10.5%%", up[i]);
        cr_expect_not(gate(up[i], 9.5, 0), "%s at +9.5%%", up[i]);
        cr_expect_not(gate(up[i], -50, 0), "%s at -50%%", up[i]);
    }
    static const char *down[] = {"rate<-5%", "rps<-5%"};
    for (size_t i = 0; i < 2; i++) {
        cr_expect(gate(down[i], -5.5, 0), "%s", down[i]);
        cr_expect_not(gate(down[i], -4.5, 0), "%s", down[i]);
        cr_expect_not(gate(down[i], 50, 0), "%s", down[i]);
    }
    /* Errors are in percentage points. */
    cr_expect(gate("errors>+1%", 0, 1.5));
    cr_expect_not(gate("errors>+1%", 0, 0.5));
    cr_expect_not(gate("errors>+1%", 50, 0));
    /* '<' on a latency: fails when it dropped more (a suspiciously fast run). */
    cr_expect(gate("p(99)<-30%", -40, 0));
    cr_expect_not(gate("p(99)<-30%", -20, 0));
}

Test(compare, fail_if_parse_errors)
{
    static const struct {
        const char *s, *needle;
    } cases[] = {
        {"p(99)", "expected METRIC>+N%"},      {">+10%", "at position 1: expected a metric"},
        {"speed>+1%", "unknown metric 'speed'"}, {"p(99)>10", "at position 7: expected a change"},
        {"p(99)>+10%x", "expected a change"},  {"p(99)>%", "expected a change"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmp_gate g;
        err e = {0};
        cr_expect_neq(compare_gate_parse(cases[i].s, &g, &e), 0, "%s", cases[i].s);
        cr_expect(strstr(e.msg, cases[i].needle) != NULL, "%s: %s", cases[i].s, e.msg);
    }
    cmp_gate g;
    err e = {0};
    cr_assert_eq(compare_gate_parse("rate<-5%", &g, &e), 0);
    cr_expect_str_eq(g.metric, "rps");
    cr_expect_not(g.increase);
    cr_expect_float_eq(g.pct, 5, 1e-12);
}

/* The text names the rule and the numbers of every verdict. */
Test(compare, printed_table_carries_its_numbers)
{
    static const double ten = 10, twelve = 12;
    spec a = CONST_SPEC(&ten), b = CONST_SPEC(&twelve);
    results ra, rb;
    build(&ra, &a);
    build(&rb, &b);
    cmp_report c;
    err e = {0};
    cr_assert_eq(compare_results(&ra, &rb, &c, &e), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    compare_print(f, &c, "a.json", "b.json");
    fclose(f);
    cr_expect(strstr(text, "  total                mean        10.000ms     12.000ms    +20.0%") !=
                  NULL,
              "%s", text);
    cr_expect(strstr(text, "4000/4,4000/4  worse") != NULL, "%s", text);
    cr_expect(strstr(text, "p < 0.01 and a change of at least 10%") != NULL, "%s", text);
    free(text);
    buf j = {0};
    cr_assert_eq(compare_json(&c, "a.json", "b.json", &j, &e), 0);
    cr_expect(strstr(j.data, "\"seconds_base\": 4") && strstr(j.data, "\"ci99\": "), "%s", j.data);
    buf_free(&j);
    compare_free(&c);
    results_free(&ra);
    results_free(&rb);
}

/* Whole-run means 10 vs 12 ms with tight seconds, but the means of the
 * seconds differ by 0.1 ms only (the whole-run value was made by a part of
 * the run the seconds do not show): not significant, so "same". */
Test(compare, per_second_means_must_differ_too)
{
    static const double ten = 10, twelve = 12;
    static const double ma[2] = {9.9, 10.1}, mb[2] = {10.0, 10.2}, mc[2] = {11.9, 12.1};
    spec a = CONST_SPEC(&ten), b = CONST_SPEC(&twelve);
    a.sec_mean_ms = ma, a.nsec_mean = 2;
    b.sec_mean_ms = mb, b.nsec_mean = 2;
    cmp_row r;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_SAME, "p %g", r.p_value);
    cr_expect_gt(r.p_value, 0.1);
    b.sec_mean_ms = mc;
    cr_expect_eq(verdict(&a, &b, "mean", &r), CMP_WORSE, "p %g", r.p_value);
}

/* The plans of two runs: the same plan gives nothing; a rate and an
 * endpoint list that differ are named, and the text prints the warning and
 * each run's plan. */
Test(compare, plans_that_differ_are_named)
{
    static const double ten = 10;
    spec a = CONST_SPEC(&ten);
    results ra, rb;
    build(&ra, &a);
    build(&rb, &a);
    char why[600];
    cr_assert_eq(compare_plan_diff(&ra, &rb, why, sizeof why), 0);
    cr_assert_str_eq(why, "");
    rb.plan.rate_per_s = ra.plan.rate_per_s + 50;
    cr_assert_not_null(results_add_endpoint(&rb, "extra", "GET", "http://h/x"));
    cr_assert_eq(compare_plan_diff(&ra, &rb, why, sizeof why), 2, "%s", why);
    cr_assert(strstr(why, "rate ") && strstr(why, "endpoints "), "%s", why);
    cmp_report c;
    err e = {0};
    cr_assert_eq(compare_results(&ra, &rb, &c, &e), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    compare_print(f, &c, "a.json", "b.json");
    fclose(f);
    cr_expect(strstr(text, "WARNING: the plans differ (rate ") != NULL, "%s", text);
    cr_expect(strstr(text, "  base: a.json\n        ") != NULL, "%s", text);
    free(text);
    compare_free(&c);
    results_free(&ra);
    results_free(&rb);
}

/* b is 20 % slower than a; b's generator sent late by lag_ms at every
 * statistic, its thread waited wait_pct of its 20 % busy time, and it
 * dropped `dropped` iterations. The mean row of that comparison. */
static cmp_row host_case(double lag_ms, double wait_pct, uint64_t dropped, char *warn, size_t cap)
{
    static const double ten = 10, twelve = 12;
    spec sa = CONST_SPEC(&ten), sb = CONST_SPEC(&twelve);
    results ra, rb;
    build(&ra, &sa);
    build(&rb, &sb);
    results_generator *g = &rb.generator;
    g->measured = ra.generator.measured = true;
    g->cpu_max_pct = ra.generator.cpu_max_pct = 20;
    g->wait_max_pct = wait_pct;
    ra.generator.wait_max_pct = 2;
    g->lag_mean_ns = lag_ms * 1e6;
    g->lag_p50_ns = g->lag_p90_ns = g->lag_p99_ns = (uint64_t)(lag_ms * 1e6);
    rb.st.tot.dropped = dropped;
    cmp_report c;
    err e = {0};
    cr_assert_eq(compare_results(&ra, &rb, &c, &e), 0, "%s", e.msg);
    cmp_row r = *row_of(&c, "mean");
    snprintf(warn, cap, "%s", c.host_diff);
    compare_free(&c);
    results_free(&ra);
    results_free(&rb);
    return r;
}

/* Open-model latency includes volley's own send lag: a change that the
 * lag's change accounts for, while volley's thread waited for a CPU longer
 * than it ran (the host), is "same (host)"; what is left after taking the
 * lag out still counts; lag with no sign of the host, or with iterations
 * dropped (sends waited for connections the server held), is the server's. */
Test(compare, send_lag_of_a_busy_host_holds_the_change)
{
    char warn[200];
    cmp_row r = host_case(0, 15, 0, warn, sizeof warn);
    cr_expect_eq(r.verdict, CMP_WORSE);
    cr_expect_not(r.host);
    cr_expect_str_empty(warn);
    r = host_case(2, 15, 0, warn, sizeof warn); /* all of the +2 ms */
    cr_expect_eq(r.verdict, CMP_SAME);
    cr_expect(r.host);
    cr_expect(strstr(warn, "send-lag p99 was 0.00 ms in base and 2.00 ms in new"), "%s", warn);
    r = host_case(1.1, 15, 0, warn, sizeof warn); /* 0.9 ms = 9 % left */
    cr_expect_eq(r.verdict, CMP_SAME);
    cr_expect(r.host);
    r = host_case(0.5, 15, 0, warn, sizeof warn); /* 1.5 ms = 15 % left */
    cr_expect_eq(r.verdict, CMP_WORSE);
    cr_expect_not(r.host);
    r = host_case(2, 8, 0, warn, sizeof warn); /* it ran more than it waited */
    cr_expect_eq(r.verdict, CMP_WORSE);
    cr_expect_str_empty(warn);
    r = host_case(2, 15, 3, warn, sizeof warn); /* the pool ran dry */
    cr_expect_eq(r.verdict, CMP_WORSE);
    cr_expect_str_empty(warn);
}
