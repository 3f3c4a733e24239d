/* Tests for load/search: the find-max rate search driven by simulated
 * targets (a queue with a known capacity, a target that always fails, a
 * generator that falls short), the knee and the config checks. */
#include "load/search.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A single-queue server of capacity cap with 2 ms service: flat p99 below
 * cap, then the backlog of a 2 s step (excess x 2 s / cap) on top. */
static search_step simulate(double rate, double cap, double slo_ms)
{
    double p99_ms = 2.0;
    if (rate > cap)
        p99_ms += (rate - cap) * 2.0 / cap * 1000.0;
    search_step st = {.target_rps = rate, .achieved_rps = rate < cap ? rate : cap,
                      .p50_ns = (uint64_t)(p99_ms * 0.5e6), .p95_ns = (uint64_t)(p99_ms * 0.9e6),
                      .p99_ns = (uint64_t)(p99_ms * 1e6), .requests = (uint64_t)rate * 2};
    st.pass = p99_ms < slo_ms;
    return st;
}

static search run_search(const search_config *c, double cap, double slo_ms)
{
    search s;
    search_init(&s, c);
    double r;
    while ((r = search_next(&s)) > 0) {
        search_step st = simulate(r, cap, slo_ms);
        search_record(&s, &st);
    }
    return s;
}

typedef struct cap_case {
    double cap, start;
} cap_case;

static const cap_case CAPS[] = {{500, 100}, {2000, 100}, {8000, 1000}, {333, 500}, {100000, 50}};

ParameterizedTestParameters(rate_search, finds_capacity_within_precision)
{
    return cr_make_param_array(cap_case, CAPS, sizeof CAPS / sizeof CAPS[0]);
}

ParameterizedTest(cap_case *k, rate_search, finds_capacity_within_precision)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    c.start_rate = k->start;
    search s = run_search(&c, k->cap, 50);
    cr_assert_eq(s.state, SEARCH_FOUND, "cap %.0f: state %s", k->cap, search_state_name(s.state));
    /* 50 ms of backlog over 2 s is 2.4 % above capacity: the true limit. */
    double limit = k->cap * 1.024;
    cr_assert(s.pass_rate <= limit && s.pass_rate >= limit * 0.95, "cap %.0f: max %.1f", k->cap,
              s.pass_rate);
    cr_assert(s.fail_rate >= limit, "fail %.1f", s.fail_rate);
    cr_assert(search_margin(&s) <= 0.05 + 1e-9);
    double knee = search_knee(&s);
    cr_assert(fabs(knee - k->cap) <= 0.15 * k->cap, "cap %.0f: knee %.1f", k->cap, knee);
    cr_assert(s.nsteps <= 20);
}

Test(rate_search, fails_at_lowest_rate_is_none)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    c.start_rate = 100;
    c.min_rate = 10;
    search s = run_search(&c, 5, 50);
    cr_assert_eq(s.state, SEARCH_NONE);
    cr_assert_eq(s.pass_rate, 0);
    /* 100, 50, 25, 12.5; the next (6.25) is below the lowest rate. */
    cr_assert_eq(s.nsteps, 4);
}

Test(rate_search, probes_down_then_bisects)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    c.start_rate = 1000;
    search s = run_search(&c, 300, 50);
    cr_assert_eq(s.state, SEARCH_FOUND);
    cr_assert_eq(s.steps[0].target_rps, 1000);
    cr_assert_eq(s.steps[1].target_rps, 500);
    cr_assert_eq(s.steps[2].target_rps, 250);
    cr_assert(s.pass_rate >= 290 && s.pass_rate <= 310, "max %.1f", s.pass_rate);
}

Test(rate_search, passing_at_max_rate_is_ceiling)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    c.start_rate = 100;
    c.max_rate = 700;
    search s = run_search(&c, 5000, 50);
    cr_assert_eq(s.state, SEARCH_CEILING);
    cr_assert_eq(s.pass_rate, 700);
    cr_assert_eq(s.steps[s.nsteps - 1].target_rps, 700); /* 100 200 400 700 */
    cr_assert_eq(s.nsteps, 4);
}

