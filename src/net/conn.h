/* conn: one client connection's transport on a worker's loop: non-blocking
 * connect, a proxy's CONNECT tunnel (--proxy with https), TLS handshake, write of borrowed bytes, reads into the caller's
 * buffer, close. The transport is a small vtable (as wrk's sock.*): plain
 * TCP and TLS (net/tls) are peers. conn knows nothing of HTTP; the owner
 * (load/worker) drives the protocol from the callbacks and runs the timers. */
#ifndef VOLLEY_CONN_H
#define VOLLEY_CONN_H

#include "net/addr.h"
#include "net/loop.h"
#include "net/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct conn conn;

/* --share-tls-sessions: the TLS session slot of one thread's connections to
 * one server (same ctx and name), owned by whoever made it (zeroed), freed
 * with tls_session_free(share->session). Every new ticket one of them
 * receives replaces the session; each new connection offers it; a failed
 * handshake empties it. While it is empty, the connections using it take
 * turns one at a time through the handshake gate (the first ticket comes
 * after a handshake ends), for CONN_SHARE_ALONE handshakes at most: a
 * server that issues no sessions does not keep them in line. */
typedef struct conn_tls_share {
    void *session;     /* SSL_SESSION *, NULL: none yet */
    uint32_t ended;    /* handshakes ended while it was empty */
} conn_tls_share;
#define CONN_SHARE_ALONE 4u

typedef enum { CONN_CLOSED, CONN_CONNECTING, CONN_OPEN } conn_state;

typedef struct conn_handlers {
    /* Connection established (status 0) or failed (negative errno). */
    void (*on_connect)(conn *c, int status);
    /* Readable: the owner calls conn_read until it returns -EAGAIN. */
    void (*on_readable)(conn *c);
    /* All pending output was written (optional; may be called from conn_send). */
    void (*on_sent)(conn *c);
    /* A write failed (negative errno). */
    void (*on_write_error)(conn *c, int status);
} conn_handlers;

typedef struct conn_transport {
    ssize_t (*read)(conn *c, void *p, size_t n);
    ssize_t (*write)(conn *c, const void *p, size_t n);
} conn_transport;

struct conn {
    int fd;
    conn_state state;
    loop *lp;
    const conn_handlers *h;
    const conn_transport *tp;
    void *owner;
    const char *out;   /* borrowed bytes being sent */
    size_t out_len, out_off;
    /* TLS (NULL tls_ctx: plain TCP); private to conn.c but for
     * handshake_ns and resumed, which the owner may read after
     * on_connect(c, 0). One conn per connection slot lives for the whole
     * run (10,000 idle TLS connections hold 10,000): fields are grouped
     * by size so that no padding is left between them. */
    tls_client_ctx *tls_ctx;
    const char *sni;
    struct ssl_st *ssl; /* of the open connection; NULL while plain TCP */
    void *session;      /* SSL_SESSION * kept for resumption */
    conn_tls_share *share; /* conn_set_tls's shared slot, used instead; NULL: none */
    tls_fail tls_err;   /* why the last handshake or TLS read/write failed */
    uint64_t handshake_ns; /* duration of the last TLS handshake (TCP connect
                              excluded); while it runs, its start time */
    unsigned tls_want;  /* handshake: LOOP_READ or LOOP_WRITE to wait for */
    bool want_read;
    bool read_wants_write; /* SSL_read must wait for the socket to be writable */
    bool write_wants_read; /* SSL_write must wait for the socket to be readable */
    bool resumed;          /* the last handshake resumed a session */
    /* --proxy with https: a CONNECT tunnel before the TLS handshake */
    const char *tunnel;    /* borrowed "host:port" to CONNECT to; NULL: none */
    int tun_status;        /* the proxy's status (0: none, or it closed) */
    uint8_t tun_state;     /* 0 none, 1 waiting for the proxy's answer */
    /* The thread's handshake gate (conn.c): holds a slot, or waits for one
     * in a FIFO with the address to connect to (borrowed). */
    bool gate_slot, gate_waiting;
    /* A connection waits for a gate slot before its TCP connect and reads
     * the proxy's answer after it: the two never overlap. */
    union {
        struct {               /* gate_waiting */
            struct conn *gate_prev, *gate_next;
            const addr *gate_addr;
        };
        struct {               /* tun_state 1 */
            uint32_t tun_len, tun_last4;
            char tun_head[16]; /* the answer's first bytes ("HTTP/1.1 200") */
        };
    };
};

