/* rawq: the per-request records of --raw on their way from a worker
 * thread (one producer) to the main thread (one consumer): a fixed ring,
 * so a writer that cannot keep up loses rows (counted), never stalls the
 * load. Used by URL workers (load/worker) and script workers alike. */
#ifndef VOLLEY_RAWQ_H
#define VOLLEY_RAWQ_H

#include "load/worker.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rawq rawq;

rawq *rawq_new(void);
void rawq_free(rawq *q);
/* Worker thread: appends r, or counts it dropped when the ring is full. */
void rawq_push(rawq *q, const worker_raw *r);
/* Main thread: hands every record so far to fn; returns how many. */
size_t rawq_drain(rawq *q, void (*fn)(void *ctx, const worker_raw *r), void *ctx);
uint64_t rawq_dropped(const rawq *q);

#endif
