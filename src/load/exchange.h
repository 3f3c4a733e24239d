/* exchange: the one request/response path of volley. A request is submitted
 * on a client connection (xch_conn); the exchange opens the connection if
 * needed (trying each address of the target in turn), does the TLS
 * handshake, sends, reads and parses the response through the connection's
 * protocol driver, records every timing and the outcome into the request's
 * metrics shard, classifies errors, retries a stale keep-alive connection
 * once, and tells the owner (a URL-run worker or a Lua VU) through
 * req->on_done. With --compressed it decodes bodies between the parser and
 * the owner (proto/decode), timing that apart from latency. Workers, scheduling and metrics see only this header; a
 * protocol (HTTP/1.1 today, HTTP/2 later) is an xch_proto table. */
#ifndef VOLLEY_EXCHANGE_H
#define VOLLEY_EXCHANGE_H

#include "metrics/metrics.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/route.h"
#include "proto/decode.h"
#include "proto/h2.h"
#include "proto/http1.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xch_conn xch_conn;
typedef struct xch_req xch_req;

/* Per worker thread: what every connection of the thread shares. */
typedef struct xch_ctx {
    loop *lp;
    char *rbuf;                 /* read buffer (one per thread) */
    size_t rbuf_len;
    _Atomic uint32_t *active;   /* open connections, for progress (relaxed) */
    bool retry;                 /* retry stale connections (idempotent requests) */
    char *fatal;                /* the thread's first warning (TLS, fds) */
    size_t fatal_cap;
    bool decode;                /* --compressed: bodies are decoded (proto/decode) */
} xch_ctx;

/* A host:port and how to reach it, per worker thread: the resolved
 * addresses are tried in order and the one that connected is remembered. */
typedef struct xch_target {
    addr addrs[ADDR_MAX];
    uint32_t naddrs;
    uint32_t good;              /* index of the address that last connected */
    tls_client_ctx *tls;        /* NULL: plain TCP */
    /* --share-tls-sessions: the thread's TLS session slot for this target
     * (net/conn's conn_tls_share); the owner of the target frees
     * share.session with tls_session_free. */
    bool share_session;
    conn_tls_share share;
    bool h2c;                   /* plain TCP: HTTP/2 with prior knowledge (--h2c) */
    bool h2_only;               /* TLS: the server must choose h2 by ALPN (--http 2) */
    char sni[256];              /* the URL's host (SNI, certificate check) */
    char name[300];             /* "host:port", for messages */
    char tunnel[300];           /* https through --proxy: CONNECT this; "" none */
    bool via_proxy;             /* addrs are the proxy's (--proxy) */
    bool spread;                /* --dns-spread: new connections take addrs in turn */
    uint32_t rr;                /* the next address a spread connection takes */
} xch_target;

/* How one request ended. */
typedef struct xch_outcome {
    int err;                    /* err_kind, or -1: a complete response */
    int status;
    uint64_t done_ns;
    uint64_t latency_ns;        /* from req->intended_ns */
    uint64_t service_ns, ttfb_ns;
    uint64_t bytes_in, bytes_out;
    uint64_t decode_ns;         /* --compressed: time decoding (not in latency) */
    uint64_t first_body_ns;     /* sent to the first body byte (0: no body) */
    const char *msg;            /* error description (valid during on_done) */
    const char *proto;          /* "HTTP/1.1" or "HTTP/2" (NULL: no connection) */
    bool set_cookie;            /* a Set-Cookie header (only when the owner's
                                   callbacks capture headers) */
    /* An upgrade answered 101: the bytes that followed its head (the new
     * protocol's first bytes; valid during on_done). */
    char *rest;
    size_t rest_len;
} xch_outcome;

