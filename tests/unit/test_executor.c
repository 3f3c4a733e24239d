/* Tests for load/executor: iterations per second for every shape, --hold,
 * executor_time_of against executor_count_at for every iteration of every
 * shape, stage parsing errors, and the segment x worker partition of the
 * schedule (disjoint and complete for n in 1..8 and 1..8 workers). */
#include "core/clock.h"
#include "load/executor.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static executor constant_rate(double rate, uint64_t secs)
{
    return (executor){.kind = EXEC_CONSTANT_RATE, .rate = rate, .duration_ns = secs * NS_PER_S};
}

static executor ramp(executor_kind k, const char *stages, uint64_t hold_ns)
{
    executor x = {.kind = k};
    err e = {0};
    cr_assert_eq(executor_parse_stages(&x, stages, hold_ns, &e), 0, "%s: %s", stages, e.msg);
    return x;
}

/* Iterations whose start falls in second s, counted from time_of. */
static uint64_t started_in(const executor *x, uint64_t s)
{
    uint64_t n = 0, total = executor_total(x);
    for (uint64_t i = 0; i < total; i++) {
        uint64_t t = executor_time_of(x, i);
        n += t >= s * NS_PER_S && t < (s + 1) * NS_PER_S;
    }
    return n;
}

Test(executor, constant_rate_per_second)
{
    executor x = constant_rate(250, 4);
    cr_expect_eq(executor_total(&x), 1000);
    for (uint64_t s = 0; s < 4; s++)
        cr_expect_eq(started_in(&x, s), 250, "second %lu", (unsigned long)s);
    cr_expect_eq(executor_time_of(&x, 0), 0);
    cr_expect_eq(executor_time_of(&x, 1), 4 * NS_PER_MS);
    cr_expect_eq(executor_time_of(&x, 999), 3996 * NS_PER_MS);
    cr_expect_eq(executor_time_of(&x, 1000), UINT64_MAX);
    cr_expect_float_eq(executor_rate_at(&x, 0), 250, 1e-9);
    cr_expect_float_eq(executor_rate_at(&x, 4 * NS_PER_S), 0, 1e-9);
}

/* 0 -> 100/s over 10 s: second s holds the integral 10s + 5 (5, 15, ... 95). */
Test(executor, ramping_rate_per_second)
{
    executor x = ramp(EXEC_RAMPING_RATE, "100:10s", 0);
    cr_expect_eq(executor_total(&x), 500);
    for (uint64_t s = 0; s < 10; s++) {
        uint64_t n = started_in(&x, s);
        cr_expect(n >= 10 * s + 4 && n <= 10 * s + 6, "second %lu: %lu", (unsigned long)s,
                  (unsigned long)n);
    }
    cr_expect_float_eq(executor_rate_at(&x, 5 * NS_PER_S), 50, 1e-6);
    cr_expect_float_eq(executor_max_rate(&x), 100, 1e-9);
}

/* Up, hold, down: 0->200 in 2 s, 200 for 2 s, 200->0 in 2 s. */
Test(executor, ramping_up_hold_down)
{
    executor x = ramp(EXEC_RAMPING_RATE, "200:2s,200:2s,0:2s", 0);
    cr_expect_eq(executor_duration_ns(&x), 6 * NS_PER_S);
    cr_expect_eq(executor_total(&x), 200 + 400 + 200);
    static const uint64_t want[6] = {50, 150, 200, 200, 150, 50};
    for (uint64_t s = 0; s < 6; s++) {
        uint64_t n = started_in(&x, s);
        cr_expect(n + 1 >= want[s] && n <= want[s] + 1, "second %lu: %lu", (unsigned long)s,
                  (unsigned long)n);
    }
}

/* --hold inserts a stage holding each target. */
Test(executor, hold_inserts_a_stage_after_each_target)
{
    executor x = ramp(EXEC_RAMPING_RATE, "100:1s,300:2s", 3 * NS_PER_S);
    cr_assert_eq(x.nstages, 4);
    static const double tgt[4] = {100, 100, 300, 300};
    static const uint64_t dur[4] = {1, 3, 2, 3};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_float_eq(x.stages[i].target, tgt[i], 1e-12);
        cr_expect_eq(x.stages[i].duration_ns, dur[i] * NS_PER_S);
    }
    cr_expect_eq(executor_duration_ns(&x), 9 * NS_PER_S);
    /* 50 + 300 + 400 + 900 */
    cr_expect_eq(executor_total(&x), 1650);
    cr_expect_eq(started_in(&x, 2), 100);
    cr_expect_eq(started_in(&x, 7), 300);
}