Test(rate_search, generator_short_stops_with_at_least)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    search s;
    search_init(&s, &c);
    search_step a = simulate(100, 1e6, 50), b = simulate(200, 1e6, 50);
    search_record(&s, &a);
    cr_assert_eq(search_next(&s), 200);
    b.achieved_rps = 150;
    b.gen_short = true;
    search_record(&s, &b);
    cr_assert_eq(s.state, SEARCH_GEN_LIMIT);
    cr_assert_eq(search_next(&s), 0);
    cr_assert_eq(s.pass_rate, 150);
}

Test(rate_search, step_limit_stops_before_precision)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    c.max_steps = 5;
    c.precision = 0.001;
    search s = run_search(&c, 1234, 50);
    cr_assert_eq(s.state, SEARCH_STEP_LIMIT);
    cr_assert_eq(s.nsteps, 5);
    cr_assert(s.pass_rate > 0 && s.fail_rate > s.pass_rate);
}

Test(rate_search, noisy_failure_below_best_pass_lowers_it)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    search s;
    search_init(&s, &c);
    double rates[] = {100, 200, 400};
    bool pass[] = {true, true, false};
    for (int i = 0; i < 3; i++) {
        search_step st = {.target_rps = rates[i], .pass = pass[i], .p99_ns = 1000000};
        search_record(&s, &st);
    }
    cr_assert_eq(search_next(&s), 300);
    search_step f = {.target_rps = 300, .pass = false};
    search_record(&s, &f);
    cr_assert_eq(search_next(&s), 250);
    search_step g = {.target_rps = 150, .pass = false};
    s.next_rate = 150; /* as if a retry at a lower rate failed */
    search_record(&s, &g);
    cr_assert_eq(s.fail_rate, 150);
    cr_assert_eq(s.pass_rate, 100);
}

Test(rate_search, knee_on_the_median_ignores_one_noisy_flat_step)
{
    search s;
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    search_init(&s, &c);
    uint64_t p50_ms[] = {2, 5, 2, 2, 30, 60};
    double rates[] = {100, 200, 300, 400, 500, 600};
    for (int i = 0; i < 6; i++)
        s.steps[s.nsteps++] = (search_step){.target_rps = rates[i], .p50_ns = p50_ms[i] * 1000000,
                                            .p99_ns = 900000000};
    cr_assert_float_eq(search_knee(&s), 450, 1e-9);
}

Test(rate_search, no_knee_when_the_median_never_rose)
{
    search s;
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    search_init(&s, &c);
    for (int i = 0; i < 4; i++)
        s.steps[s.nsteps++] = (search_step){.target_rps = 100.0 * (i + 1), .p50_ns = 2000000,
                                            .p99_ns = 2000000 * (uint64_t)(i + 1) * 50};
    cr_assert_eq(search_knee(&s), 0);
}

Test(rate_search, config_check_names_the_flag)
{
    search_config c;
    search_config_defaults(&c);
    c.retries = 0;
    cr_assert_null(search_config_check(&c));
    c.precision = 0;
    cr_assert_str_eq(search_config_check(&c), "--precision must be between 0% and 100%");
    search_config_defaults(&c);
    c.retries = 0;
    c.max_rate = 10;
    cr_assert_not_null(strstr(search_config_check(&c), "--max-rate"));
    search_config_defaults(&c);
    c.retries = 0;
    c.max_steps = 1;
    cr_assert_not_null(strstr(search_config_check(&c), "--max-steps"));
}

