/* Tests for results/stepsync: a segment alone waits the timeout and names
 * the missing segment and its file; once every segment's file of the step
 * is in the folder, each segment gets the same exact merge (counts added,
 * per-second breakdown columns added, send-lag p99 the larger), and the
 * latest write time and any "behind" verdict. */
#include "results/stepsync.h"

#include "core/clock.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1796184000000000000ULL

/* Segment k of 2 of one step: n responses, a third of them 503. */
static void step_results(results *r, uint32_t k, uint64_t n)
{
    cr_assert_eq(results_init(r), 0);
    snprintf(r->plan.url, sizeof r->plan.url, "http://127.0.0.1:1/");
    snprintf(r->plan.method, sizeof r->plan.method, "GET");
    snprintf(r->plan.executor, sizeof r->plan.executor, "constant-arrival-rate");
    r->plan.rate_per_s = 100;
    r->plan.duration_ns = NS_PER_S;
    r->plan.threads = 1;
    r->start_wall_ns = T0;
    r->end_wall_ns = T0 + NS_PER_S;
    r->segment_k = k;
    r->segment_n = 2;
    r->st.elapsed_ns = NS_PER_S;
    for (uint64_t i = 0; i < n; i++) {
        int status = i % 3 ? 200 : 503;
        hist_record(r->st.latency, 1000000 + i);
        r->st.tot.requests++;
        r->st.tot.responses++;
        r->st.tot.errors += status == 503;
        r->st.tot.status[status]++;
    }
    series_row w = {.requests = n, .responses = n, .send_lag_p99_ns = 1000000 * k};
    w.status_class[5] = (n + 2) / 3;
    w.status_class[2] = n - w.status_class[5];
    cr_assert_eq(series_append(&r->st.sec, &w), 0);
}

static char *temp_dir(void)
{
    char *d = strdup("/tmp/volley-stepsync-XXXXXX");
    cr_assert(d && mkdtemp(d));
    return d;
}

Test(stepsync, a_missing_segment_is_named_after_the_timeout)
{
    char *dir = temp_dir();
    stepsync_config c = {.dir = dir, .run_key = T0, .k = 1, .n = 2, .timeout_ns = 50 * NS_PER_MS};
    results r, merged;
    stepsync_info info;
    err e = {0};
    step_results(&r, 1, 30);
    cr_assert_eq(stepsync_exchange(&c, 0, &r, &merged, &info, &e), VOLLEY_EAGAIN);
    cr_assert(strstr(e.msg, "segment 2/2 wrote no result for step 1 within 0.1s"), "%s", e.msg);
    cr_assert(strstr(e.msg, "step001-seg2of2.json"), "%s", e.msg);
    results_free(&r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

Test(stepsync, every_segment_gets_the_same_exact_merge)
{
    char *dir = temp_dir();
    stepsync_config c2 = {.dir = dir, .run_key = T0, .k = 2, .n = 2, .timeout_ns = NS_PER_MS};
    stepsync_config c1 = c2;
    c1.k = 1;
    results r1, r2, m1, m2;
    stepsync_info i1, i2;
    err e = {0};
    step_results(&r2, 2, 40);
    r2.generator.measured = true;
    r2.generator.behind = true;
    /* Segment 2 first: alone, it times out, but its file stays for the others. */
    cr_assert_eq(stepsync_exchange(&c2, 0, &r2, &m2, &i2, &e), VOLLEY_EAGAIN);
    step_results(&r1, 1, 30);
    cr_assert_eq(stepsync_exchange(&c1, 0, &r1, &m1, &i1, &e), 0, "%s", e.msg);
    /* And now segment 2 again: both files are there. */
    cr_assert_eq(stepsync_exchange(&c2, 0, &r2, &m2, &i2, &e), 0, "%s", e.msg);
    cr_assert_eq(m1.st.tot.requests, 70);
    cr_assert_eq(m1.st.tot.status[503], 10 + 14);
    cr_assert_eq(hist_count(m1.st.latency), 70);
    cr_assert_eq(m1.st.sec.len, 1);
    cr_assert_eq(m1.st.sec.rows[0].status_class[5], 24);
    cr_assert_eq(m1.st.sec.rows[0].status_class[2], 46);
    cr_assert_eq(m1.st.sec.rows[0].send_lag_p99_ns, 2000000, "the larger of the two");
    cr_assert(i1.any_behind && i2.any_behind, "segment 2 fell behind");
    cr_assert(i1.last_written_ns >= T0 && i2.last_written_ns >= i1.last_written_ns);
    cr_assert_eq(m2.st.tot.requests, m1.st.tot.requests);
    cr_assert_eq(hist_percentile(m2.st.latency, 99), hist_percentile(m1.st.latency, 99));
    results_free(&r1);
    results_free(&r2);
    results_free(&m1);
    results_free(&m2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}
