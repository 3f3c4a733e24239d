/* server: threads, listening sockets and connections of `volley serve` (see
 * server.h). Each worker thread runs one net/loop; reqparse reads requests,
 * routes writes responses, this file decides when: keep-alive, pipelining in
 * order, deferred responses on loop timers (delay, stream, sse), timeouts,
 * write backpressure and the periodic stalls of --stall-every/--stall-for.
 * HTTPS: each connection first runs a non-blocking TLS handshake (net/tls),
 * then the same code reads and writes through sock_read / sock_writev. */
#include "server/server.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/loop.h"
#include "server/h2.h"
#include "server/reqparse.h"
#include "server/routes.h"
#include "server/ws_routes.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK 65536u             /* one read(2) per readiness event */
#define IN_MAX (64u * 1024)           /* input buffered while a response waits: stop reading */
#define OUT_HIGH (256u * 1024)        /* output pending: pipelined requests wait */
#define STREAM_OUT_MAX (4u << 20)     /* a stream client this far behind is dropped */
#define WBUF_KEEP (1u << 20)          /* the shared write buffer shrinks back past this */
#define BODY_KEEP (16u * 1024)        /* an echo body buffer is kept up to this */
#define LINGER_NS (2 * NS_PER_S)      /* draining input after an error response */
#define ACCEPT_PAUSE_NS (100 * NS_PER_MS)

/* Connection states. */
enum {
    ST_HEAD,   /* between requests or reading a head */
    ST_BODY,   /* reading a request body */
    ST_DEFER,  /* the response waits on c->tick (delay, stream, sse, buffered) */
    ST_LINGER, /* error sent, write side shut: drain input, then close */
};

typedef struct srv_worker srv_worker;

typedef struct srv_conn {
    srv_worker *w;
    int fd;
    uint8_t state;
    bool keepalive;   /* the current request allows reuse */
    bool v10;         /* the current request is HTTP/1.0 */
    bool close_after; /* close once the output is written */
    bool eof;         /* the peer shut its write side */
    bool parked;      /* stopped for a stall, on w->parked */
    bool ws_taken;    /* upgraded: a dup of fd belongs to ws_routes now */
    bool tick_due;    /* c->tick fell due during a stall */
    bool queued;      /* --capacity: waiting on c->tick for its service slot */
    bool hs;          /* TLS handshake not finished */
    bool io_err;      /* TLS: the connection failed; no goodbye, no resumption */
    bool bye;         /* TLS: close_notify sent */
    bool rd_wants_wr; /* TLS: SSL_read waits for the socket to be writable */
    unsigned hs_want; /* TLS handshake: LOOP_READ or LOOP_WRITE */
    struct ssl_st *ssl;
    srv_h2 *h2;            /* HTTP/2: the session that owns this connection's streams */
    uint64_t last_ns;      /* last read or write progress */
    uint64_t req_start_ns; /* first byte of an incomplete head, 0 if none */
    uint64_t bytes_left;   /* /bytes body still to write from the fill block */
    uint64_t seq;          /* deferred: chunks / events done */
    buf in;                /* unprocessed input (empty = no storage) */
    buf out;               /* unwritten output (empty = no storage) */
    buf body;              /* /echo: X-Echo headers, then the decoded body */
    size_t echo_hdr_len;
    reqparse_body bp;
    routes_match m;
    loop_timer tmo;  /* idle, header and linger timeouts (lazily re-armed) */
    loop_timer tick; /* the deferred response's next step */
    struct srv_conn *prev, *next, *park_next;
} srv_conn;

struct srv_worker {
    server *srv;
    unsigned idx;
    loop *l;
    int lfd;
    pthread_t tid;
    bool started;
    srv_conn *conns; /* all connections of this thread */
    srv_conn *parked;
    loop_timer stall_timer;
    loop_timer accept_timer;
    uint64_t rng;
    char *rbuf;  /* every read lands here first */
    buf wbuf;    /* responses are built here when c->out is empty */
    uint64_t tls_handshakes, tls_resumed;
};

struct server {
    server_config cfg;
    srv_worker *w;
    unsigned n;
    uint64_t start_ns;
    _Atomic uint64_t cap_free_ns;  /* --capacity: when the queue's server is next free */
    _Atomic uint64_t cap_served, cap_refused;
    addr bound;
    bool stopped;
};