Test(executor, ramping_vus_and_constant_vus)
{
    executor c = {.kind = EXEC_CONSTANT_VUS, .vus = 7, .duration_ns = 3 * NS_PER_S};
    cr_expect_eq(executor_vus_at(&c, 0), 7);
    cr_expect_eq(executor_max_vus(&c), 7);
    cr_expect_not(executor_is_open(&c));
    executor x = ramp(EXEC_RAMPING_VUS, "10:10s,10:5s,0:5s", 0);
    cr_expect_not(executor_is_open(&x));
    cr_expect_eq(executor_max_vus(&x), 10);
    for (uint64_t s = 0; s < 10; s++)
        cr_expect_eq(executor_vus_at(&x, s * NS_PER_S), s, "at %lus", (unsigned long)s);
    cr_expect_eq(executor_vus_at(&x, 12 * NS_PER_S), 10);
    cr_expect_eq(executor_vus_at(&x, 17 * NS_PER_S + NS_PER_S / 2), 5);
    cr_expect_eq(executor_vus_at(&x, 20 * NS_PER_S), 0);
    x = ramp(EXEC_RAMPING_VUS, "5:1s", 2 * NS_PER_S);
    cr_expect_eq(executor_vus_at(&x, 2 * NS_PER_S), 5);
    cr_expect_eq(executor_duration_ns(&x), 3 * NS_PER_S);
}

/* For every iteration of every shape: time_of(i) is where count_at reaches
 * i (within a nanosecond's worth of the rate), non-decreasing, inside the
 * run, and one past the last is UINT64_MAX. */
Test(executor, time_of_inverts_count_at_for_every_iteration)
{
    executor shapes[] = {
        constant_rate(1000, 3),
        constant_rate(333.3, 2),
        ramp(EXEC_RAMPING_RATE, "1000:2s", 0),
        ramp(EXEC_RAMPING_RATE, "500:1s,100:1s,800:2s,0:1s", 0),
        ramp(EXEC_RAMPING_RATE, "300:1s", NS_PER_S),
    };
    shapes[4].start_target = 50;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const executor *x = &shapes[k];
        uint64_t total = executor_total(x), prev = 0;
        cr_assert_gt(total, 100);
        double max_rate = executor_max_rate(x);
        for (uint64_t i = 0; i < total; i++) {
            uint64_t t = executor_time_of(x, i);
            cr_assert_lt(t, executor_duration_ns(x), "shape %zu i %lu", k, (unsigned long)i);
            cr_assert_geq(t, prev, "shape %zu i %lu not monotonic", k, (unsigned long)i);
            double n = executor_count_at(x, t);
            cr_assert(fabs(n - (double)i) <= max_rate * 1e-9 + 1e-6,
                      "shape %zu: count_at(time_of(%lu)) = %.9f", k, (unsigned long)i, n);
            prev = t;
        }
        cr_expect_eq(executor_time_of(x, total), UINT64_MAX, "shape %zu", k);
        cr_expect_float_eq(ceil(executor_count_at(x, executor_duration_ns(x)) - 1e-6),
                           (double)total, 1e-9);
    }
}

