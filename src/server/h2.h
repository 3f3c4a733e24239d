/* h2: HTTP/2 for `volley serve --h2` (h2c with prior knowledge, and h2
 * chosen by ALPN over TLS). libnghttp2 does the framing, HPACK and flow
 * control; this module answers each stream with the same routes as
 * HTTP/1.1 (server/routes), a streamed route sending one DATA frame per
 * chunk on the stream's own timer. server.c owns the socket, TLS, stalls
 * and the loop; it hands the connection's bytes in and writes out what
 * this module puts in its output buffer. */
#ifndef VOLLEY_SERVER_H2_H
#define VOLLEY_SERVER_H2_H

#include "core/buf.h"
#include "net/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The client connection preface every HTTP/2 connection starts with. */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24u

typedef struct srv_h2 srv_h2;

/* What the connection that owns the session provides. */
typedef struct srv_h2_host {
    loop *l;
    void *conn;
    buf *(*outbuf)(void *conn);              /* where frames are appended */
    void (*kick)(void *conn);                /* a timer added output: write it */
    uint64_t (*stall_end)(void *conn, uint64_t now); /* 0 outside a stall */
    uint64_t (*rand_ns)(void *conn, uint64_t max_ms);
    uint64_t max_body_bytes;                 /* request body cap (413) */
    uint32_t max_streams;                    /* SETTINGS_MAX_CONCURRENT_STREAMS */
} srv_h2_host;

/* A server session; queues the server's SETTINGS. NULL when out of memory. */
srv_h2 *srv_h2_new(const srv_h2_host *host);
void srv_h2_free(srv_h2 *h);

/* Feeds received bytes (the preface included). Returns 0, or a negative
 * value when the connection must close (a protocol error: GOAWAY queued). */
int srv_h2_feed(srv_h2 *h, const char *data, size_t len);

/* Moves pending frames into the host's output buffer until it holds about
 * high_water bytes. Returns the bytes added, or a negative value on error. */
ssize_t srv_h2_flush(srv_h2 *h, size_t high_water);

/* The session has nothing left to read or write: close the connection. */
bool srv_h2_finished(const srv_h2 *h);

/* Streams open now (a response on its way or a request still arriving). */
bool srv_h2_open_streams(const srv_h2 *h);

/* Streams answered so far (for tests and stats). */
uint64_t srv_h2_streams(const srv_h2 *h);

#endif