void server_config_defaults(server_config *c)
{
    memset(c, 0, sizeof *c);
    err e;
    addr_parse_hostport("127.0.0.1:8080", "listen", &c->listen, &e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n > 0 ? (unsigned)n : 1;
    c->idle_timeout_ns = 60 * NS_PER_S;
    c->header_timeout_ns = 10 * NS_PER_S;
    c->max_head_bytes = 16 * 1024;
    c->max_body_bytes = 8u << 20;
    c->capacity_queue_ns = NS_PER_S;
}

/* ---- small helpers ---- */

/* xorshift64*: per thread, no locks; quality is plenty for random delays. */
static uint64_t rnd(srv_worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rand_ns(srv_worker *w, uint64_t max_ms)
{
    return max_ms ? rnd(w) % (max_ms * NS_PER_MS + 1) : 0;
}

/* Stall windows are [k*every, k*every+for) after start, k >= 1, the same on
 * every thread. Returns the end of the current window, 0 outside one. */
static uint64_t stall_end(const server *s, uint64_t now)
{
    uint64_t every = s->cfg.stall_every_ns;
    if (!every || now < s->start_ns)
        return 0;
    uint64_t rel = now - s->start_ns, k = rel / every;
    if (k == 0 || rel - k * every >= s->cfg.stall_for_ns)
        return 0;
    return s->start_ns + k * every + s->cfg.stall_for_ns;
}

static buf *outbuf(srv_conn *c)
{
    return buf_unread(&c->out) ? &c->out : &c->w->wbuf;
}

static size_t out_pending(srv_conn *c)
{
    return buf_unread(outbuf(c)) + (size_t)c->bytes_left;
}

static void srv_conn_close(srv_conn *c)
{
    srv_worker *w = c->w;
    srv_h2_free(c->h2);
    c->h2 = NULL;
    if (c->ssl) {
        bool clean = !c->hs && !c->io_err;
        tls_io_free(c->ssl, clean, clean && !c->bye);
        c->ssl = NULL;
    }
    loop_unwatch(w->l, c->fd);
    close(c->fd);
    loop_timer_stop(w->l, &c->tmo);
    loop_timer_stop(w->l, &c->tick);
    if (c->parked)
        for (srv_conn **pp = &w->parked; *pp; pp = &(*pp)->park_next)
            if (*pp == c) {
                *pp = c->park_next;
                break;
            }
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->body);
    free(c);
}

static void on_tmo(loop *l, void *data);
static void on_tick(loop *l, void *data);
static void on_stall_end(loop *l, void *data);

/* Brings the timeout timer forward to `when` if it would fire later. */
static void tmo_by(srv_conn *c, uint64_t when)
{
    if (!loop_timer_active(&c->tmo) || c->tmo.when_ns > when)
        loop_timer_start(c->w->l, &c->tmo, when, on_tmo, c);
}

/* Stops reading and writing c until the stall ends (then on_stall_end). */
static void park(srv_conn *c, uint64_t end)
{
    srv_worker *w = c->w;
    if (!c->parked) {
        c->parked = true;
        loop_set_events(w->l, c->fd, 0);
        c->park_next = w->parked;
        w->parked = c;
    }
    if (!loop_timer_active(&w->stall_timer))
        loop_timer_start(w->l, &w->stall_timer, end, on_stall_end, w);
}

/* ---- socket I/O: plain or TLS, with read(2)/writev(2) conventions ---- */

static ssize_t sock_read(srv_conn *c, void *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    unsigned want = 0;
    ssize_t r = tls_io_read(c->ssl, p, n, &want, NULL);
    c->rd_wants_wr = r == -EAGAIN && want == LOOP_WRITE;
    if (r >= 0)
        return r;
    if (r != -EAGAIN)
        c->io_err = true;
    errno = (int)-r;
    return -1;
}

/* TLS has no writev: the pieces go one SSL_write (one record or more) each. */
static ssize_t sock_writev(srv_conn *c, const struct iovec *iov, int n)
{
    if (!c->ssl)
        return writev(c->fd, iov, n);
    size_t done = 0;
    for (int i = 0; i < n; i++) {
        unsigned want = 0;
        ssize_t k = tls_io_write(c->ssl, iov[i].iov_base, iov[i].iov_len, &want, NULL);
        if (k < 0) {
            if (done)
                return (ssize_t)done;
            if (k != -EAGAIN)
                c->io_err = true;
            errno = (int)-k;
            return -1;
        }
        done += (size_t)k;
        if ((size_t)k < iov[i].iov_len)
            break;
    }
    return (ssize_t)done;
}

/* ---- responses ---- */

/* An error the stream cannot recover from: answer and close. */
static void fatal_error(srv_conn *c, int status, const char *why)
{
    routes_match m = {.id = ROUTE_ERROR, .status = status, .error = why};
    routes_write_simple(outbuf(c), &m, true, false);
    c->keepalive = false;
    c->close_after = true;
    c->state = ST_HEAD;
}

/* The current response is complete. */
static void complete(srv_conn *c)
{
    c->state = ST_HEAD;
    if (!c->keepalive)
        c->close_after = true;
}

static void defer_until(srv_conn *c, uint64_t when)
{
    c->state = ST_DEFER;
    loop_timer_start(c->w->l, &c->tick, when, on_tick, c);
}

static uint64_t next_step_ns(srv_conn *c)
{
    return loop_now(c->w->l) + c->m.interval_ms * NS_PER_MS + rand_ns(c->w, c->m.max_delay_ms);
}

static int write_echo(srv_conn *c, buf *o, bool close, bool ka10)
{
    size_t blen = c->body.len - c->echo_hdr_len;
    int rc = buf_printf(o,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Length: %zu\r\n%.*s%s\r\n",
                        blen, (int)c->echo_hdr_len, c->body.data ? c->body.data : "",
                        close ? "Connection: close\r\n" : ka10 ? "Connection: keep-alive\r\n" : "");
    if (!rc && !c->m.head)
        rc = buf_append(o, c->body.data + c->echo_hdr_len, blen);
    if (c->body.cap > BODY_KEEP)
        buf_free(&c->body);
    buf_reset(&c->body);
    return rc;
}

/* One piece of a /stream or /sse body. */
static int write_piece(srv_conn *c, buf *o)
{
    bool chunked = !c->v10;
    if (c->m.id == ROUTE_SSE)
        return routes_write_sse_event(o, c->seq, c->m.chunks, chunked);
    int rc = chunked ? buf_printf(o, "%llx\r\n", (unsigned long long)c->m.size) : 0;
    if (!rc)
        rc = routes_write_fill(o, c->m.size);
    if (!rc && chunked)
        rc = buf_append(o, "\r\n", 2);
    return rc;
}

/* Writes the next /stream or /sse piece (the first from dispatch, the rest
 * from the tick timer) and the end when it was the last. */
static int stream_step(srv_conn *c)
{
    buf *o = outbuf(c);
    int rc = 0;
    if (c->seq < c->m.chunks) {
        c->seq++;
        rc = write_piece(c, o);
    }
    if (rc)
        return rc;
    if (c->seq < c->m.chunks) {
        defer_until(c, next_step_ns(c));
        return 0;
    }
    if (!c->v10)
        rc = buf_append(o, "0\r\n\r\n", 5);
    complete(c);
    return rc;
}

static int stream_start(srv_conn *c, bool close)
{
    bool sse = c->m.id == ROUTE_SSE;
    if (c->v10) /* no chunked encoding in 1.0: the body ends at close */
        close = true, c->keepalive = false;
    int rc = routes_write_head(outbuf(c), 200, sse ? "text/event-stream" : "text/plain",
                               c->v10 ? ROUTES_NO_LENGTH : ROUTES_CHUNKED,
                               sse ? "Cache-Control: no-cache\r\n" : NULL, close, false);
    if (rc || c->m.head) {
        complete(c);
        return rc;
    }
    c->seq = 0;
    if (c->m.first_ms) { /* the head now, the first chunk later (time to first token) */
        defer_until(c, loop_now(c->w->l) + c->m.first_ms * NS_PER_MS);
        return 0;
    }
    return stream_step(c);
}

/* /buffered: the same schedule as /stream, answered at its end. */
static int buffered_step(srv_conn *c)
{
    if (++c->seq < c->m.chunks) {
        defer_until(c, next_step_ns(c));
        return 0;
    }
    buf *o = outbuf(c);
    uint64_t total = c->m.chunks * c->m.size;
    int rc = routes_write_head(o, 200, "text/plain", (int64_t)total, NULL, !c->keepalive,
                               c->v10 && c->keepalive);
    /* Chunk by chunk, so the bytes equal those of /stream. */
    for (uint64_t i = 0; !rc && !c->m.head && i < c->m.chunks; i++)
        rc = routes_write_fill(o, c->m.size);
    complete(c);
    return rc;
}

/* --capacity: takes the next service slot of the one virtual queue (every
 * thread shares it): done = max(arrival, previous done) + 1/R. The server
 * may also use up to CAPACITY_SLACK_NS of work it was idle for just before
 * (a token bucket that deep): when this process is descheduled, requests
 * reach it late in a burst, and the host's hiccup must not count as lost
 * capacity. Over any interval T at most R*(T + slack) complete. Returns the
 * completion time, or 0 when the wait would exceed the queue's bound. */
#define CAPACITY_SLACK_NS (50 * NS_PER_MS)

static uint64_t capacity_slot(server *s)
{
    uint64_t now = clock_now_ns(), svc = NS_PER_S / s->cfg.capacity_per_s;
    uint64_t idle_from = now > CAPACITY_SLACK_NS ? now - CAPACITY_SLACK_NS : 0;
    uint64_t prev = atomic_load(&s->cap_free_ns), start, done;
    do {
        start = prev > idle_from ? prev : idle_from;
        if (start > now && start - now > s->cfg.capacity_queue_ns)
            return 0;
        done = start + svc;
    } while (!atomic_compare_exchange_weak(&s->cap_free_ns, &prev, done));
    return done;
}

/* Queues the request for its slot (true: the answer waits on c->tick, or
 * it was refused with 503 because the queue is full; false: answer now). */
static bool capacity_queue(srv_conn *c)
{
    server *s = c->w->srv;
    uint64_t done = capacity_slot(s);
    if (!done) {
        atomic_fetch_add(&s->cap_refused, 1);
        routes_match busy = {.id = ROUTE_ERROR, .status = 503, .error = "over capacity",
                             .head = c->m.head};
        if (routes_write_simple(outbuf(c), &busy, !c->keepalive, c->v10 && c->keepalive))
            c->keepalive = false;
        complete(c);
        return true;
    }
    atomic_fetch_add(&s->cap_served, 1);
    if (done <= loop_now(c->w->l))
        return false; /* its slot is already over (slack): answer now */
    c->queued = true;
    defer_until(c, done);
    return true;
}

/* The request (and its body) is complete: answer or start a deferred answer. */
static void dispatch(srv_conn *c)
{
    srv_worker *w = c->w;
    if (w->srv->cfg.capacity_per_s && !c->queued && capacity_queue(c))
        return;
    c->queued = false;
    routes_match *m = &c->m;
    buf *o = outbuf(c);
    bool close = !c->keepalive, ka10 = c->v10 && c->keepalive;
    int rc = 0;
    c->state = ST_HEAD;
    switch (m->id) {
    case ROUTE_HEALTH:
        if (!close && !ka10 && !m->head)
            rc = buf_append(o, routes_health_response, routes_health_response_len);
        else
            rc = routes_write_simple(o, m, close, ka10);
        break;
    case ROUTE_ECHO:
        rc = write_echo(c, o, close, ka10);
        break;
    case ROUTE_BYTES:
        rc = routes_write_head(o, 200, "application/octet-stream", (int64_t)m->n, NULL, close,
                               ka10);
        if (!m->head)
            c->bytes_left = m->n;
        break;
    case ROUTE_DELAY:
        defer_until(c, loop_now(w->l) + m->n * NS_PER_MS + m->extra_us * 1000 +
                           rand_ns(w, m->jitter_ms) + rand_ns(w, m->max_delay_ms));
        return;
    case ROUTE_STREAM:
    case ROUTE_SSE:
        rc = stream_start(c, close);
        break;
    case ROUTE_BUFFERED:
        c->seq = 0;
        if (m->first_ms) { /* the first chunk is ready only after first_ms */
            defer_until(c, loop_now(w->l) + m->first_ms * NS_PER_MS);
            return;
        }
        rc = buffered_step(c);
        break;
    default:
        rc = routes_write_simple(o, m, close, ka10);
        break;
    }
    if (rc)
        c->keepalive = false;
    if (c->state == ST_HEAD)
        complete(c);
}

/* A complete head (its bytes: head, r->head_len): route it and start on its body. */
static void begin(srv_conn *c, const reqparse_req *r, const char *head)
{
    const server_config *cfg = &c->w->srv->cfg;
    c->keepalive = r->keepalive;
    c->v10 = r->minor_version == 0;
    routes_match_request(r->method, r->method_len, r->target, r->target_len, &c->m);
    int rc = reqparse_body_init(&c->bp, r, cfg->max_body_bytes);
    if (rc < 0) {
        fatal_error(c, reqparse_status(rc), c->bp.error);
        return;
    }
    if (c->m.id == ROUTE_ECHO) {
        buf_reset(&c->body);
        if (buf_printf(&c->body, "X-Echo-Method: %.*s\r\nX-Echo-Path: %.*s\r\n",
                       (int)r->method_len, r->method, (int)r->target_len, r->target) ||
            (c->m.echo_headers && routes_echo_headers(&c->body, head, r->head_len))) {
            fatal_error(c, 500, "out of memory");
            return;
        }
        c->echo_hdr_len = c->body.len;
    }
    if (rc == REQPARSE_DONE) {
        dispatch(c);
        return;
    }
    if (r->expect_continue)
        buf_append(outbuf(c), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    c->state = ST_BODY;
}

/* ---- HTTP/2 (server/h2 owns the streams; this is the socket side) ---- */

static void finish(srv_conn *c);
static int flush(srv_conn *c);

static buf *h2_outbuf(void *p) { return outbuf(p); }

static uint64_t h2_stall_end(void *p, uint64_t now)
{
    srv_conn *c = p;
    return stall_end(c->w->srv, now);
}

static uint64_t h2_rand_ns(void *p, uint64_t max_ms)
{
    srv_conn *c = p;
    return rand_ns(c->w, max_ms);
}

/* A stream's timer added output. */
static void h2_kick(void *p)
{
    srv_conn *c = p;
    if (c->parked)
        return; /* written when the stall ends */
    uint64_t end = stall_end(c->w->srv, loop_now(c->w->l));
    if (end)
        park(c, end);
    else
        finish(c);
}

static int h2_start(srv_conn *c)
{
    const server_config *cfg = &c->w->srv->cfg;
    srv_h2_host host = {.l = c->w->l, .conn = c, .outbuf = h2_outbuf, .kick = h2_kick,
                        .stall_end = h2_stall_end, .rand_ns = h2_rand_ns,
                        .max_body_bytes = cfg->max_body_bytes, .max_streams = cfg->h2_max_streams};
    c->h2 = srv_h2_new(&host);
    return c->h2 ? 0 : -1;
}

/* Every byte goes to the session; a protocol error closes after its GOAWAY. */
static size_t h2_process(srv_conn *c, const char *data, size_t len)
{
    if (srv_h2_feed(c->h2, data, len) < 0)
        c->close_after = true;
    return len;
}

/* HTTP/2's finish: frames out until the socket or the session has no more. */
static void h2_finish(srv_conn *c)
{
    for (int i = 0; i < 64; i++) {
        ssize_t added = srv_h2_flush(c->h2, OUT_HIGH);
        if (added < 0) {
            buf_reset(&c->w->wbuf);
            srv_conn_close(c);
            return;
        }
        if (flush(c) < 0)
            return;
        if (buf_unread(&c->out) || added == 0)
            break;
    }
    bool pending = buf_unread(&c->out) != 0;
    if (!pending && (srv_h2_finished(c->h2) || c->close_after || c->eof)) {
        srv_conn_close(c);
        return;
    }
    unsigned ev = pending ? LOOP_WRITE : 0;
    if (!c->eof)
        ev |= c->rd_wants_wr ? LOOP_WRITE : LOOP_READ;
    loop_set_events(c->w->l, c->fd, ev);
}

/* With --h2, a connection that opens with the HTTP/2 preface is HTTP/2
 * (prior knowledge, h2c). Returns true when data is (or may still become)
 * the preface: *ready says whether the session has started. */
static bool h2_preface(srv_conn *c, const char *data, size_t len, bool *ready)
{
    size_t k = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
    *ready = false;
    if (!c->w->srv->cfg.h2 || c->state != ST_HEAD || memcmp(data, H2_PREFACE, k))
        return false;
    if (len < H2_PREFACE_LEN)
        return true;
    if (h2_start(c))
        c->close_after = true;
    else
        *ready = true;
    return true;
}

/* Runs the requests in data[0..len) in order until one must wait (deferred
 * response, output backlog) or needs more bytes. Returns bytes consumed.
 * Never closes c: errors set close_after. */
static size_t process(srv_conn *c, const char *data, size_t len)
{
    const server_config *cfg = &c->w->srv->cfg;
    uint64_t now = loop_now(c->w->l);
    size_t used = 0;
    bool h2_ready;
    if (c->h2)
        return h2_process(c, data, len);
    if (len && h2_preface(c, data, len, &h2_ready))
        return h2_ready ? h2_process(c, data, len) : 0;
    while (!c->close_after && c->state != ST_DEFER && !c->bytes_left &&
           buf_unread(outbuf(c)) <= OUT_HIGH) {
        if (used == len)
            break;
        if (c->state == ST_HEAD) {
            reqparse_req r;
            int rc = reqparse_head(data + used, len - used, cfg->max_head_bytes, &r);
            if (rc == REQPARSE_NEED_MORE) {
                if (!c->req_start_ns) {
                    c->req_start_ns = now;
                    tmo_by(c, now + cfg->header_timeout_ns);
                }
                break;
            }
            if (rc < 0) {
                fatal_error(c, reqparse_status(rc), r.error);
                break;
            }
            used += r.head_len;
            c->req_start_ns = 0;
            /* WebSocket and session routes (server/ws_routes.c). */
            int wr = c->ssl ? WS_ROUTES_NONE
                            : ws_routes_handle(c->w->l, c->fd, data + used - r.head_len,
                                               r.head_len, &r, data + used, len - used,
                                               outbuf(c));
            if (wr == WS_ROUTES_TAKEN) {
                c->ws_taken = true;
                c->close_after = true;
                used = len;
                break;
            }
            if (wr != WS_ROUTES_NONE) {
                c->keepalive = wr == WS_ROUTES_ANSWERED;
                complete(c);
                continue;
            }
            begin(c, &r, data + used - r.head_len);
            continue;
        }
        size_t n = 0;
        int rc = reqparse_body_feed(&c->bp, data + used, len - used, &n,
                                    c->m.id == ROUTE_ECHO ? &c->body : NULL);
        used += n;
        if (rc == REQPARSE_NEED_MORE) {
            tmo_by(c, now + cfg->header_timeout_ns);
            break;
        }
        if (rc < 0) {
            fatal_error(c, reqparse_status(rc), c->bp.error);
            break;
        }
        dispatch(c);
    }
    return used;
}

/* Writes pending output. Returns -1 if c was closed. */
static int flush(srv_conn *c)
{
    srv_worker *w = c->w;
    buf *o = outbuf(c);
    while (buf_unread(o) || c->bytes_left) {
        struct iovec iov[2];
        int n = 0;
        if (buf_unread(o))
            iov[n++] = (struct iovec){buf_rpos(o), buf_unread(o)};
        if (c->bytes_left)
            iov[n++] = (struct iovec){(void *)routes_fill(), c->bytes_left < ROUTES_FILL_LEN
                                                                 ? (size_t)c->bytes_left
                                                                 : ROUTES_FILL_LEN};
        ssize_t k = sock_writev(c, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            buf_reset(&w->wbuf);
            srv_conn_close(c);
            return -1;
        }
        c->last_ns = loop_now(w->l);
        size_t a = (size_t)k < buf_unread(o) ? (size_t)k : buf_unread(o);
        buf_consume(o, a);
        c->bytes_left -= (size_t)k - a;
    }
    if (o == &w->wbuf) {
        /* The rest of a response built in the shared buffer moves to c. */
        int rc = buf_unread(o) ? buf_append(&c->out, buf_rpos(o), buf_unread(o)) : 0;
        buf_reset(o);
        if (o->cap > WBUF_KEEP)
            buf_free(o);
        if (rc) {
            srv_conn_close(c);
            return -1;
        }
    } else if (!buf_unread(&c->out)) {
        buf_free(&c->out);
    }
    return 0;
}

static void start_linger(srv_conn *c)
{
    if (c->ws_taken) { /* nothing to say: the socket lives on in ws_routes */
        srv_conn_close(c);
        return;
    }
    /* Closing with unread input would send RST, which can destroy the error
     * response before the client reads it: shut writes, drain, then close. */
    if (c->ssl && !c->eof) {
        /* The TLS close alert goes before the TCP FIN. */
        tls_io_goodbye(c->ssl);
        c->bye = true;
    }
    if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
        srv_conn_close(c);
        return;
    }
    c->state = ST_LINGER;
    buf_free(&c->in);
    loop_set_events(c->w->l, c->fd, LOOP_READ);
    loop_timer_start(c->w->l, &c->tmo, loop_now(c->w->l) + LINGER_NS, on_tmo, c);
}

/* After every event: write, run requests that waited for the output to
 * drain (pipelined behind /bytes or a backlog), then choose what to wait for. */
static void finish(srv_conn *c)
{
    bool pending;
    if (c->hs) { /* resumed after a stall, mid-handshake */
        loop_set_events(c->w->l, c->fd, c->hs_want);
        return;
    }
    if (c->h2) {
        h2_finish(c);
        return;
    }
    for (;;) {
        if (flush(c) < 0)
            return;
        pending = buf_unread(&c->out) || c->bytes_left;
        if (pending || !buf_unread(&c->in) || c->state == ST_DEFER || c->close_after)
            break;
        size_t u = process(c, buf_rpos(&c->in), buf_unread(&c->in));
        buf_consume(&c->in, u);
        if (!buf_unread(&c->in))
            buf_free(&c->in);
        if (u == 0 && !buf_unread(outbuf(c)))
            break; /* waits for more bytes */
    }
    if (!pending && c->close_after) {
        start_linger(c);
        return;
    }
    if (!pending && c->eof && c->state != ST_DEFER) {
        srv_conn_close(c);
        return;
    }
    unsigned ev = pending ? LOOP_WRITE : 0;
    if (!c->close_after && !c->eof && buf_unread(&c->in) < IN_MAX)
        ev |= c->rd_wants_wr ? LOOP_WRITE : LOOP_READ;
    loop_set_events(c->w->l, c->fd, ev);
}

/* Processes buffered input (after a deferred response, a stall, a drained
 * backlog), then finish. */
static void run(srv_conn *c)
{
    uint64_t end = stall_end(c->w->srv, loop_now(c->w->l));
    if (end) {
        park(c, end);
        return;
    }
    if (buf_unread(&c->in)) {
        size_t u = process(c, buf_rpos(&c->in), buf_unread(&c->in));
        buf_consume(&c->in, u);
        if (!buf_unread(&c->in))
            buf_free(&c->in);
    }
    finish(c);
}

static void linger_read(srv_conn *c)
{
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(c->fd, c->w->rbuf, READ_CHUNK);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break;
    }
    srv_conn_close(c);
}