struct xch_req {
    /* set by the owner before xch_submit */
    const char *data;           /* the encoded request (borrowed until on_done) */
    size_t len;
    uint64_t intended_ns;       /* latency origin (monotonic) */
    uint64_t timeout_ns;        /* whole request, from intended_ns (0: none) */
    uint64_t connect_timeout_ns;/* from the connect start (0: none) */
    uint64_t max_header_bytes;  /* 0: the parser's default */
    const http1_callbacks *cb;  /* header/body capture (may be NULL) */
    metrics_shard *shard;       /* where timings and the outcome go */
    void (*on_done)(xch_req *r, const xch_outcome *o);
    void *owner;
    bool head;                  /* HEAD: no body in the response */
    bool idempotent;            /* may be retried on a stale connection */
    bool close_after;           /* close the connection after the response */
    bool record_send_lag;       /* open model: record first byte - intended */
    /* A protocol switch (the WebSocket handshake): connect, TLS handshake
     * and resumption are recorded as for any request, but the response and
     * a failure are not counted as HTTP requests (the owner counts them).
     * A 101 leaves the connection open for the owner to take over in
     * on_done (xch_take_over); any other status closes it. */
    bool upgrade;
    /* private to the exchange. One xch_req is held per connection slot for
     * the whole run (10,000 idle TLS connections hold 10,000), so it is
     * kept small: what only one protocol uses shares a union, and the
     * --compressed callbacks live with the connection (xch_conn.dx). */
    bool sent, got_bytes, retried;
    uint64_t sent_ns, first_byte_ns, last_read_ns, bytes_in;
    uint64_t connect_ns;        /* time spent connecting for this request */
    uint64_t first_body_ns;     /* monotonic time the first body byte was read */
    uint64_t decode_ns;         /* --compressed: time spent in the decoder */
    xch_req *next, *prev;       /* neighbours in flight on the same connection */
    decode_kind dkind;          /* --compressed: this response's coding */
    int16_t decode_err;         /* a DECODE_E* code, 0: none */
    /* HTTP/2: the stream closed and is not handed out yet. Read for every
     * request in an HTTP/2 FIFO, streams opened or not, so it is kept out
     * of the union (HTTP/1.1 never sets it). */
    bool h2_closed;
    /* The protocol's state while r is in flight: HTTP/1.1 sets resp up in
     * its submit, HTTP/2 its part when it opens r's stream (read only
     * after that, but for h2_closed). */
    union {
        http1_resp resp;        /* HTTP/1.1: the response parser */
        struct {
            h2_stream h2;       /* HTTP/2: its stream */
            uint64_t h2_chunks; /* HTTP/2: body pieces read apart (as chunks) */
            uint32_t h2_code;   /* HTTP/2: how the stream closed */
            bool h2_processed;
            bool h2_raw_head;   /* HTTP/2, on_head_raw: the status line was given */
            bool h2_set_cookie; /* HTTP/2: a set-cookie field came */
        };
    };
};

/* A protocol driver: the per-connection operations the exchange calls. The
 * exchange keeps the requests in flight on a connection in submission order
 * (xch_conn.cur .. tail); a driver may answer them in order (HTTP/1.1
 * pipelining) or, for HTTP/2 streams, in any order. The owner decides how
 * many it submits at once (xch_conn.depth, --pipeline / --max-streams). */
typedef struct xch_proto {
    const char *name;
    uint32_t (*max_in_flight)(const xch_conn *xc);
    /* The connection is open and r is in its FIFO (xch_conn.wnext says which
     * is the first not yet written): start sending r. 0 or a negative errno. */
    int (*submit)(xch_conn *xc, xch_req *r);
    void (*on_readable)(xch_conn *xc);
    void (*on_write_error)(xch_conn *xc, int status);
    /* Requests in flight on xc. */
    uint32_t (*in_flight)(const xch_conn *xc);
    /* The connection took all of its pending output: write more. */
    void (*on_sent)(xch_conn *xc);
    /* The connection goes away: forget per-connection protocol state. */
    void (*on_close)(xch_conn *xc);
    /* Optional: the connection is up (after TLS), before the first submit:
     * set up per-connection state. 0 or a negative errno. */
    int (*on_open)(xch_conn *xc);
    /* Optional: the connection's deadline passed while open; true when the
     * driver ended the expired requests itself (else the head times out and
     * the connection goes, as for HTTP/1.1). */
    bool (*on_timeout)(xch_conn *xc);
} xch_proto;

