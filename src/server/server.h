/* server: the built-in HTTP/1.1 target of `volley serve`, `volley demo` and
 * the tests. N threads, each with its own net/loop and its own SO_REUSEPORT
 * listening socket on the same loopback address; connections never move
 * between threads. Requests are parsed by reqparse and answered by routes.
 * With a TLS context every connection is HTTPS (net/tls, non-blocking
 * handshake driven by the loop). */
#ifndef VOLLEY_SERVER_H
#define VOLLEY_SERVER_H

#include "core/err.h"
#include "net/addr.h"
#include "net/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct server_config {
    addr listen;               /* must be loopback; port 0 picks a free port */
    unsigned threads;          /* >= 1 */
    uint64_t idle_timeout_ns;  /* keep-alive connection with nothing to do */
    uint64_t header_timeout_ns;/* first byte of a request head to its end (408) */
    uint64_t stall_every_ns;   /* 0: never stall */
    uint64_t stall_for_ns;     /* < stall_every_ns */
    uint64_t capacity_per_s;   /* 0: unlimited; else one virtual queue shared by
                                  every thread, fixed service time 1/R */
    uint64_t capacity_queue_ns;/* --capacity: a request that would wait longer
                                  than this in the queue gets 503 at once */
    size_t max_head_bytes;     /* request line + headers (431) */
    uint64_t max_body_bytes;   /* (413) */
    tls_server_ctx *tls;       /* borrowed; not NULL: HTTPS (handshake, then
                                  the same routes) */
    bool h2;                   /* HTTP/2 too: h2c by prior knowledge, h2 by ALPN */
    uint32_t h2_max_streams;   /* SETTINGS_MAX_CONCURRENT_STREAMS (0: 256) */
} server_config;

typedef struct server server;

/* Defaults: 127.0.0.1:8080, one thread per core, idle 60 s, header 10 s,
 * 16 KiB heads, 8 MiB bodies, no stalls. */
void server_config_defaults(server_config *c);

/* Binds every thread's socket and starts the threads. Fails (with a message
 * naming the address) for a non-loopback address or a busy port. */
int server_start(const server_config *cfg, server **out, err *e);

/* The address actually bound (port 0 resolved). */
void server_address(const server *s, addr *out);

/* Asks every thread to stop (thread-safe, async-signal-unsafe) and joins
 * them. Idempotent. */
void server_stop(server *s);

/* TLS handshakes completed so far and how many of them resumed a session
 * (exact once server_stop returned; approximate while running). */
void server_tls_stats(const server *s, uint64_t *handshakes, uint64_t *resumed);

/* --capacity: requests served through the queue and those refused (503)
 * because the queue was full. */
void server_capacity_stats(const server *s, uint64_t *served, uint64_t *refused);

/* Stops if needed, closes every connection and frees s. NULL is a no-op. */
void server_free(server *s);

#endif