Test(rate_search, a_failure_is_retried_and_a_pass_on_retry_counts)
{
    search_config c;
    search_config_defaults(&c); /* retries 1 */
    search s;
    search_init(&s, &c);
    search_step ok = {.target_rps = 100, .pass = true, .p99_ns = 1000000};
    search_record(&s, &ok);
    cr_assert_eq(search_next(&s), 200);
    search_step hiccup = {.target_rps = 200, .pass = false, .p99_ns = 90000000};
    search_record(&s, &hiccup);
    cr_assert(s.steps[1].retried);
    cr_assert_eq(search_next(&s), 200, "the same rate again");
    search_step fine = {.target_rps = 200, .pass = true, .p99_ns = 1000000};
    search_record(&s, &fine);
    cr_assert_eq(s.pass_rate, 200);
    cr_assert_eq(s.fail_rate, 0);
    cr_assert_eq(search_next(&s), 400);
    /* Two failures in a row: a real failure. */
    search_step f1 = {.target_rps = 400, .pass = false}, f2 = f1;
    search_record(&s, &f1);
    search_record(&s, &f2);
    cr_assert_eq(s.fail_rate, 400);
    cr_assert_not(s.steps[4].retried);
    cr_assert_eq(search_next(&s), 300);
    /* The retried hiccup is no point of the latency curve. */
    cr_assert_eq(search_knee(&s), 0);
}

/* The q-quantile of the waits in a step of t_s seconds at (1 + p) r into
 * one queue of service time 1/r that may start work up to absorb_s before
 * its arrival when it was idle (volley serve --capacity's token bucket). */
static double simulated_wait_s(double r, double p, double absorb_s, double q, double t_s)
{
    size_t n = (size_t)(r * (1 + p) * t_s);
    double svc = 1 / r, gap = 1 / (r * (1 + p)), free_at = -1e9;
    double *w = malloc(n * sizeof *w);
    cr_assert_not_null(w);
    for (size_t i = 0; i < n; i++) {
        double at = (double)i * gap, start = free_at > at - absorb_s ? free_at : at - absorb_s;
        free_at = start + svc;
        w[i] = start - at; /* negative: served from the idle allowance */
    }
    size_t k = (size_t)ceil(q * (double)n) - 1;
    /* one queue in order: the waits only grow */
    double v = w[k];
    free(w);
    return v;
}

typedef struct overload_case {
    double bound_ms, absorb_ms, precision, q, want_s;
} overload_case;

static const overload_case OVERLOAD[] = {
    {50, 50, 0.05, 0.99, 2.021}, /* p(99)<50ms at 5 %: (50 + 50) ms / (0.05 x 0.99) */
    {25, 50, 0.05, 0.5, 3.0},    /* p(50)<25ms */
    {25, 0, 0.10, 0.5, 0.5},     /* nothing absorbed, 10 % */
    {100, 50, 0.02, 0.95, 7.895},
};

ParameterizedTestParameters(rate_search, overload_rule_is_the_time_a_queue_needs)
{
    return cr_make_param_array(overload_case, OVERLOAD, sizeof OVERLOAD / sizeof OVERLOAD[0]);
}

/* The formula, and what it claims on a simulated queue: a step of that
 * length at (1 + precision) x capacity puts the q-quantile of the waits on
 * the bound, so a step 2 % longer breaks it and one 5 % shorter does not
 * (the rule is as long as it needs to be, and no longer). */
ParameterizedTest(overload_case *k, rate_search, overload_rule_is_the_time_a_queue_needs)
{
    double t = search_overload_s((uint64_t)(k->bound_ms * 1e6), (uint64_t)(k->absorb_ms * 1e6),
                                 k->precision, k->q);
    cr_assert(fabs(t - k->want_s) < 1e-9, "rule %.4f s, want %.4f s", t, k->want_s);
    double bound = k->bound_ms / 1000, absorb = k->absorb_ms / 1000;
    for (double r = 500; r <= 8000; r *= 4) {
        double at = simulated_wait_s(r, k->precision, absorb, k->q, t * 1.02);
        double short_of = simulated_wait_s(r, k->precision, absorb, k->q, t * 0.95);
        cr_assert(at > bound, "R %.0f: q-wait %.2f ms at %.3f s, bound %.0f ms", r, at * 1000,
                  t * 1.02, k->bound_ms);
        cr_assert(short_of <= bound, "R %.0f: q-wait %.2f ms at %.3f s already past %.0f ms", r,
                  short_of * 1000, t * 0.95, k->bound_ms);
    }
}

Test(rate_search, overload_rule_needs_a_precision_and_a_quantile)
{
    cr_assert_eq(search_overload_s(50000000, 0, 0, 0.99), 0);
    cr_assert_eq(search_overload_s(50000000, 0, 0.05, 0), 0);
}
