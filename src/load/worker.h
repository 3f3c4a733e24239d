/* worker: one load thread. It owns an event loop, its connections, its
 * virtual users or its share of the open-model schedule, and one metrics
 * shard per endpoint; nothing on its hot path is shared with other threads.
 * The engine creates workers for one run shape (a step), starts them at a
 * common time and asks them to stop. */
#ifndef VOLLEY_WORKER_H
#define VOLLEY_WORKER_H

#include "core/err.h"
#include "load/executor.h"
#include "load/plan.h"
#include "metrics/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct worker worker;

typedef struct worker_config {
    const plan *p;
    const executor *x;       /* the shape of this run (step) */
    uint32_t id;
    uint32_t nworkers;
    uint64_t start_ns;       /* common monotonic start time */
    uint64_t duration_ns;    /* 0: until the request limit */
    uint32_t pool_cap;       /* open model: this worker's connection cap per target */
    uint32_t backlog_cap;    /* open model: this worker's waiting iterations per target */
    uint8_t step;            /* recorded in raw records */
} worker_config;

/* One request, for requests.csv. */
typedef struct worker_raw {
    uint64_t intended_ns;    /* offset from the start of the run */
    uint64_t latency_ns, service_ns, ttfb_ns;
    uint64_t bytes_in, bytes_out; /* 64-bit: a body may exceed 4 GB */
    uint16_t status;         /* 0 for errors */
    uint8_t ep;
    uint8_t step;
    int8_t err;              /* err_kind or -1 */
} worker_raw;

worker *worker_new(const worker_config *cfg, err *e);
void worker_free(worker *w);

int worker_start(worker *w, err *e);
/* Graceful stop (thread-safe): no new requests, in-flight ones get the
 * plan's grace period. */
void worker_request_stop(worker *w);
/* Immediate stop (thread-safe): in-flight requests are counted as cancelled. */
void worker_abort(worker *w);
void worker_join(worker *w);

bool worker_done(worker *w);
/* The shard of endpoint ep. */
metrics_shard *worker_shard(worker *w, uint32_t ep);
/* Connections open right now (relaxed read, for progress). */
uint32_t worker_active(worker *w);
/* Monotonic time the worker finished (valid after join). */
uint64_t worker_end_ns(worker *w);
/* The second interval being recorded (all shards advance together). */
uint64_t worker_current_second(worker *w);
/* A fatal condition met by the worker (e.g. out of fds), or NULL. */
const char *worker_fatal(worker *w);

/* Main thread: hands every queued raw record to fn; returns how many. */
size_t worker_raw_drain(worker *w, void (*fn)(void *ctx, const worker_raw *r), void *ctx);
/* Raw records lost because the ring was full. */
uint64_t worker_raw_dropped(worker *w);

#endif
