/* metrics: the per-worker metrics shard and the counts every run keeps.
 * A worker thread owns its shard and records into it with no lock and no
 * atomic read-modify-write (ARCHITECTURE.md decision 1). Once a second the
 * worker closes an interval (a slot of a small ring); the main thread merges
 * the closed intervals of all shards into the per-second series, and at the
 * end merges the shards' totals. Counts are exact: every request that was
 * sent ends as a response (by status) or an error (by kind). */
#ifndef VOLLEY_METRICS_H
#define VOLLEY_METRICS_H

#include "core/err.h"
#include "metrics/hist.h"

#include <stddef.h>

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
    ERRK_DECODE,           /* --compressed: a body that does not decode (corrupt,
                              truncated, over the output cap) */
    ERRK_PROXY,            /* --proxy: the proxy cannot be reached, or refused
                              the CONNECT tunnel */
    /* HTTP/2: a stream reset (RST_STREAM) or a connection error (GOAWAY), by
     * its code (RFC 9113 section 7): ERRK_H2_NO_ERROR + code, 0x0..0xd. */
    ERRK_H2_NO_ERROR,
    ERRK_H2_LAST = ERRK_H2_NO_ERROR + 0xd,
    ERRK_H2_OTHER,         /* an HTTP/2 error code RFC 9113 does not define */
    ERRK_COUNT
} err_kind;

/* "connect_refused", "timeout", ... as used in results.json. */
const char *metrics_err_kind_name(err_kind k);
/* The kind of an HTTP/2 error code ("h2_refused_stream", ...). */
err_kind metrics_err_kind_h2(uint32_t code);
/* Parses such a name; returns -1 if unknown. */
int metrics_err_kind_from_name(const char *name);

#define METRICS_STATUS_MAX 600 /* statuses 0..599; anything else is a parse error */
/* Status classes: 0 for a status outside 100-599 ("other"), 1..5 for 1xx..5xx. */
#define METRICS_STATUS_CLASSES 6
static inline int metrics_status_class(int status)
{
    return status >= 100 && status < 600 ? status / 100 : 0;
}

/* ---- distributions ----
 * The one list of latency-like distributions every stats block keeps:
 * X(ENUM, name, json key, summary label, shown). `name` is the threshold
 * metric ("ttfb:p(99)<20ms"), `json` the key in results.json, `shown` when
 * the summary and report print it. Adding a distribution is one line here;
 * everything else (allocation, merging, results.json write and read, the
 * summary, the report, thresholds) iterates over the table. */
#define METRICS_DISTS(X)                                                            \
    X(LATENCY, "latency", "latency", "latency", METRICS_SHOW_ALWAYS)                 \
    X(SERVICE, "service", "service_time", "service", METRICS_SHOW_ALWAYS)            \
    X(TTFB, "ttfb", "ttfb", "ttfb", METRICS_SHOW_ALWAYS)                             \
    X(CONNECT, "connect", "connect", "connect", METRICS_SHOW_ALWAYS)                 \
    X(CHUNK_GAP, "chunk_gap", "chunk_gap", "chunk gap", METRICS_SHOW_IF_ANY)         \
    X(SEND_LAG, "send_lag", "send_lag", "send lag", METRICS_SHOW_OPEN)               \
    X(TLS_HANDSHAKE, "tls_handshake", "tls_handshake", "tls", METRICS_SHOW_IF_ANY)   \
    X(LATENCY_CORRECTED, "latency_corrected", "latency_corrected", "corrected",      \
      METRICS_SHOW_CLOSED_IF_ANY)                                                   \
    X(LATENCY_OK, "latency_ok", "latency_ok", "latency ok", METRICS_SHOW_IF_FEWER)     \
    X(DECODE, "decode", "decode", "decode", METRICS_SHOW_IF_ANY)                     \
    X(FIRST_BODY, "first_body", "first_body", "1st body", METRICS_SHOW_IF_STREAMED)