/* on_connect status for a failed TLS handshake or verification (below any
 * negative errno); conn_tls_error() describes the last one. */
#define CONN_ETLS (-100000)
/* on_connect status when the proxy refused the CONNECT tunnel (c->tun_status
 * says with what, 0 if it closed or answered nonsense). */
#define CONN_EPROXY (-100001)

/* Sets up c (closed) on loop lp; owner is passed back through c->owner. */
void conn_init(conn *c, loop *lp, const conn_handlers *h, void *owner);

/* Makes every later conn_open of c use TLS with ctx (borrowed, shared; NULL:
 * plain TCP again). sni (borrowed) is the URL's host: the name sent as SNI
 * and checked against the certificate (an IP literal is checked as an
 * address and not sent; NULL: no host check). on_connect then reports after
 * the handshake: 0, or CONN_ETLS with conn_tls_error() saying why; and
 * c->handshake_ns / c->resumed describe the handshake. share (borrowed;
 * NULL: c keeps its own session): the slot shared with the thread's other
 * conns to the same server and ctx (conn_tls_share). */
void conn_set_tls(conn *c, tls_client_ctx *ctx, const char *sni, conn_tls_share *share);
/* Makes every later conn_open of c first ask the proxy it connects to for a
 * tunnel to authority ("host:port", borrowed; NULL: none). */
void conn_set_tunnel(conn *c, const char *authority);

/* A short message about the last TLS failure of c ("" if none), such as
 * "certificate verify failed: self-signed certificate". The text lives in a
 * per-thread buffer until the next call. */
const char *conn_tls_error(const conn *c);

/* Starts a non-blocking connect. Returns 0 (on_connect will follow, possibly
 * before this returns for loopback) or a negative errno for immediate
 * failures such as EMFILE. A TLS connection first waits for a slot of its
 * thread's handshake gate (at most conn_handshake_cap() TCP connects plus
 * handshakes in flight per thread): a burst of 10,000 handshakes at once
 * leaves the heap fragmented by their transient buffers (~60 KiB each), so
 * they take turns. `a` is then borrowed until on_connect, and an immediate
 * failure of the deferred connect comes through on_connect. */
int conn_open(conn *c, const addr *a);

/* The calling thread's handshake gate: its cap (default
 * CONN_HANDSHAKES_MAX; 0 restores it) and the slots in use. */
#define CONN_HANDSHAKES_MAX 256u
void conn_set_handshake_cap(unsigned cap);
unsigned conn_handshake_cap(void);
unsigned conn_handshakes_in_flight(void);
/* Heap trims the calling thread's gate did: one when it empties after a
 * burst of at least its cap of handshakes, at most one a second (the
 * burst's transient buffers go back to the system; conn.c). */
unsigned conn_gate_trims(void);

/* Queues len bytes (borrowed until on_sent) and writes what the socket takes
 * now. Returns 0, or a negative errno (the write failed at once). */
int conn_send(conn *c, const char *data, size_t len);

/* Reads up to n bytes: >0 bytes, 0 at EOF, -EAGAIN when drained, -errno. */
ssize_t conn_read(conn *c, void *p, size_t n);

/* Stops or resumes read interest. */
void conn_set_reading(conn *c, bool on);

/* Closes the socket; c can be opened again. reset: send RST (SO_LINGER 0)
 * so an abandoned connection leaves no TIME_WAIT. A TLS connection keeps
 * its session for the next conn_open (resumption) unless its TLS failed
 * (handshake or record error), which gives the session up. */
void conn_close(conn *c, bool reset);

/* Closes c (if open) and frees what it keeps between connections (the TLS
 * session). Call once when c's owner goes away; conn_init makes it usable
 * again. */
void conn_release(conn *c);

#endif