/* One step of a TLS handshake; when it is done the connection waits for
 * its first request like any other (the request may already be waiting in
 * the socket: level-triggered epoll reports it at once). */
static void handshake_step(srv_conn *c)
{
    srv_worker *w = c->w;
    unsigned want = 0;
    tls_fail f = {0};
    int rc = tls_io_handshake(c->ssl, &want, &f);
    if (rc == -EAGAIN) {
        c->hs_want = want;
        loop_set_events(w->l, c->fd, want);
        return;
    }
    if (rc < 0) {
        char why[256];
        tls_fail_str(&f, why, sizeof why);
        log_debug("serve: TLS handshake failed: %s", why);
        c->io_err = true;
        srv_conn_close(c);
        return;
    }
    c->hs = false;
    c->last_ns = loop_now(w->l);
    w->tls_handshakes++;
    if (tls_io_resumed(c->ssl))
        w->tls_resumed++;
    if (w->srv->cfg.h2 && tls_io_alpn_is(c->ssl, "h2") && h2_start(c)) {
        srv_conn_close(c);
        return;
    }
    finish(c);
}

static void on_io(loop *l, int fd, void *data, unsigned events)
{
    srv_conn *c = data;
    srv_worker *w = c->w;
    (void)fd;
    if (c->state == ST_LINGER) {
        linger_read(c);
        return;
    }
    uint64_t end = stall_end(w->srv, loop_now(l));
    if (end) {
        park(c, end);
        return;
    }
    if (c->hs) {
        handshake_step(c);
        return;
    }
    unsigned rd_ready = LOOP_READ | LOOP_ERROR | (c->rd_wants_wr ? LOOP_WRITE : 0);
    if ((events & rd_ready) && !c->eof) {
        ssize_t n = sock_read(c, w->rbuf, READ_CHUNK);
        if (n > 0) {
            c->last_ns = loop_now(l);
            if (buf_unread(&c->in)) {
                if (buf_append(&c->in, w->rbuf, (size_t)n)) {
                    srv_conn_close(c);
                    return;
                }
                size_t u = process(c, buf_rpos(&c->in), buf_unread(&c->in));
                buf_consume(&c->in, u);
                if (!buf_unread(&c->in))
                    buf_free(&c->in);
            } else {
                size_t u = process(c, w->rbuf, (size_t)n);
                if (u < (size_t)n && buf_append(&c->in, w->rbuf + u, (size_t)n - u)) {
                    buf_reset(&w->wbuf);
                    srv_conn_close(c);
                    return;
                }
            }
        } else if (n == 0) {
            c->eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            buf_reset(&w->wbuf);
            srv_conn_close(c);
            return;
        }
    }
    finish(c);
}

