/* Tests for monitor/selfmon: the generator-honesty verdict from a results
 * struct (saturated thread, a thread busy waiting for the host, late sends with and without a busy thread,
 * requests never sent, and the cases where the server is the cause). */
#include "monitor/selfmon.h"

#include "core/clock.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static results r;

static void open_run(double rate, uint64_t requests, uint64_t lag_ns)
{
    results_init(&r);
    snprintf(r.plan.executor, sizeof r.plan.executor, "constant-arrival-rate");
    r.plan.rate_per_s = rate;
    r.plan.duration_ns = NS_PER_S;
    r.st.tot.requests = requests;
    hist_record_n(r.st.send_lag, lag_ns, requests ? requests : 1);
    r.generator.measured = true;
    r.generator.cpu_max_pct = 20;
}

static void teardown(void)
{
    results_free(&r);
}

TestSuite(selfmon, .fini = teardown);

Test(selfmon, keeping_the_schedule_is_ok)
{
    open_run(1000, 1000, 100000);
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind, "%s", r.generator.why);
    cr_assert_float_eq(r.generator.sent_share, 1.0, 1e-9);
    cr_assert_eq(r.generator.lag_p99_ns, hist_percentile(r.st.send_lag, 99));
}

Test(selfmon, saturated_thread_is_behind)
{
    open_run(1000, 1000, 100000);
    r.generator.cpu_max_pct = 97;
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
    cr_assert(strstr(r.generator.why, "busy 97%"), "%s", r.generator.why);
}

Test(selfmon, busy_waiting_for_the_host_is_a_note_unless_sends_were_late)
{
    /* 85 % busy, 70 of it on the run queue, sends on time: the host. */
    open_run(500, 500, 100000);
    r.generator.cpu_max_pct = 85;
    r.generator.wait_max_pct = 70;
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind, "%s", r.generator.why);
    cr_assert(strstr(r.generator.note, "the host, not volley"), "%s", r.generator.note);
    /* The same thread with late sends: the verdict, by the lag rule. */
    results_free(&r);
    open_run(500, 500, 50 * NS_PER_MS);
    r.generator.cpu_max_pct = 85;
    r.generator.wait_max_pct = 70;
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
    cr_assert(strstr(r.generator.why, "median request left"), "%s", r.generator.why);
    /* The same thread while the schedule was dropped: it was the limit on
     * the CPU it got, so the verdict (a CPU-starved CI host running a rate
     * one thread cannot keep must still say so). */
    results_free(&r);
    open_run(500, 300, 100000);
    r.st.tot.dropped = 200;
    r.generator.cpu_max_pct = 97;
    r.generator.wait_max_pct = 70;
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
    cr_assert(strstr(r.generator.why, "200 iterations were dropped"), "%s", r.generator.why);
    /* Mostly running (wait under half the busy time): saturated. */
    results_free(&r);
    open_run(500, 500, 100000);
    r.generator.cpu_max_pct = 85;
    r.generator.wait_max_pct = 40;
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
    cr_assert(strstr(r.generator.why, "saturated"), "%s", r.generator.why);
}

Test(selfmon, late_sends_from_a_busy_thread_are_behind)
{
    open_run(1000, 1000, 50 * NS_PER_MS);
    r.generator.cpu_max_pct = 60;
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
    cr_assert(strstr(r.generator.why, "median request left"), "%s", r.generator.why);
}

Test(selfmon, late_sends_from_idle_threads_are_a_host_note)
{
    open_run(1000, 1000, 50 * NS_PER_MS);
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind, "%s", r.generator.why);
    cr_assert(strstr(r.generator.note, "the host delayed"), "%s", r.generator.note);
}

Test(selfmon, late_sends_with_drops_are_the_servers_doing)
{
    open_run(1000, 900, 50 * NS_PER_MS);
    r.generator.cpu_max_pct = 60;
    r.st.tot.dropped = 100;
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind, "%s", r.generator.why);
}

Test(selfmon, requests_never_sent_are_behind_unless_errors)
{
    open_run(1000, 900, 100000);
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
    cr_assert(strstr(r.generator.why, "sent 90.0%"), "%s", r.generator.why);
    r.st.tot.errors = 5;
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind);
}

Test(selfmon, closed_model_has_no_lag_or_target)
{
    results_init(&r);
    snprintf(r.plan.executor, sizeof r.plan.executor, "constant-vus");
    r.st.tot.requests = 10;
    hist_record(r.st.send_lag, 5 * NS_PER_S);
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind);
    cr_assert_eq(r.generator.lag_p99_ns, 0);
    cr_assert_eq(r.generator.target_rps, 0);
}

Test(selfmon, a_segment_is_judged_on_its_share_of_the_rate)
{
    open_run(1000, 500, 100000); /* segment 1/2 of a 1000/s plan sent its 500 */
    r.segment_k = 1;
    r.segment_n = 2;
    selfmon_judge(&r);
    cr_assert_not(r.generator.behind, "%s", r.generator.why);
    cr_assert_float_eq(r.generator.target_rps, 500, 1e-9);
    cr_assert_float_eq(r.generator.sent_share, 1.0, 1e-9);
    r.st.tot.requests = 400; /* 80 % of its share: behind */
    selfmon_judge(&r);
    cr_assert(r.generator.behind);
}
