/* metrics: the per-worker metrics shard and the counts every run keeps.
 * A worker thread owns its shard and records into it with no lock and no
 * atomic read-modify-write (ARCHITECTURE.md decision 1). Once a second the
 * worker closes an interval (a slot of a small ring); the main thread merges
 * the closed intervals of all shards into the per-second series, and at the
 * end merges the shards' totals. Counts are exact: every request that was
 * sent ends as a response (by status) or an error (by kind). */
#ifndef VOLLEY_METRICS_H
#define VOLLEY_METRICS_H

#include "metrics/hist.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Why a request did not get a response. */
typedef enum {
    ERRK_CONNECT_REFUSED,  /* ECONNREFUSED */
    ERRK_CONNECT_TIMEOUT,  /* no connection within --connect-timeout */
    ERRK_CONNECT,          /* other connect failures (unreachable, EMFILE...) */
    ERRK_TIMEOUT,          /* no complete response within --timeout */
    ERRK_RESET,            /* ECONNRESET / EPIPE while sending or reading */
    ERRK_PARSE,            /* malformed response */
    ERRK_CLOSED,           /* the server closed before the response was complete */
    ERRK_TLS,              /* TLS handshake or record failure */
    ERRK_CANCELLED,        /* still in flight when the run stopped (after the grace) */
    ERRK_STALE,            /* EOF or RST before any response byte on a reused
                              connection (after the retry, or with --no-retry) */
    ERRK_COUNT
} err_kind;

/* "connect_refused", "timeout", ... as used in results.json. */
const char *metrics_err_kind_name(err_kind k);
/* Parses such a name; returns -1 if unknown. */
int metrics_err_kind_from_name(const char *name);

#define METRICS_STATUS_MAX 600 /* statuses 0..599; anything else is a parse error */

typedef struct metrics_totals {
    uint64_t requests;   /* completed: responses + errors */
    uint64_t responses;
    uint64_t errors;
    uint64_t status[METRICS_STATUS_MAX];
    uint64_t err_kind[ERRK_COUNT];
    uint64_t bytes_in, bytes_out;
    uint64_t connects;   /* connections established */
    uint64_t dropped;    /* open model: iterations that could not start (never sent) */
    uint64_t chunks;     /* body reads of chunked responses (streaming) */
    uint64_t tls_resumed;/* TLS handshakes that resumed a session */
    uint64_t retries;    /* requests sent again after a stale connection */
} metrics_totals;

void metrics_totals_add(metrics_totals *dst, const metrics_totals *src);

/* One second of one shard. */
typedef struct metrics_interval {
    hist *latency;
    uint64_t requests, responses, errors, bytes_in, bytes_out, dropped;
} metrics_interval;

#define METRICS_RING 8
#define METRICS_CACHE_LINE 64

typedef struct metrics_shard {
    metrics_totals tot;
    hist *latency;  /* from the intended start (closed: when the VU was ready) */
    hist *service;  /* from the first byte written to the last byte read */
    hist *ttfb;     /* from the first byte written to the first byte read */
    hist *connect;  /* TCP (and TLS) connection establishment */
    hist *chunk_gap;/* gaps between reads of a chunked (streamed) body */
    hist *send_lag; /* open model: first byte written - scheduled time */
    hist *tls_handshake; /* TLS handshake (part of connect) */
    metrics_interval ring[METRICS_RING];
    uint64_t cur;   /* the second being recorded (owned by the worker) */
    _Atomic uint64_t closed;   /* intervals [0, closed) are final (worker writes) */
    /* The one field main writes (once a second) has a cache line of its
     * own, so it never invalidates the line the worker writes per request;
     * the shard itself is allocated cache-line aligned and padded, so no
     * two workers' shards share a line either. */
    _Alignas(METRICS_CACHE_LINE) _Atomic uint64_t consumed; /* [0, consumed) were read */
    _Alignas(METRICS_CACHE_LINE) uint64_t overruns; /* intervals reused before main read them */
    uint64_t last_outcome_ns;  /* monotonic time of the last outcome (worker) */
    /* Live progress, plain stores by the worker, read relaxed by main. */
    _Atomic uint64_t live_requests, live_errors;
} metrics_shard;

metrics_shard *metrics_shard_new(void);
void metrics_shard_free(metrics_shard *s);

/* Hot path: a completed response. Times in ns. */
static inline metrics_interval *metrics_cur(metrics_shard *s)
{
    return &s->ring[s->cur % METRICS_RING];
}

typedef struct metrics_sample {
    int status;
    uint64_t latency_ns, service_ns, ttfb_ns;
    uint64_t bytes_in, bytes_out;
    uint64_t chunks;
} metrics_sample;

void metrics_record_response(metrics_shard *s, const metrics_sample *m);
/* An iteration that could not start (open model, no connection, full backlog). */
void metrics_record_dropped(metrics_shard *s);
void metrics_record_error(metrics_shard *s, err_kind k, uint64_t bytes_in, uint64_t bytes_out);
void metrics_record_connect(metrics_shard *s, uint64_t connect_ns);

/* Worker: closes the current second and starts the next one. */
void metrics_close_interval(metrics_shard *s);

/* Main thread: index of the next interval to read, and whether it is closed. */
bool metrics_interval_ready(metrics_shard *s, uint64_t second);
const metrics_interval *metrics_interval_get(metrics_shard *s, uint64_t second);
void metrics_interval_release(metrics_shard *s, uint64_t second);

#endif