static void on_tick(loop *l, void *data)
{
    srv_conn *c = data;
    uint64_t end = stall_end(c->w->srv, loop_now(l));
    if (c->parked || end) {
        /* Due during a stall: runs when it ends. */
        c->tick_due = true;
        if (!c->parked)
            park(c, end);
        return;
    }
    int rc = 0;
    if (c->queued) { /* --capacity: its service slot is over; now the route */
        dispatch(c);
        run(c);
        return;
    }
    if (c->m.id == ROUTE_DELAY) {
        routes_match ok = {.id = ROUTE_HEALTH, .head = c->m.head};
        rc = routes_write_simple(outbuf(c), &ok, !c->keepalive, c->v10 && c->keepalive);
        complete(c);
    } else if (c->m.id == ROUTE_BUFFERED) {
        rc = buffered_step(c);
    } else {
        if (out_pending(c) > STREAM_OUT_MAX) { /* the client stopped reading */
            buf_reset(&c->w->wbuf);
            srv_conn_close(c);
            return;
        }
        rc = stream_step(c);
    }
    if (rc) {
        c->keepalive = false;
        complete(c);
    }
    run(c);
}

static void on_stall_end(loop *l, void *data)
{
    srv_worker *w = data;
    srv_conn *c = w->parked;
    w->parked = NULL;
    while (c) {
        srv_conn *next = c->park_next;
        c->parked = false;
        c->park_next = NULL;
        c->last_ns = loop_now(l);
        if (c->tick_due) {
            c->tick_due = false;
            on_tick(l, c);
        } else if (c->state == ST_DEFER) {
            /* Paused while waiting: only resume reading. */
            finish(c);
        } else {
            run(c);
        }
        c = next;
    }
}