typedef enum {
    METRICS_SHOW_ALWAYS,
    METRICS_SHOW_IF_ANY,   /* when it holds a value */
    METRICS_SHOW_OPEN,     /* in the open model */
    METRICS_SHOW_IF_FEWER, /* when it holds values, fewer than latency */
    METRICS_SHOW_CLOSED_IF_ANY, /* in the closed model, when it holds values */
    METRICS_SHOW_IF_STREAMED,   /* when it holds values and bodies were streamed (chunk gaps) */
} metrics_show;

#define METRICS_DIST_ENUM(E, n, j, l, s) METRICS_DIST_##E,
typedef enum { METRICS_DISTS(METRICS_DIST_ENUM) METRICS_DIST_COUNT } metrics_dist;
#undef METRICS_DIST_ENUM

typedef struct metrics_dist_info {
    const char *name, *json, *label;
    metrics_show show;
} metrics_dist_info;

extern const metrics_dist_info metrics_dists[METRICS_DIST_COUNT];
/* The distribution with this name (threshold metric); -1 if none. */
int metrics_dist_from_name(const char *name, size_t len);

/* A block's distributions, by index (dist[METRICS_DIST_X]) or, for the first
 * eight, by their old field names (the order must match METRICS_DISTS). */
#define METRICS_DIST_FIELDS                                                             \
    union {                                                                             \
        hist *dist[METRICS_DIST_COUNT];                                                 \
        struct {                                                                        \
            hist *latency, *service, *ttfb, *connect, *chunk_gap, *send_lag, *tls_handshake, \
                *latency_corrected;                                                     \
        };                                                                              \
    }

/* Allocates (0 or VOLLEY_ENOMEM), frees, merges every distribution. */
int metrics_dists_new(hist **d);
void metrics_dists_free(hist **d);
void metrics_dists_merge(hist **dst, hist *const *src);

/* ---- which responses are failures ----
 * A request fails when it got no complete response (an error kind) or its
 * status is not expected; --ok-status sets the expected ones. */
typedef struct metrics_status_set {
    uint64_t bits[(METRICS_STATUS_MAX + 63) / 64];
} metrics_status_set;

/* Parses "200-399,404" (codes 100-599); errors name the flag. */
int metrics_status_set_parse(metrics_status_set *s, const char *text, const char *what,
                             err *e);
/* The default: 200-399, as k6. */
void metrics_status_set_default(metrics_status_set *s);
/* Whether status is expected; a NULL set is the default. */
bool metrics_status_ok(const metrics_status_set *s, int status);

typedef struct metrics_totals {
    uint64_t requests;   /* completed: responses + transport_errors */
    uint64_t responses;
    uint64_t errors;     /* failed: transport errors + unexpected statuses */
    uint64_t transport_errors; /* no complete response (by kind in err_kind) */
    uint64_t status[METRICS_STATUS_MAX];
    uint64_t err_kind[ERRK_COUNT];
    uint64_t bytes_in, bytes_out;
    uint64_t connects;   /* connections established */
    uint64_t dropped;    /* open model: iterations that could not start (never sent) */
    uint64_t chunks;     /* body reads of chunked responses (streaming) */
    uint64_t tls_resumed;/* TLS handshakes that resumed a session */
    uint64_t bytes_decoded; /* --compressed: response bodies after decoding */
    uint64_t redirects;  /* responses that were followed as redirects (--redirects) */
    uint64_t retries;    /* requests sent again after a stale connection, or an
                            HTTP/2 stream the server did not process */
    uint64_t write_errors; /* transport errors that happened while writing the
                              request (counted in err_kind too, as reset...) */
    uint64_t h2_conns;   /* connections that spoke HTTP/2 (of connects) */
    uint64_t h2_responses; /* responses on HTTP/2 streams (of responses) */
    uint64_t h2_max_streams; /* lowest SETTINGS_MAX_CONCURRENT_STREAMS that
                                clamped --max-streams (0: none did) */
    uint64_t wire_in, wire_out; /* bytes on the connections (HTTP/2 frames, or
                                   HTTP/1.1 messages), TLS records excluded */
} metrics_totals;

void metrics_totals_add(metrics_totals *dst, const metrics_totals *src);
/* Percent of requests that did not fail (NaN with no requests). */
double metrics_ok_pct(const metrics_totals *t);

/* One second of one shard: counts, responses by status class, errors by
 * kind, latency and (open model) send lag. */
