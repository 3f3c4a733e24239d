/* rawq: single-producer single-consumer ring of raw records (see rawq.h).
 * The producer publishes head with release, the consumer tail; each reads
 * the other's index with acquire. */
#include "load/rawq.h"

#include <stdatomic.h>
#include <stdlib.h>

#define RAWQ_RING 65536 /* records; a power of two */

struct rawq {
    worker_raw *ring;
    _Atomic uint64_t head, tail;
    uint64_t dropped;        /* producer side only */
};

rawq *rawq_new(void)
{
    rawq *q = calloc(1, sizeof *q);
    if (q && !(q->ring = calloc(RAWQ_RING, sizeof *q->ring))) {
        free(q);
        return NULL;
    }
    if (q) {
        atomic_init(&q->head, 0);
        atomic_init(&q->tail, 0);
    }
    return q;
}

void rawq_free(rawq *q)
{
    if (!q)
        return;
    free(q->ring);
    free(q);
}

void rawq_push(rawq *q, const worker_raw *r)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (head - tail >= RAWQ_RING) {
        q->dropped++;
        return;
    }
    q->ring[head & (RAWQ_RING - 1)] = *r;
    atomic_store_explicit(&q->head, head + 1, memory_order_release);
}

size_t rawq_drain(rawq *q, void (*fn)(void *ctx, const worker_raw *r), void *ctx)
{
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    for (uint64_t i = tail; i < head; i++)
        fn(ctx, &q->ring[i & (RAWQ_RING - 1)]);
    atomic_store_explicit(&q->tail, head, memory_order_release);
    return (size_t)(head - tail);
}

uint64_t rawq_dropped(const rawq *q) { return q->dropped; }