/* Idle, header and write timeouts share one timer: it is armed at the
 * earliest possible deadline and, when it fires, re-armed if activity moved
 * the real deadline later. That keeps the per-request hot path free of
 * timer-heap work. */
static void on_tmo(loop *l, void *data)
{
    srv_conn *c = data;
    const server_config *cfg = &c->w->srv->cfg;
    uint64_t now = loop_now(l), deadline;
    bool answer = false;
    if (c->state == ST_LINGER) {
        srv_conn_close(c);
        return;
    }
    if (c->parked || c->state == ST_DEFER || (c->h2 && !srv_h2_finished(c->h2) &&
                                               srv_h2_open_streams(c->h2))) {
        deadline = now + cfg->idle_timeout_ns;
    } else if (buf_unread(&c->out) || c->bytes_left) {
        deadline = c->last_ns + cfg->idle_timeout_ns;
    } else if (c->state == ST_BODY) {
        deadline = c->last_ns + cfg->header_timeout_ns;
        answer = true;
    } else if (c->req_start_ns) {
        deadline = c->req_start_ns + cfg->header_timeout_ns;
        answer = true;
    } else {
        deadline = c->last_ns + cfg->idle_timeout_ns;
    }
    if (now < deadline) {
        loop_timer_start(l, &c->tmo, deadline, on_tmo, c);
        return;
    }
    if (!answer) {
        srv_conn_close(c);
        return;
    }
    fatal_error(c, 408, "request not received in time");
    finish(c);
}

