/* h2: the client side of HTTP/2 as a pure session, bytes in and bytes out,
 * over libnghttp2 (framing, HPACK, flow control, PING and SETTINGS acks).
 * No socket, no clock, no allocation per request: the caller embeds an
 * h2_stream in each request and owns the connection, its loop and its
 * timers (load/exchange's HTTP/2 driver). proto/http1 is its HTTP/1.1 peer.
 *
 * What the server decides is reported, never hidden: its
 * SETTINGS_MAX_CONCURRENT_STREAMS (h2_max_streams), a RST_STREAM by its
 * code (h2_error_name: "h2_refused_stream", ...), a GOAWAY with the last
 * stream it processed (streams above it end with code REFUSED_STREAM and
 * processed == false: they may be retried). */
#ifndef VOLLEY_PROTO_H2_H
#define VOLLEY_PROTO_H2_H

#include "core/buf.h"
#include "core/err.h"
#include "proto/http1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* HTTP/2 error codes (RFC 9113 section 7) that matter to the caller. */
#define H2_NO_ERROR 0u
#define H2_REFUSED_STREAM 7u

typedef struct h2_session h2_session;

/* One request's stream; embedded in the caller's request, borrowed by the
 * session from h2_submit until on_close. */
typedef struct h2_stream {
    void *user;
    const char *body;      /* request body (borrowed), may be NULL */
    size_t body_len, body_off;
    int32_t id;            /* set by h2_submit */
    int status;            /* final status, 0 until the head arrives */
    bool head_seen;
    uint64_t body_bytes;   /* response body bytes received */
    uint64_t header_bytes; /* response heads' size as HTTP/1.1 would send them
                              (status line, "name: value\r\n" each, blank line) */
} h2_stream;

typedef struct h2_callbacks {
    void *ctx;
    /* The final response head (1xx heads are skipped). */
    void (*on_head)(void *ctx, h2_stream *st);
    void (*on_body)(void *ctx, h2_stream *st, const uint8_t *data, size_t len);
    /* The stream ended: code H2_NO_ERROR when the response is complete, else
     * the RST_STREAM (or GOAWAY) error code; processed == false when the
     * server said it never processed the stream (GOAWAY above its last
     * stream id, REFUSED_STREAM): safe to retry. */
    void (*on_close)(void *ctx, h2_stream *st, uint32_t code, bool processed);
    /* The server sent GOAWAY: no new stream may start on this session. */
    void (*on_goaway)(void *ctx, int32_t last_stream_id, uint32_t code);
    /* Optional: each field of the final response head and of trailers
     * (pseudo-headers excluded), for callers that capture headers. */
    void (*on_field)(void *ctx, h2_stream *st, const char *name, size_t nlen, const char *value,
                     size_t vlen);
} h2_callbacks;

typedef struct h2_request {
    const char *method, *scheme, *authority, *path;
    const http1_header *headers; /* names are lowercased on the wire; hop-by-hop
                                    headers (Connection, Keep-Alive, ...) dropped */
    size_t nheaders;
} h2_request;

/* A client session. window_bytes: our receive window per stream and for the
 * connection (wide, so that volley is never the flow-control bottleneck).
 * Queues the preface and SETTINGS. NULL with e set when out of memory. */
h2_session *h2_session_new(const h2_callbacks *cb, uint32_t window_bytes, err *e);
void h2_session_free(h2_session *s);

/* Starts a request on a new stream (st->body/body_len set by the caller).
 * Returns 0, or VOLLEY_EINVAL when no new stream can start (GOAWAY, stream
 * ids exhausted, over h2_max_streams). */
int h2_submit(h2_session *s, const h2_request *rq, h2_stream *st);

/* Starts a request given as an HTTP/1.1 message (request line, header
 * lines, body: what http1_request_build makes) on a new stream: the method
 * and target become :method and :path, Host becomes :authority, hop-by-hop
 * headers are dropped, the rest of the bytes are the body; every field
 * goes, whatever its name's length or their number. msg is borrowed until
 * the stream closes (values are not copied). 0, VOLLEY_EINVAL as
 * h2_submit, or VOLLEY_EPARSE (with no stream started) for a message
 * that is not a request or whose Content-Length is not its body's length. */
int h2_submit_h1(h2_session *s, const char *scheme, const char *msg, size_t len, h2_stream *st);

/* Abandons a stream (RST_STREAM CANCEL): no callback for it follows and
 * the session no longer uses st. */
void h2_cancel(h2_session *s, h2_stream *st);

/* The server's SETTINGS arrived (h2_max_streams is its own word). */
bool h2_settings_seen(const h2_session *s);

/* Feeds bytes read from the connection; callbacks run from here. Returns 0,
 * or -1 on a connection error (a GOAWAY to send is queued; then close). */
int h2_feed(h2_session *s, const uint8_t *data, size_t len);

/* Appends frames to send to out, up to about high_water bytes in out.
 * Returns the bytes appended (0: nothing to send), or -1. */
ssize_t h2_flush(h2_session *s, buf *out, size_t high_water);

/* The error code of the GOAWAY volley sent on a connection error (a
 * server that broke the protocol), 0 if none: name it with h2_error_name. */
uint32_t h2_conn_error(const h2_session *s);

/* Frames of any nghttp2 session (client or server: server/h2 too) into out,
 * up to about high_water bytes there; bytes added or -1. */
struct nghttp2_session;
ssize_t h2_session_send(struct nghttp2_session *s, buf *out, size_t high_water);

/* The server's SETTINGS_MAX_CONCURRENT_STREAMS; until its SETTINGS arrive,
 * nghttp2 assumes 100 (the least RFC 9113 recommends a server to allow). */
uint32_t h2_max_streams(const h2_session *s);
/* Streams open now. */
uint32_t h2_in_flight(const h2_session *s);
/* No new stream may start (GOAWAY received or sent, ids exhausted). */
bool h2_closing(const h2_session *s);
/* Nothing left to read or write: the connection can close. */
bool h2_done(const h2_session *s);

/* "h2_refused_stream", "h2_cancel", "h2_protocol_error", ... for an
 * HTTP/2 error code; "h2_error" for an unknown one. */
const char *h2_error_name(uint32_t code);

#endif
