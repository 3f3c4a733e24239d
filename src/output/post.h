/* post: delivers HTTP request bodies (InfluxDB line protocol, OTLP JSON,
 * a Pushgateway push) to one http:// URL from a thread of its own, so the
 * run never waits on a slow or absent database. Bodies wait in a bounded
 * queue and are retried until delivered; when the queue is full the oldest
 * is given up. Whatever is given up is counted (points, not bytes). */
#ifndef VOLLEY_POST_H
#define VOLLEY_POST_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct poster poster;

typedef struct poster_config {
    const char *url;          /* http://host:port/path?query */
    const char *flag;         /* names the flag in errors: "--out-influx" */
    const char *method;       /* "POST" or "PUT" */
    const char *content_type;
    size_t max_queued;        /* bodies kept for retry (>= 1) */
} poster_config;

poster *poster_new(const poster_config *c, err *e);
/* Queues a copy of body carrying npoints points. Never blocks on the
 * network (only on the queue's mutex for a copy). */
void poster_send(poster *p, const char *body, size_t len, uint64_t npoints);
/* From now on the thread gives up at deadline_ns (monotonic) what is still
 * queued, and ends. Does not wait (several posters can flush at once). */
void poster_stop(poster *p, uint64_t deadline_ns);
/* Keeps trying what is queued until deadline_ns (or the one poster_stop
 * gave), then gives up the rest, stops the thread and frees p. Fills the
 * counts first. */
typedef struct poster_stats {
    uint64_t delivered, undelivered; /* points */
    uint64_t bodies_ok, bodies_failed, retries;
    char last_error[200];
} poster_stats;
void poster_finish(poster *p, uint64_t deadline_ns, poster_stats *out);

#endif
