/* Tests for results_correct_closed: the closed model's corrected latency
 * (HdrHistogram's expected-interval method, as wrk applies it), per run and
 * per endpoint, and that open-model runs get none. */
#include "results/results.h"

#include "core/clock.h"

#include <criterion/criterion.h>
#include <stdio.h>

static results r;

static void closed_run(uint32_t vus, uint64_t elapsed_ns)
{
    results_init(&r);
    snprintf(r.plan.executor, sizeof r.plan.executor, "constant-vus");
    snprintf(r.plan.mode, sizeof r.plan.mode, "per-endpoint");
    r.plan.connections = vus;
    r.st.elapsed_ns = elapsed_ns;
}

static void teardown(void)
{
    results_free(&r);
}

TestSuite(correct, .fini = teardown);

Test(correct, a_stall_adds_the_requests_it_held_back)
{
    /* One connection, 99 requests of 1 ms and one of 100 ms: 199 ms in
     * 100 requests, so E = 1.99 ms; the stall stands for 49 more. */
    closed_run(1, 199 * NS_PER_MS);
    hist_record_n(r.st.latency, NS_PER_MS, 99);
    hist_record(r.st.latency, 100 * NS_PER_MS);
    r.st.tot.requests = 100;
    results_correct_closed(&r);
    const hist *c = r.st.latency_corrected;
    cr_assert_eq(hist_count(c), 149, "count %llu", (unsigned long long)hist_count(c));
    cr_assert_eq(hist_max(c), hist_max(r.st.latency));
    /* Raw p99 is 1 ms; corrected, a third of the values lie in the stall. */
    cr_assert_lt(hist_percentile(r.st.latency, 99), 2 * NS_PER_MS);
    uint64_t p99 = hist_percentile(c, 99);
    cr_assert(p99 > 90 * NS_PER_MS && p99 <= 101 * NS_PER_MS, "p99 %llu", (unsigned long long)p99);
    uint64_t p75 = hist_percentile(c, 75);
    /* rank 112 of 149: the 13th synthetic value from the bottom, ~26 ms */
    cr_assert(p75 > 20 * NS_PER_MS && p75 < 32 * NS_PER_MS, "p75 %llu", (unsigned long long)p75);
}

Test(correct, no_value_above_the_interval_changes_nothing)
{
    closed_run(10, NS_PER_S);
    hist_record_n(r.st.latency, 5 * NS_PER_MS, 2000); /* E = 5 ms */
    r.st.tot.requests = 2000;
    results_correct_closed(&r);
    cr_assert_eq(hist_count(r.st.latency_corrected), 2000);
    cr_assert_eq(hist_percentile(r.st.latency_corrected, 99), hist_percentile(r.st.latency, 99));
}

Test(correct, endpoints_are_corrected_too)
{
    closed_run(1, 199 * NS_PER_MS);
    results_endpoint *ep = results_add_endpoint(&r, "a", "GET", "http://127.0.0.1/");
    cr_assert_not_null(ep);
    hist_record_n(ep->st.latency, NS_PER_MS, 99);
    hist_record(ep->st.latency, 100 * NS_PER_MS);
    ep->st.tot.requests = 100;
    ep->st.elapsed_ns = 199 * NS_PER_MS;
    results_correct_closed(&r);
    cr_assert_eq(hist_count(ep->st.latency_corrected), 149);
}

Test(correct, open_model_gets_none)
{
    closed_run(64, NS_PER_S);
    snprintf(r.plan.executor, sizeof r.plan.executor, "constant-arrival-rate");
    hist_record(r.st.latency, NS_PER_S);
    r.st.tot.requests = 1;
    results_correct_closed(&r);
    cr_assert_eq(hist_count(r.st.latency_corrected), 0);
}
