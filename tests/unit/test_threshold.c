/* Tests for metrics/threshold: the grammar (every aggregate, metric prefix,
 * endpoint scope, '%' forms, spaces), error positions, every operator at
 * its boundary (just below, equal, just above), and the actual values read
 * from a fixed set of histograms and totals. */
#include "core/clock.h"
#include "metrics/threshold.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static threshold parse_ok(const char *s)
{
    threshold t;
    err e = {0};
    cr_assert_eq(threshold_parse(s, &t, &e), 0, "%s: %s", s, e.msg);
    return t;
}

Test(threshold, parses_every_aggregate_and_metric)
{
    static const struct {
        const char *s;
        metrics_dist m;
        threshold_agg a;
        double pct;
        threshold_op op;
        double value;
    } cases[] = {
        {"p(99)<50ms", METRICS_DIST_LATENCY, TH_PCT, 99, TH_LT, 50e6},
        {"p(99.9)<=1s", METRICS_DIST_LATENCY, TH_PCT, 99.9, TH_LE, 1e9},
        {"p(0)>=250us", METRICS_DIST_LATENCY, TH_PCT, 0, TH_GE, 250e3},
        {"p(100)>1ms", METRICS_DIST_LATENCY, TH_PCT, 100, TH_GT, 1e6},
        {"avg<10ms", METRICS_DIST_LATENCY, TH_AVG, 0, TH_LT, 10e6},
        {"min==1ms", METRICS_DIST_LATENCY, TH_MIN, 0, TH_EQ, 1e6},
        {"max!=2s", METRICS_DIST_LATENCY, TH_MAX, 0, TH_NE, 2e9},
        {"med<5ms", METRICS_DIST_LATENCY, TH_MED, 0, TH_LT, 5e6},
        {"rate>=1000", METRICS_DIST_LATENCY, TH_RATE, 0, TH_GE, 1000},
        {"errors<1%", METRICS_DIST_LATENCY, TH_ERRORS, 0, TH_LT, 0.01},
        {"errors<0.02", METRICS_DIST_LATENCY, TH_ERRORS, 0, TH_LT, 0.02},
        {"count>10", METRICS_DIST_LATENCY, TH_COUNT, 0, TH_GT, 10},
        {"dropped==0", METRICS_DIST_LATENCY, TH_DROPPED, 0, TH_EQ, 0},
        {"ttfb:p(90)<20ms", METRICS_DIST_TTFB, TH_PCT, 90, TH_LT, 20e6},
        {"service:avg<1ms", METRICS_DIST_SERVICE, TH_AVG, 0, TH_LT, 1e6},
        {"connect:max<100ms", METRICS_DIST_CONNECT, TH_MAX, 0, TH_LT, 100e6},
        {"send_lag:p(99)<1ms", METRICS_DIST_SEND_LAG, TH_PCT, 99, TH_LT, 1e6},
        {"latency:med<3ms", METRICS_DIST_LATENCY, TH_MED, 0, TH_LT, 3e6},
        {" p(99) <  50ms ", METRICS_DIST_LATENCY, TH_PCT, 99, TH_LT, 50e6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        threshold t = parse_ok(cases[i].s);
        cr_expect_eq(t.metric, cases[i].m, "%s", cases[i].s);
        cr_expect_eq(t.agg, cases[i].a, "%s", cases[i].s);
        cr_expect_float_eq(t.pct, cases[i].pct, 1e-9, "%s", cases[i].s);
        cr_expect_eq(t.op, cases[i].op, "%s", cases[i].s);
        cr_expect_float_eq(t.value, cases[i].value, 1e-6, "%s", cases[i].s);
        cr_expect_str_empty(t.endpoint, "%s", cases[i].s);
    }
}

Test(threshold, endpoint_scope)
{
    threshold t = parse_ok("endpoint=login:p(99)<50ms");
    cr_expect_str_eq(t.endpoint, "login");
    cr_expect_eq(t.agg, TH_PCT);
    t = parse_ok("endpoint=api-v2:ttfb:avg<5ms");
    cr_expect_str_eq(t.endpoint, "api-v2");
    cr_expect_eq(t.metric, METRICS_DIST_TTFB);
    t = parse_ok("endpoint=x:errors<=5%");
    cr_expect_str_eq(t.endpoint, "x");
    cr_expect_float_eq(t.value, 0.05, 1e-12);
    cr_expect_str_eq(t.expr, "endpoint=x:errors<=5%");
}

/* Each bad expression fails, naming the 1-based position of the problem
 * (in the expression without spaces). */
Test(threshold, errors_name_their_position)
{
    static const struct {
        const char *s;
        const char *needle;
    } cases[] = {
        {"p(99<50ms", "at position 5: expected ')'"},
        {"p()<50ms", "at position 3: expected a percentile"},
        {"p(101)<1ms", "at position 3: percentile must be between 0 and 100"},
        {"p(-1)<1ms", "at position 3: percentile must be between 0 and 100"},
        {"mean<1ms", "at position 1: expected p(N), avg"},
        {"avg=1ms", "at position 4: expected <, <=, >, >=, == or !="},
        {"avg<", "at position 5: expected a value"},
        {"avg<fast", "at position 5: expected a duration"},
        {"rate>abc", "at position 6: expected a number"},
        {"errors<x%", "at position 8: expected a number before '%'"},
        {"rate>5%", "at position 7: '%' is only for errors"},
        {"speed:avg<1ms", "at position 1: unknown metric"},
        {"ttfb:rate>5", "at position 1: rate, errors, count and dropped take no metric"},
        {"endpoint=:avg<1ms", "at position 10: expected endpoint=NAME"},
        {"endpoint=abc", "at position 10: expected endpoint=NAME"},
        {"endpoint=a:avg<1ms!", "at position 16: expected a duration"},
        {"", "empty expression"},
        {"   ", "empty expression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        threshold t;
        err e = {0};
        cr_expect_neq(threshold_parse(cases[i].s, &t, &e), 0, "%s parsed", cases[i].s);
        cr_expect(strstr(e.msg, cases[i].needle) != NULL, "'%s': got '%s', want '%s'",
                  cases[i].s, e.msg, cases[i].needle);
    }
}

Test(threshold, too_long_is_refused)
{
    char s[400];
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = 0;
    threshold t;
    err e = {0};
    cr_expect_neq(threshold_parse(s, &t, &e), 0);
    cr_expect(strstr(e.msg, "too long") != NULL, "%s", e.msg);
}

/* Every operator just below, at and just above its value. */
Test(threshold, every_operator_at_its_boundary)
{
    static const struct {
        const char *op;
        bool below, at, above;
    } cases[] = {
        {"<", true, false, false},  {"<=", true, true, false}, {">", false, false, true},
        {">=", false, true, true},  {"==", false, true, false}, {"!=", true, false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[32];
        snprintf(s, sizeof s, "count%s100", cases[i].op);
        threshold t = parse_ok(s);
        cr_expect_eq(threshold_check(&t, 99.999), cases[i].below, "%s below", s);
        cr_expect_eq(threshold_check(&t, 100), cases[i].at, "%s at", s);
        cr_expect_eq(threshold_check(&t, 100.001), cases[i].above, "%s above", s);
    }
}

/* A fixed input: latency 1..100 ms (one each), other histograms distinct,
 * 200 requests of which 10 errors, 4 dropped, over 2 s. */
typedef struct fixture {
    hist *lat, *ttfb, *svc, *conn, *lag;
    metrics_totals tot;
    threshold_input in;
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->lat = hist_new();
    f->ttfb = hist_new();
    f->svc = hist_new();
    f->conn = hist_new();
    f->lag = hist_new();
    for (uint64_t ms = 1; ms <= 100; ms++) {
        hist_record(f->lat, ms * NS_PER_MS);
        hist_record(f->ttfb, ms * NS_PER_MS / 2);
        hist_record(f->svc, ms * NS_PER_MS / 4);
    }
    hist_record(f->conn, 7 * NS_PER_MS);
    hist_record(f->lag, 3 * NS_PER_US);
    f->tot.requests = 200;
    f->tot.errors = 10;
    f->tot.dropped = 4;
    f->in = (threshold_input){.tot = &f->tot, .elapsed_ns = 2 * NS_PER_S};
    f->in.dist[METRICS_DIST_LATENCY] = f->lat;
    f->in.dist[METRICS_DIST_TTFB] = f->ttfb;
    f->in.dist[METRICS_DIST_SERVICE] = f->svc;
    f->in.dist[METRICS_DIST_CONNECT] = f->conn;
    f->in.dist[METRICS_DIST_SEND_LAG] = f->lag;
}

static void fixture_free(fixture *f)
{
    hist_free(f->lat);
    hist_free(f->ttfb);
    hist_free(f->svc);
    hist_free(f->conn);
    hist_free(f->lag);
}

static double actual(const fixture *f, const char *s)
{
    threshold t = parse_ok(s);
    return threshold_actual(&t, &f->in);
}

/* Histogram values are within its precision (0.1 %). */
#define NEAR(a, b) (fabs((a) - (b)) <= (b) * 0.002 + 1)

Test(threshold, actual_value_of_every_aggregate)
{
    fixture f;
    fixture_init(&f);
    cr_expect(NEAR(actual(&f, "p(50)<1s"), 50e6), "%f", actual(&f, "p(50)<1s"));
    cr_expect(NEAR(actual(&f, "p(99)<1s"), 99e6), "%f", actual(&f, "p(99)<1s"));
    cr_expect(NEAR(actual(&f, "med<1s"), 50e6));
    cr_expect(NEAR(actual(&f, "avg<1s"), 50.5e6), "%f", actual(&f, "avg<1s"));
    cr_expect(NEAR(actual(&f, "min<1s"), 1e6));
    cr_expect(NEAR(actual(&f, "max<1s"), 100e6));
    cr_expect(NEAR(actual(&f, "ttfb:max<1s"), 50e6));
    cr_expect(NEAR(actual(&f, "service:max<1s"), 25e6));
    cr_expect(NEAR(actual(&f, "connect:avg<1s"), 7e6));
    cr_expect(NEAR(actual(&f, "send_lag:max<1s"), 3e3));
    cr_expect_float_eq(actual(&f, "rate>1"), 100.0, 1e-9);
    cr_expect_float_eq(actual(&f, "errors<1%"), 0.05, 1e-12);
    cr_expect_float_eq(actual(&f, "count>1"), 200.0, 1e-12);
    cr_expect_float_eq(actual(&f, "dropped<1"), 4.0, 1e-12);
    fixture_free(&f);
}

/* Whole pipeline at the boundary: errors are 5 %, so "errors<5%" fails and
 * "errors<=5%" passes; the rate is 100/s. */
Test(threshold, percent_and_rate_boundaries)
{
    fixture f;
    fixture_init(&f);
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"errors<5%", false},  {"errors<=5%", true},  {"errors<0.05", false},
        {"errors<5.01%", true}, {"errors>4.99%", true}, {"errors>5%", false},
        {"rate>=100", true},   {"rate>100", false},   {"rate<100.01", true},
        {"count==200", true},  {"count!=200", false}, {"dropped<=4", true},
        {"dropped<4", false},  {"max<=100ms", true},  {"max<99ms", false},
        {"min>=1ms", true},    {"min>1ms", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        threshold t = parse_ok(cases[i].s);
        cr_expect_eq(threshold_check(&t, threshold_actual(&t, &f.in)), cases[i].ok, "%s",
                     cases[i].s);
    }
    fixture_free(&f);
}

Test(threshold, empty_inputs_give_zero)
{
    metrics_totals tot = {0};
    threshold_input in = {.tot = &tot};
    threshold t = parse_ok("p(99)<1ms");
    cr_expect_float_eq(threshold_actual(&t, &in), 0, 1e-12);
    t = parse_ok("rate>0");
    cr_expect_float_eq(threshold_actual(&t, &in), 0, 1e-12);
    t = parse_ok("errors<1%");
    cr_expect_float_eq(threshold_actual(&t, &in), 0, 1e-12);
}

Test(threshold, live_only_for_latency)
{
    cr_expect(threshold_live(&(threshold){.metric = METRICS_DIST_LATENCY}));
    threshold t = parse_ok("ttfb:p(99)<1ms");
    cr_expect_not(threshold_live(&t));
    t = parse_ok("errors<1%");
    cr_expect(threshold_live(&t));
}

Test(threshold, formats_in_the_unit)
{
    char out[32];
    threshold t = parse_ok("errors<1%");
    threshold_format_actual(&t, 0.0052, out, sizeof out);
    cr_expect_str_eq(out, "0.520%");
    t = parse_ok("rate>1");
    threshold_format_actual(&t, 1234.56, out, sizeof out);
    cr_expect_str_eq(out, "1234.6/s");
    t = parse_ok("count>1");
    threshold_format_actual(&t, 42, out, sizeof out);
    cr_expect_str_eq(out, "42");
    t = parse_ok("p(99)<1s");
    threshold_format_actual(&t, 12.5e6, out, sizeof out);
    cr_expect(strstr(out, "12.5") && strstr(out, "ms"), "%s", out);
}
