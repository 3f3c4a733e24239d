/* Tests for load/rawq: records come out in the order they went in, each
 * once; a full ring drops (and counts) instead of overwriting; a producer
 * thread and a consumer thread see every record exactly once. */
#include "load/rawq.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

typedef struct seen {
    uint64_t n, next, bad;
} seen;

static void take(void *ctx, const worker_raw *r)
{
    seen *s = ctx;
    if (r->intended_ns != s->next)
        s->bad++;
    s->next = r->intended_ns + 1;
    s->n++;
}

Test(rawq, drains_in_order_once)
{
    rawq *q = rawq_new();
    cr_assert_not_null(q);
    for (uint64_t i = 0; i < 10; i++)
        rawq_push(q, &(worker_raw){.intended_ns = i, .status = 200, .err = -1});
    seen s = {0};
    cr_assert_eq(rawq_drain(q, take, &s), 10);
    cr_assert_eq(s.n, 10);
    cr_assert_eq(s.bad, 0);
    cr_assert_eq(rawq_drain(q, take, &s), 0, "nothing twice");
    cr_assert_eq(rawq_dropped(q), 0);
    rawq_free(q);
}

Test(rawq, full_ring_drops_and_counts)
{
    rawq *q = rawq_new();
    uint64_t pushed = 70000;
    for (uint64_t i = 0; i < pushed; i++)
        rawq_push(q, &(worker_raw){.intended_ns = i});
    seen s = {0};
    size_t got = rawq_drain(q, take, &s);
    cr_assert_eq(got + rawq_dropped(q), pushed);
    cr_assert_eq(got, 65536);
    cr_assert_eq(s.bad, 0, "the oldest are kept, in order");
    rawq_push(q, &(worker_raw){.intended_ns = 65536});
    cr_assert_eq(rawq_drain(q, take, &s), 1, "room again after a drain");
    rawq_free(q);
}

static void *producer(void *p)
{
    rawq *q = p;
    for (uint64_t i = 0; i < 200000; i++)
        rawq_push(q, &(worker_raw){.intended_ns = i});
    return NULL;
}

Test(rawq, two_threads_every_record_once)
{
    rawq *q = rawq_new();
    pthread_t t;
    pthread_create(&t, NULL, producer, q);
    seen s = {0};
    uint64_t prev_n = 0;
    for (;;) {
        rawq_drain(q, take, &s);
        if (s.n + rawq_dropped(q) == 200000 && s.n == prev_n)
            break;
        prev_n = s.n;
    }
    pthread_join(t, NULL);
    rawq_drain(q, take, &s);
    cr_assert_eq(s.n + rawq_dropped(q), 200000);
    rawq_free(q);
}