/* ---- accepting ---- */

static void on_accept(loop *l, int fd, void *data, unsigned events);

static void on_accept_resume(loop *l, void *data)
{
    srv_worker *w = data;
    loop_set_events(l, w->lfd, LOOP_READ);
}

static void srv_conn_new(srv_worker *w, int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    if (w->srv->cfg.tls) {
        c->ssl = tls_io_accept_new(w->srv->cfg.tls, fd);
        if (!c->ssl) {
            free(c);
            close(fd);
            return;
        }
        c->hs = true;
        c->hs_want = LOOP_READ;
    }
    loop_timer_init(&c->tmo);
    loop_timer_init(&c->tick);
    c->last_ns = loop_now(w->l);
    if (loop_watch(w->l, fd, LOOP_READ, on_io, c, NULL)) {
        tls_io_free(c->ssl, false, false);
        free(c);
        close(fd);
        return;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    loop_timer_start(w->l, &c->tmo, c->last_ns + w->srv->cfg.idle_timeout_ns, on_tmo, c);
}

static void on_accept(loop *l, int fd, void *data, unsigned events)
{
    srv_worker *w = data;
    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            srv_conn_new(w, cfd);
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
            continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* Retrying at once would spin: the pending connection stays in
             * the backlog until a descriptor is free. */
            log_warn("serve: accept: %s; pausing accepts for 100ms", strerror(errno));
            loop_set_events(l, fd, 0);
            loop_timer_start(l, &w->accept_timer, loop_now(l) + ACCEPT_PAUSE_NS,
                             on_accept_resume, w);
            return;
        default:
            return; /* EAGAIN: all accepted */
        }
    }
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
    srv_worker *w = arg;
    loop_update_now(w->l);
    loop_run(w->l);
    return NULL;
}