Test(executor, stage_parse_errors)
{
    static const struct {
        const char *s, *needle;
    } cases[] = {
        {"", "empty"},
        {"100", "targets without durations need the total"},
        {"100:1s,,5:1s", "bad stage at position 8"},
        {"100:1s,", "trailing ','"},
        {"x:1s", "--stages target"},
        {"10:forever", "--stages duration"},
        {"0:0s", "total duration is 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        executor x = {.kind = EXEC_RAMPING_RATE};
        err e = {0};
        cr_expect_neq(executor_parse_stages(&x, cases[i].s, 0, &e), 0, "%s", cases[i].s);
        cr_expect(strstr(e.msg, cases[i].needle) != NULL, "'%s': %s", cases[i].s, e.msg);
    }
    char many[1024] = "";
    for (int i = 0; i < EXEC_MAX_STAGES + 1; i++)
        strcat(many, i ? ",1:1s" : "1:1s");
    executor x = {.kind = EXEC_RAMPING_RATE};
    err e = {0};
    cr_expect_neq(executor_parse_stages(&x, many, 0, &e), 0);
    cr_expect(strstr(e.msg, "more than 64 stages") != NULL, "%s", e.msg);
}

Test(executor, names)
{
    for (int k = EXEC_CONSTANT_VUS; k <= EXEC_RAMPING_RATE; k++)
        cr_expect_eq(executor_kind_from_name(executor_name((executor_kind)k)), k);
    cr_expect_eq(executor_kind_from_name("per-vu-iterations"), -1);
    cr_expect_str_eq(executor_name(EXEC_CONSTANT_RATE), "constant-arrival-rate");
}

/* Every iteration below the limit is run by exactly one (segment, worker),
 * for every n in 1..8 segments and 1..8 workers. */
Test(executor, segments_and_workers_partition_the_schedule)
{
    const uint64_t limit = 997; /* prime: no accidental alignment */
    unsigned char *seen = malloc(limit);
    cr_assert(seen);
    for (uint32_t n = 1; n <= 8; n++)
        for (uint32_t T = 1; T <= 8; T++) {
            memset(seen, 0, limit);
            for (uint32_t k = 1; k <= n; k++)
                for (uint32_t w = 0; w < T; w++) {
                    exec_slice sl = executor_slice(k, n, w, T);
                    cr_assert_eq(sl.stride, (uint64_t)n * T);
                    for (uint64_t i = sl.first; i < limit; i += sl.stride) {
                        cr_assert_eq(i % n, k - 1, "n %u T %u: %lu not in segment %u", n, T,
                                     (unsigned long)i, k);
                        cr_assert_eq(seen[i], 0, "n %u T %u: %lu run twice", n, T,
                                     (unsigned long)i);
                        seen[i] = 1;
                    }
                }
            for (uint64_t i = 0; i < limit; i++)
                cr_assert_eq(seen[i], 1, "n %u T %u: %lu never run", n, T, (unsigned long)i);
        }
    free(seen);
}

/* The targets-only form splits the total evenly; the last stage takes the
 * remainder, so the stages add up to the total exactly. */
Test(executor, targets_only_form_splits_the_total)
{
    cr_expect(executor_stages_need_total("10,50,100"));
    cr_expect_not(executor_stages_need_total("10:1s,50:1s"));
    executor x = {.kind = EXEC_RAMPING_RATE};
    err e = {0};
    cr_assert_eq(executor_parse_stages_total(&x, "10,50,100", 0, 10 * NS_PER_S, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(x.nstages, 3);
    cr_expect_eq(x.stages[0].duration_ns, 3333333333ULL);
    cr_expect_eq(x.stages[2].duration_ns, 10 * NS_PER_S - 2 * 3333333333ULL);
    cr_expect_float_eq(x.stages[1].target, 50, 1e-12);
    cr_expect_eq(executor_duration_ns(&x), 10 * NS_PER_S);
    x = (executor){.kind = EXEC_RAMPING_RATE};
    cr_assert_eq(executor_parse_stages_total(&x, "5,7", NS_PER_S, 4 * NS_PER_S, &e), 0, "%s", e.msg);
    cr_assert_eq(x.nstages, 4);
    cr_expect_eq(x.stages[1].duration_ns, NS_PER_S);
    cr_expect_eq(executor_duration_ns(&x), 6 * NS_PER_S);
    static const struct {
        const char *s, *needle;
        uint64_t total;
    } bad[] = {
        {"10,,20", "bad target at position 4", 2 * NS_PER_S},
        {"10,x", "--stages target", 2 * NS_PER_S},
        {"10,20", "need the total", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x = (executor){.kind = EXEC_RAMPING_RATE};
        err_clear(&e);
        cr_expect_neq(executor_parse_stages_total(&x, bad[i].s, 0, bad[i].total, &e), 0, "%s",
                      bad[i].s);
        cr_expect(strstr(e.msg, bad[i].needle) != NULL, "'%s': %s", bad[i].s, e.msg);
    }
    /* The full form ignores the total. */
    x = (executor){.kind = EXEC_RAMPING_RATE};
    cr_assert_eq(executor_parse_stages_total(&x, "10:2s", 0, 9 * NS_PER_S, &e), 0);
    cr_expect_eq(executor_duration_ns(&x), 2 * NS_PER_S);
}
