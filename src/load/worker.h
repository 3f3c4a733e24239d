/* worker: one load thread. It owns an event loop, its connections (one per
 * virtual user in the closed model) and a metrics shard; nothing on its hot
 * path is shared with other threads. The engine creates workers, starts
 * them at a common start time and asks them to stop. */
#ifndef VOLLEY_WORKER_H
#define VOLLEY_WORKER_H

#include "core/err.h"
#include "load/plan.h"
#include "metrics/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct worker worker;

typedef struct worker_config {
    const plan *p;
    uint32_t id;
    uint32_t connections;   /* this worker's share */
    uint64_t requests;      /* this worker's share of -n (UINT64_MAX = no limit) */
    uint64_t start_ns;      /* common monotonic start time */
} worker_config;

worker *worker_new(const worker_config *cfg, err *e);
void worker_free(worker *w);

/* Starts the thread. */
int worker_start(worker *w, err *e);
/* Graceful stop (thread-safe): no new requests, in-flight ones get the
 * plan's grace period. */
void worker_request_stop(worker *w);
/* Immediate stop (thread-safe): in-flight requests are counted as cancelled. */
void worker_abort(worker *w);
void worker_join(worker *w);

/* True once the thread has finished (all counts final). */
bool worker_done(worker *w);
metrics_shard *worker_shard(worker *w);
/* The second interval the worker is recording (valid after join). */
uint64_t worker_current_second(worker *w);
/* Connections open right now (relaxed read, for progress). */
uint32_t worker_active(worker *w);
/* Monotonic time the worker's last request finished (valid after join). */
uint64_t worker_end_ns(worker *w);
/* Describes a fatal condition met by the worker (e.g. EMFILE), or NULL. */
const char *worker_fatal(worker *w);

#endif