static int listen_on(const addr *a, int *out, err *e)
{
    char name[64];
    addr_format(a, name, sizeof name);
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(e, "serve: socket for %s", name);
    int one = 1;
    bool inet = a->sa.ss_family != AF_UNIX;
    if (inet && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
                 setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)) {
        close(fd);
        return err_sys(e, "serve: setsockopt on %s", name);
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
        close(fd);
        return err_sys(e, "serve: cannot listen on %s", name);
    }
    if (listen(fd, SOMAXCONN) < 0) {
        close(fd);
        return err_sys(e, "serve: listen on %s", name);
    }
    *out = fd;
    return 0;
}

/* SO_REUSEPORT would let us share a port another server of this user holds
 * (splitting its traffic): bind once without it first to see the port free. */
static int check_port_free(const addr *a, err *e)
{
    char name[64];
    addr_format(a, name, sizeof name);
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(e, "serve: socket for %s", name);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (const struct sockaddr *)&a->sa, a->len);
    if (rc < 0)
        err_sys(e, "serve: cannot listen on %s", name);
    close(fd);
    return rc < 0 ? VOLLEY_ESYS : 0;
}

static int worker_init(server *s, unsigned i, const addr *a, err *e)
{
    srv_worker *w = &s->w[i];
    w->srv = s;
    w->idx = i;
    loop_timer_init(&w->stall_timer);
    loop_timer_init(&w->accept_timer);
    w->rng = (clock_now_ns() ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL)) | 1;
    w->rbuf = malloc(READ_CHUNK);
    if (!w->rbuf)
        return err_set(e, VOLLEY_ENOMEM, "serve: out of memory");
    if (!(w->l = loop_new(e)))
        return e ? e->code : VOLLEY_ENOMEM;
    /* A Unix socket path is bound once; the other threads accept on the
     * same socket (no SO_REUSEPORT for AF_UNIX). */
    int rc = 0;
    if (a->sa.ss_family == AF_UNIX && i > 0) {
        if ((w->lfd = fcntl(s->w[0].lfd, F_DUPFD_CLOEXEC, 0)) < 0)
            return err_sys(e, "serve: dup of the Unix socket");
    } else {
        rc = listen_on(a, &w->lfd, e);
    }
    if (rc)
        return rc;
    return loop_watch(w->l, w->lfd, LOOP_READ, on_accept, w, e);
}