typedef struct metrics_interval {
    hist *latency, *send_lag;
    uint64_t requests, responses, errors, transport_errors, bytes_in, bytes_out, dropped;
    uint64_t retries; /* requests sent again (see metrics_totals.retries) */
    uint64_t status_class[METRICS_STATUS_CLASSES];
    uint64_t err_kind[ERRK_COUNT];
    /* WebSocket (scripts): sessions opened (handshake done) and ended,
     * messages sent and received, round trips, in this second; ws_open the
     * sockets open now (at the end of the second once it is closed).
     * ws_rtt holds the round trips' times, made at the first one. */
    uint64_t ws_opened, ws_closed, ws_sent, ws_received, ws_rtts, ws_open;
    hist *ws_rtt;
} metrics_interval;

#define METRICS_RING 8
#define METRICS_CACHE_LINE 64

typedef struct metrics_shard {
    metrics_totals tot;
    /* latency: from the intended start (closed: when the VU was ready), a
     * timed-out request at its timeout; service: first byte written to last
     * byte read; ttfb: to the first byte read; connect: TCP (and TLS)
     * establishment; chunk_gap: between reads of a chunked body; send_lag:
     * open model, first byte written - scheduled time; tls_handshake: part
     * of connect; latency_ok: latency of requests that did not fail. */
    METRICS_DIST_FIELDS;
    const metrics_status_set *ok; /* expected statuses; NULL: 200-399 */
    metrics_interval ring[METRICS_RING];
    uint64_t cur;   /* the second being recorded (owned by the worker) */
    uint64_t cleared; /* slots of seconds [.., cleared) are cleared (worker) */
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
    uint64_t ws_open;          /* WebSocket sessions open now (worker) */
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
    uint64_t decode_ns;      /* time spent decoding the body (0: not decoded) */
    uint64_t bytes_decoded;  /* the body after decoding */
    bool decoded;            /* --compressed: bytes_decoded counts */
    bool encoded;            /* the body had a Content-Encoding: decode_ns counts */
    uint64_t first_body_ns;  /* sent to the first body byte (0: no body) */
} metrics_sample;

void metrics_record_response(metrics_shard *s, const metrics_sample *m);
/* An iteration that could not start (open model, no connection, full backlog). */
void metrics_record_dropped(metrics_shard *s);
/* A request sent again on a new connection (stale keep-alive, HTTP/2 stream
 * not processed): counted in the totals and in the current second. */
void metrics_record_retry(metrics_shard *s);
void metrics_record_error(metrics_shard *s, err_kind k, uint64_t bytes_in, uint64_t bytes_out);
/* An error after latency_ns from the intended start: a timeout (request or
 * connect) is also recorded in latency at the time it was abandoned (a
 * lower bound of what the latency would have been). */
void metrics_record_failure(metrics_shard *s, err_kind k, uint64_t latency_ns, uint64_t bytes_in,
                            uint64_t bytes_out);
void metrics_record_connect(metrics_shard *s, uint64_t connect_ns);
/* Open model: the first byte written lag_ns after the scheduled time. */
void metrics_record_send_lag(metrics_shard *s, uint64_t lag_ns);

/* WebSocket sessions of a script, per second (their totals are the
 * script's, script/script_results): a session opened or ended (ended only
 * after opened), a message sent or received, a round trip of rtt_ns. */
typedef enum {
    METRICS_WS_OPENED,
    METRICS_WS_CLOSED,
    METRICS_WS_SENT,
    METRICS_WS_RECEIVED,
} metrics_ws_event;
void metrics_record_ws(metrics_shard *s, metrics_ws_event ev);
void metrics_record_ws_rtt(metrics_shard *s, uint64_t rtt_ns);

/* Worker: closes the current second and starts the next one. */
void metrics_close_interval(metrics_shard *s);

/* Main thread: index of the next interval to read, and whether it is closed. */
bool metrics_interval_ready(metrics_shard *s, uint64_t second);
const metrics_interval *metrics_interval_get(metrics_shard *s, uint64_t second);
void metrics_interval_release(metrics_shard *s, uint64_t second);

#endif