extern const xch_proto xch_http1;
/* HTTP/2 over proto/h2 (load/exchange_h2.c): chosen per connection when
 * ALPN picks h2 or the target is h2c. */
extern const xch_proto xch_h2;

/* The exchange's --compressed state of a connection (exchange.c), made at
 * its first response that is decoded. */
typedef struct xch_decode xch_decode;

struct xch_conn {
    conn c;
    const xch_proto *proto;
    xch_ctx *ctx;
    xch_target *t;
    xch_req *cur;               /* the oldest request in flight (FIFO head) */
    xch_req *tail;              /* the newest request in flight */
    xch_req *wnext;             /* the first request in the FIFO not yet written */
    char *wbuf;                 /* depth > 1: several requests gathered in one write */
    xch_decode *dx;             /* --compressed: decoder, callbacks, line buffer */
    void *pstate;               /* the driver's per-connection state (HTTP/2) */
    loop_timer timer;           /* connect / request deadline */
    uint64_t connect_start_ns;
    uint32_t nflight;           /* requests in the FIFO */
    uint32_t depth;             /* requests the owner may keep in flight (>= 1) */
    uint32_t epoch;             /* counts closes: bytes read belong to one epoch */
    uint32_t responses;         /* on this connection: > 0 means reused */
    uint8_t addr_i;             /* address being tried (< ADDR_MAX) */
    uint8_t addr_tried;         /* addresses that failed for this connect */
    bool pumping;               /* writing the FIFO (no re-entry from on_sent) */
    bool cork;                  /* reading: requests submitted now are written after */
    bool write_failing;         /* a failed write is being handled (write_errors) */
};

/* Inside on_done of an upgrade answered 101: the connection's events go to
 * h with owner from now on (the exchange no longer reads it); close it
 * with xch_close, which keeps the count of open connections right. */
void xch_take_over(xch_conn *xc, const conn_handlers *h, void *owner);

/* Sets up xc (closed) for target t on ctx's loop. */
void xch_conn_init(xch_conn *xc, xch_ctx *ctx, xch_target *t);
/* Points a closed xc at another target (its TLS session is given up). */
void xch_conn_retarget(xch_conn *xc, xch_target *t);
/* Submits r: appends it to the connection's requests in flight and writes
 * it behind them, or connects first (requests submitted while connecting
 * are written once connected). The outcome always arrives through
 * r->on_done, possibly before this returns (an immediate failure). When a
 * connection ends with several requests in flight, the oldest gets the
 * error kind of what happened; each one behind it is closed_early, unless
 * the server closed cleanly (after a response, or stale) and every one of
 * them may be retried: then they are all sent once more on a new
 * connection and counted in retries. */
void xch_submit(xch_conn *xc, xch_req *r);
/* Submits rs[0..n) in that order on xc, pipelined: the connection's depth
 * is raised to n, and on HTTP/1.1 they leave in one write (as many as fit
 * the connection's 16 KiB gather buffer; a longer run in several). Each
 * outcome arrives through its own on_done, as for xch_submit. */
void xch_submit_all(xch_conn *xc, xch_req **rs, uint32_t n);
/* Requests in flight on xc. */
uint32_t xch_in_flight(const xch_conn *xc);
bool xch_is_open(const xch_conn *xc);
/* Ends every request in flight on xc as cancelled: counted, no on_done. */
void xch_cancel(xch_conn *xc);
/* Closes the connection (idle or not: in-flight requests are forgotten). */
void xch_close(xch_conn *xc, bool reset);
/* Closes and frees what xc keeps between connections (TLS session). */
void xch_conn_release(xch_conn *xc);

/* GET, HEAD, PUT, DELETE, OPTIONS, TRACE (RFC 9110 9.2.2). */
bool xch_method_idempotent(const char *method);

/* Fills t from u: resolves every address (blocking; before the run or once
 * per host and thread) through the route options ro (may be NULL). */
int xch_target_resolve(xch_target *t, const url *u, const route_opts *ro, const char *what,
                       err *e);

#endif