int server_start(const server_config *cfg, server **out, err *e)
{
    *out = NULL;
    char name[64];
    addr_format(&cfg->listen, name, sizeof name);
    if (!addr_is_loopback(&cfg->listen))
        return err_set(e, VOLLEY_EINVAL,
                       "serve: %s is not a loopback address (volley serve only listens on "
                       "127.0.0.0/8 or [::1])", name);
    if (cfg->threads < 1 || cfg->threads > 1024)
        return err_set(e, VOLLEY_EINVAL, "serve: threads must be 1..1024");
    if (cfg->stall_every_ns && cfg->stall_for_ns >= cfg->stall_every_ns)
        return err_set(e, VOLLEY_EINVAL, "serve: --stall-for must be shorter than --stall-every");
    server *s = calloc(1, sizeof *s);
    if (!s || !(s->w = calloc(cfg->threads, sizeof *s->w))) {
        free(s);
        return err_set(e, VOLLEY_ENOMEM, "serve: out of memory");
    }
    s->cfg = *cfg;
    s->n = cfg->threads;
    for (unsigned i = 0; i < s->n; i++)
        s->w[i].lfd = -1;
    addr a = cfg->listen;
    int rc0 = addr_port(&a) ? check_port_free(&a, e) : 0;
    if (rc0) {
        server_free(s);
        return rc0;
    }
    for (unsigned i = 0; i < s->n; i++) {
        int rc = worker_init(s, i, &a, e);
        if (rc) {
            server_free(s);
            return rc;
        }
        if (i == 0) {
            /* Port 0: the others must join the port the kernel chose. */
            a.len = sizeof a.sa;
            if (getsockname(s->w[0].lfd, (struct sockaddr *)&a.sa, &a.len) < 0) {
                server_free(s);
                return err_sys(e, "serve: getsockname");
            }
            s->bound = a;
        }
    }
    routes_fill();
    s->start_ns = clock_now_ns();
    for (unsigned i = 0; i < s->n; i++) {
        if (pthread_create(&s->w[i].tid, NULL, worker_main, &s->w[i])) {
            server_free(s);
            return err_set(e, VOLLEY_ESYS, "serve: cannot start thread %u", i);
        }
        s->w[i].started = true;
    }
    *out = s;
    return 0;
}

void server_address(const server *s, addr *out) { *out = s->bound; }

void server_capacity_stats(const server *s, uint64_t *served, uint64_t *refused)
{
    *served = atomic_load(&((server *)s)->cap_served);
    *refused = atomic_load(&((server *)s)->cap_refused);
}

void server_tls_stats(const server *s, uint64_t *handshakes, uint64_t *resumed)
{
    uint64_t h = 0, r = 0;
    for (unsigned i = 0; i < s->n; i++) {
        h += s->w[i].tls_handshakes;
        r += s->w[i].tls_resumed;
    }
    *handshakes = h;
    *resumed = r;
}

void server_stop(server *s)
{
    if (!s || s->stopped)
        return;
    for (unsigned i = 0; i < s->n; i++)
        if (s->w[i].started)
            loop_stop_async(s->w[i].l);
    for (unsigned i = 0; i < s->n; i++)
        if (s->w[i].started)
            pthread_join(s->w[i].tid, NULL);
    s->stopped = true;
}

void server_free(server *s)
{
    if (!s)
        return;
    server_stop(s);
    for (unsigned i = 0; i < s->n; i++) {
        srv_worker *w = &s->w[i];
        while (w->conns)
            srv_conn_close(w->conns);
        if (w->l) {
            if (w->lfd >= 0)
                loop_unwatch(w->l, w->lfd);
            loop_timer_stop(w->l, &w->stall_timer);
            loop_timer_stop(w->l, &w->accept_timer);
            ws_routes_loop_free(w->l);
            loop_free(w->l);
        }
        if (w->lfd >= 0)
            close(w->lfd);
        free(w->rbuf);
        buf_free(&w->wbuf);
    }
    /* The socket file this server made goes with it. */
    if (s->bound.sa.ss_family == AF_UNIX)
        unlink(((const struct sockaddr_un *)&s->bound.sa)->sun_path);
    free(s->w);
    free(s);
}
