/* exchange: connection handling, timings, outcomes and the HTTP/1.1 driver
 * (see exchange.h). The generic half (connect with address fallback, TLS,
 * deadlines, recording, error kinds, the stale-connection retry) calls the
 * protocol only through xch_proto; xch_http1 is the HTTP/1.1 driver over
 * proto/http1. Neighbours: load/worker (URL runs) and script/lua_http
 * (Lua http.*) own the connections and submit requests. */
#include "load/exchange_int.h"

#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* --compressed, one per connection, not per request: only the head of the
 * FIFO is parsed, so the callbacks act on xc->cur; they are set for it
 * when its first byte arrives (decode_head). */
struct xch_decode {
    decoder *dec;
    char *line;                 /* header line buffer when the owner has none */
    http1_callbacks cb;         /* the parser's callbacks: the decoder's */
    xch_conn *xc;
};

/* ---- small helpers ---- */

static void set_active(xch_conn *xc, int delta)
{
    _Atomic uint32_t *a = xc->ctx->active;
    if (!a)
        return;
    uint32_t v = atomic_load_explicit(a, memory_order_relaxed);
    atomic_store_explicit(a, v + (uint32_t)delta, memory_order_relaxed);
}

static void note_fatal(xch_conn *xc, const char *fmt, const char *a, const char *b)
{
    xch_ctx *x = xc->ctx;
    if (x->fatal && !x->fatal[0])
        snprintf(x->fatal, x->fatal_cap, fmt, a, b);
}

void xch_note_fatal(xch_conn *xc, const char *msg) { note_fatal(xc, "%s%s", msg, ""); }

/* ---- the requests in flight (FIFO) ---- */

void xch_fifo_push(xch_conn *xc, xch_req *r)
{
    r->next = NULL;
    r->prev = xc->tail;
    if (xc->cur)
        xc->tail->next = r;
    else
        xc->cur = r;
    xc->tail = r;
    xc->nflight++;
}

void xch_fifo_remove(xch_conn *xc, xch_req *r)
{
    if (xc->wnext == r)
        xc->wnext = r->next;
    if (r->prev)
        r->prev->next = r->next;
    else
        xc->cur = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        xc->tail = r->prev;
    r->next = r->prev = NULL;
    xc->nflight--;
}

static xch_req *fifo_pop(xch_conn *xc)
{
    xch_req *r = xc->cur;
    xch_fifo_remove(xc, r);
    return r;
}

xch_req *xch_fifo_take(xch_conn *xc)
{
    xch_req *r = xc->cur;
    xc->cur = xc->tail = xc->wnext = NULL;
    xc->nflight = 0;
    return r;
}

void xch_close(xch_conn *xc, bool reset)
{
    loop_timer_stop(xc->ctx->lp, &xc->timer);
    xch_fifo_take(xc);
    if (xc->c.fd < 0)
        return;
    xc->epoch++;
    if (xc->c.state == CONN_OPEN)
        set_active(xc, -1);
    if (xc->proto->on_close)
        xc->proto->on_close(xc);
    conn_close(&xc->c, reset);
}

/* ---- outcomes ---- */

static void on_timeout(loop *l, void *data);

void xch_arm(xch_conn *xc, uint64_t deadline)
{
    if (deadline)
        loop_timer_start(xc->ctx->lp, &xc->timer, deadline, on_timeout, xc);
    else
        loop_timer_stop(xc->ctx->lp, &xc->timer);
}

uint64_t xch_req_deadline(const xch_req *r)
{
    return r->timeout_ns ? r->intended_ns + r->timeout_ns : 0;
}

/* r is out of the FIFO: tell its owner. */
void xch_finish(xch_conn *xc, xch_req *r, xch_outcome *o)
{
    o->done_ns = loop_now(xc->ctx->lp);
    o->latency_ns = o->done_ns - r->intended_ns - r->decode_ns;
    r->shard->last_outcome_ns = o->done_ns;
    r->on_done(r, o);
}

void xch_fail_one(xch_conn *xc, xch_req *r, err_kind k, const char *msg)
{
    uint64_t out = r->sent ? r->len : 0;
    r->decode_ns = 0;
    /* A timeout stays in latency at the time it was abandoned. */
    /* An upgrade (the WebSocket handshake) is not an HTTP request: its
     * owner counts the failure. */
    if (!r->upgrade) {
        metrics_record_failure(r->shard, k, loop_now(xc->ctx->lp) - r->intended_ns,
                               r->bytes_in, out);
        if (xc->proto == &xch_http1) {
            r->shard->tot.wire_in += r->bytes_in;
            r->shard->tot.wire_out += out;
        }
    }
    xch_outcome o = {.err = (int)k, .bytes_in = r->bytes_in, .bytes_out = out,
                     .msg = msg ? msg : metrics_err_kind_name(k),
                     .proto = r->sent ? (xc->proto == &xch_h2 ? "HTTP/2" : "HTTP/1.1") : NULL};
    xch_finish(xc, r, &o);
}

/* Requests that were behind the one that ended their connection: each is
 * counted once as closed_early. r->next is read before on_done, which may
 * submit r again. */
static void fail_rest(xch_conn *xc, xch_req *r)
{
    while (r) {
        xch_req *n = r->next;
        xch_fail_one(xc, r, ERRK_CLOSED, "the connection ended before this pipelined request's response");
        r = n;
    }
}

/* Whether k can be how a failed write ends its request (write_errors). */
static bool write_kind(err_kind k)
{
    return k == ERRK_RESET || k == ERRK_CLOSED || k == ERRK_STALE || k == ERRK_TLS;
}

static void fail(xch_conn *xc, err_kind k, const char *msg)
{
    xch_req *r = xc->cur;
    if (!r)
        return;
    loop_update_now(xc->ctx->lp);
    /* A failed write ends the head request (wrk's errors.write): counted
     * once, beside its kind. */
    if (xc->write_failing && write_kind(k) && !r->upgrade)
        r->shard->tot.write_errors++;
    xc->write_failing = false;
    /* RST: an abandoned exchange must not linger in TIME_WAIT or be reused. */
    xch_req *rest = r->next;
    xch_close(xc, true);
    xch_fail_one(xc, r, k, msg);
    fail_rest(xc, rest);
}

static void resend(xch_conn *xc, bool announced);

static void complete(xch_conn *xc, bool keep_alive)
{
    xch_req *r = xc->cur;
    uint64_t now = loop_update_now(xc->ctx->lp);
    /* Decoding is the client's work, not the server's: kept apart from
     * latency and service time (k6#2685). */
    uint64_t dec = r->decode_ns;
    metrics_sample m = {
        .status = r->resp.status,
        .latency_ns = now - r->intended_ns - dec,
        .service_ns = now - r->sent_ns - dec,
        .ttfb_ns = r->first_byte_ns - r->sent_ns,
        .bytes_in = r->bytes_in,
        .bytes_out = r->len,
        .chunks = r->resp.chunked ? r->resp.chunks : 0,
        .decoded = xc->ctx->decode,
        .decode_ns = r->dkind != DECODE_IDENTITY ? dec : 0,
        .encoded = xc->ctx->decode && r->dkind != DECODE_IDENTITY,
        .bytes_decoded = xc->dx && xc->ctx->decode ? decoder_out_bytes(xc->dx->dec) : 0,
        .first_body_ns = r->first_body_ns ? r->first_body_ns - r->sent_ns : 0,
    };
    metrics_record_response(r->shard, &m);
    r->shard->tot.wire_in += m.bytes_in;
    r->shard->tot.wire_out += m.bytes_out;
    xc->responses++;
    fifo_pop(xc);
    if (!keep_alive || r->close_after) {
        /* Requests behind this one were never answered: sent again on a
         * new connection when that is safe (RFC 9112 9.3.2), else failed. */
        if (xc->cur)
            resend(xc, true);
        else
            xch_close(xc, false);
    } else {
        xch_arm(xc, xc->cur ? xch_req_deadline(xc->cur) : 0);
    }
    xch_outcome o = {.err = -1, .status = r->resp.status, .service_ns = m.service_ns,
                     .ttfb_ns = m.ttfb_ns, .bytes_in = m.bytes_in, .bytes_out = m.bytes_out,
                     .decode_ns = dec, .first_body_ns = m.first_body_ns, .proto = "HTTP/1.1",
                     .set_cookie = r->resp.set_cookie};
    xch_finish(xc, r, &o);
}

/* The response to an upgrade (r->upgrade) is complete, rest/n the bytes
 * after its head: on 101 the connection stays open for the owner, with the
 * timer stopped; any other status closes it. Not an HTTP request in the
 * numbers (the owner counts its sessions and failures). */
static void upgrade_done(xch_conn *xc, char *rest, size_t n)
{
    xch_req *r = xc->cur;
    uint64_t now = loop_update_now(xc->ctx->lp);
    int status = r->resp.status;
    fifo_pop(xc);
    loop_timer_stop(xc->ctx->lp, &xc->timer);
    if (status != 101 || xc->cur)
        xch_close(xc, status != 101);
    xch_outcome o = {.err = -1, .status = status, .service_ns = now - r->sent_ns,
                     .ttfb_ns = r->first_byte_ns - r->sent_ns, .bytes_in = r->bytes_in,
                     .bytes_out = r->len, .proto = "HTTP/1.1",
                     .rest = status == 101 ? rest : NULL, .rest_len = status == 101 ? n : 0};
    xch_finish(xc, r, &o);
}

void xch_take_over(xch_conn *xc, const conn_handlers *h, void *owner)
{
    loop_timer_stop(xc->ctx->lp, &xc->timer);
    xc->c.h = h;
    xc->c.owner = owner;
}

/* ---- connecting ---- */

static void note_fd_limit(xch_conn *xc, int rc)
{
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    char m[256];
    snprintf(m, sizeof m,
             "out of file descriptors (%s; ulimit -n is %llu): raise it with 'ulimit -n %llu' "
             "(beyond the hard limit %llu needs root) or use fewer connections",
             strerror(-rc), (unsigned long long)rl.rlim_cur,
             (unsigned long long)rl.rlim_cur * 2, (unsigned long long)rl.rlim_max);
    note_fatal(xc, "%s%s", m, "");
}

static void start_connect(xch_conn *xc)
{
    xch_req *r = xc->cur;
    xch_target *t = xc->t;
    xc->connect_start_ns = loop_update_now(xc->ctx->lp);
    xc->responses = 0;
    conn_set_tls(&xc->c, t->tls, t->sni[0] ? t->sni : NULL,
                 t->share_session ? &t->share : NULL);
    conn_set_tunnel(&xc->c, t->tunnel[0] ? t->tunnel : NULL);
    int rc = conn_open(&xc->c, &t->addrs[xc->addr_i % t->naddrs]);
    if (rc < 0) {
        if (rc == -EMFILE || rc == -ENFILE)
            note_fd_limit(xc, rc);
        char m[160];
        snprintf(m, sizeof m, "connect: %s", strerror(-rc));
        fail(xc, ERRK_CONNECT, m);
        return;
    }
    uint64_t d = xch_req_deadline(r);
    if (r->connect_timeout_ns) {
        uint64_t cd = xc->connect_start_ns + r->connect_timeout_ns;
        d = d && d < cd ? d : cd;
    }
    xch_arm(xc, d);
}

/* The address a new connection tries first: the one that worked last, or
 * with --dns-spread the next in turn. */
static uint32_t first_addr(xch_target *t)
{
    return t->spread ? t->rr++ % t->naddrs : t->good;
}

/* A connect failed at address addr_i: the next address, if any is left. */
static bool try_next_address(xch_conn *xc, uint32_t *tried)
{
    if (++*tried >= xc->t->naddrs)
        return false;
    xc->addr_i = (xc->addr_i + 1) % xc->t->naddrs;
    conn_close(&xc->c, true);
    start_connect(xc);
    return true;
}

/* HTTP/2 when ALPN chose h2 or the target is h2c, else HTTP/1.1. True when
 * the connection failed here (the server refused h2 under --http 2). */
static bool choose_proto(xch_conn *xc, xch_req *r)
{
    bool h2 = xc->c.ssl ? tls_io_alpn_is_h2(xc->c.ssl) : xc->t->h2c;
    if (xc->c.ssl && xc->t->h2_only && !h2) {
        note_fatal(xc, "TLS: the server did not choose h2 by ALPN (--http 2) (%s)%s",
                   xc->t->name, "");
        fail(xc, ERRK_TLS, "tls: the server did not choose h2 by ALPN (--http 2)");
        return true;
    }
    xc->proto = h2 ? &xch_h2 : &xch_http1;
    r->shard->tot.h2_conns += h2;
    if (xc->proto->on_open && xc->proto->on_open(xc) < 0) {
        fail(xc, ERRK_CONNECT, "http2: out of memory");
        return true;
    }
    return false;
}

static void connected(xch_conn *xc)
{
    xch_req *r = xc->cur;
    uint64_t now = loop_update_now(xc->ctx->lp);
    r->connect_ns += now - xc->connect_start_ns;
    metrics_record_connect(r->shard, now - xc->connect_start_ns);
    if (xc->c.ssl) {
        hist_record(r->shard->tls_handshake, xc->c.handshake_ns);
        r->shard->tot.tls_resumed += xc->c.resumed;
    }
    xc->t->good = xc->addr_i % xc->t->naddrs;
    set_active(xc, 1);
    if (choose_proto(xc, r))
        return;
    xch_arm(xc, xch_req_deadline(r));
    /* Everything submitted while connecting is written now, in order. */
    uint32_t epoch = xc->epoch;
    xc->wnext = xc->cur;
    for (r = xc->cur; r && xc->epoch == epoch;) {
        xch_req *n = r->next;
        int rc = xc->proto->submit(xc, r);
        if (rc < 0 && xc->epoch == epoch) {
            xc->proto->on_write_error(xc, rc);
            return;
        }
        r = n;
    }
}

static void on_connect(conn *c, int status)
{
    xch_conn *xc = c->owner;
    if (!xc->cur) {
        conn_close(c, true);
        return;
    }
    if (status == 0) {
        connected(xc);
        return;
    }
    char m[200];
    if (status == CONN_EPROXY) {
        if (c->tun_status)
            snprintf(m, sizeof m, "proxy: CONNECT %.120s answered %d", xc->t->tunnel,
                     c->tun_status);
        else
            snprintf(m, sizeof m, "proxy: CONNECT %.120s: no valid answer", xc->t->tunnel);
        note_fatal(xc, "%s%s", m, "");
        fail(xc, ERRK_PROXY, m);
        return;
    }
    if (status == CONN_ETLS) {
        note_fatal(xc, "TLS: %s (%s)", conn_tls_error(c), xc->t->name);
        snprintf(m, sizeof m, "tls: %s", conn_tls_error(c));
        fail(xc, ERRK_TLS, m);
        return;
    }
    /* Every resolved address is tried in order before the connect fails
     * (localhost as ::1 then 127.0.0.1, as curl and browsers do). */
    uint32_t tried = xc->addr_tried;
    bool next = try_next_address(xc, &tried);
    xc->addr_tried = tried;
    if (next)
        return;
    if (xc->t->via_proxy) {
        /* The proxy itself cannot be reached: say so, not the target. */
        snprintf(m, sizeof m, "proxy unreachable: connect: %s", strerror(-status));
        note_fatal(xc, "--proxy: %s%s", m, "");
        fail(xc, ERRK_PROXY, m);
        return;
    }
    snprintf(m, sizeof m, "connect: %s", strerror(-status));
    fail(xc, status == -ECONNREFUSED ? ERRK_CONNECT_REFUSED : ERRK_CONNECT, m);
}

static void on_timeout(loop *l, void *data)
{
    (void)l;
    xch_conn *xc = data;
    bool connecting = xc->c.state == CONN_CONNECTING;
    if (!connecting && xc->proto->on_timeout && xc->proto->on_timeout(xc))
        return;
    fail(xc, connecting ? ERRK_CONNECT_TIMEOUT : ERRK_TIMEOUT,
         connecting ? "connect timeout" : "request timeout");
}

/* ---- errors while sending or reading ---- */

/* EOF or RST before any response byte on a reused connection: the server
 * closed an idle keep-alive connection as we reused it, so it never read
 * the request. Sent once more on a new connection when that is safe. */
static bool stale(xch_conn *xc)
{
    xch_req *r = xc->cur;
    if (!r || r->got_bytes || xc->responses == 0)
        return false;
    if (!xc->ctx->retry || !r->idempotent || r->retried) {
        fail(xc, ERRK_STALE, "stale keep-alive connection: closed before any response byte");
        return true;
    }
    resend(xc, false);
    return true;
}

/* The server closed cleanly and no request left in the FIFO has a response
 * byte: those that may be retried (idempotent, retries on; once each,
 * unless the server announced the close: it then answered at least one
 * request on the connection, so this makes progress) are sent again, in
 * order, on a new connection and counted in retries; the others are
 * closed_early. */
static void resend(xch_conn *xc, bool announced)
{
    xch_req *list = xch_fifo_take(xc), *failed = NULL, **fl = &failed;
    xch_close(xc, true);
    while (list) {
        xch_req *n = list->next;
        if (xc->ctx->retry && list->idempotent && (announced || !list->retried)) {
            list->retried = true;
            metrics_record_retry(list->shard);
            list->sent = false;
            list->bytes_in = 0;
            xch_fifo_push(xc, list);
        } else {
            *fl = list;
            fl = &list->next;
        }
        list = n;
    }
    *fl = NULL;
    if (xc->cur) {
        xc->addr_i = first_addr(xc->t);
        xc->addr_tried = 0;
        start_connect(xc);
    }
    fail_rest(xc, failed);
}

/* A read or write error: TLS record failures (-EPROTO from the TLS
 * transport) are tls_error, with their reason kept as the run's warning. */
void xch_io_error(xch_conn *xc, int status)
{
    if ((status == -ECONNRESET || status == -EPIPE) && stale(xc))
        return;
    if (status == -EPROTO && xc->c.tls_ctx) {
        char m[200];
        snprintf(m, sizeof m, "tls: %s", conn_tls_error(&xc->c));
        note_fatal(xc, "TLS: %s%s", conn_tls_error(&xc->c), "");
        fail(xc, ERRK_TLS, m);
        return;
    }
    fail(xc, status == -ECONNRESET || status == -EPIPE ? ERRK_RESET : ERRK_CLOSED, NULL);
}

static void on_readable(conn *c)
{
    xch_conn *xc = c->owner;
    xc->proto->on_readable(xc);
}

static void on_sent(conn *c)
{
    xch_conn *xc = c->owner;
    /* HTTP/2 may have frames to write with no request waiting. */
    if ((xc->wnext || xc->pstate) && !xc->pumping && xc->proto->on_sent)
        xc->proto->on_sent(xc);
}

static void on_write_error(conn *c, int status)
{
    xch_conn *xc = c->owner;
    if (!xc->cur) {
        xch_close(xc, true);
        return;
    }
    xc->proto->on_write_error(xc, status);
}

static const conn_handlers handlers = {
    .on_connect = on_connect,
    .on_readable = on_readable,
    .on_sent = on_sent,
    .on_write_error = on_write_error,
};

void xch_reopen(xch_conn *xc)
{
    xch_req *list = xch_fifo_take(xc);
    xch_close(xc, false);
    while (list) {
        xch_req *n = list->next;
        list->sent = false;
        list->bytes_in = 0;
        xch_fifo_push(xc, list);
        list = n;
    }
    if (xc->cur) {
        xc->addr_i = xc->t->good;
        xc->addr_tried = 0;
        start_connect(xc);
    }
}

/* ---- the HTTP/1.1 driver ---- */

static uint32_t h1_max_in_flight(const xch_conn *xc) { return xc->depth; }

static uint32_t h1_in_flight(const xch_conn *xc) { return xc->nflight; }

#define WBUF_BYTES (16 * 1024)

/* Send lag is the first attempt's: a retry's second send is not the
 * generator being late (its wait is in the latency, from the intended
 * start), and one sample per request keeps the distribution's count. */
void xch_mark_sent(xch_req *r, uint64_t now)
{
    r->sent = true;
    r->sent_ns = now;
    if (r->record_send_lag && !r->retried)
        metrics_record_send_lag(r->shard, now - r->intended_ns);
}

/* Two or more requests waiting: copied into the connection's buffer, as
 * many as fit, and written with one send (one syscall, not one each). */
static int h1_write_gathered(xch_conn *xc, uint64_t now)
{
    if (!xc->wbuf && !(xc->wbuf = malloc(WBUF_BYTES)))
        return -ENOMEM;
    size_t n = 0;
    xch_req *r;
    while ((r = xc->wnext) && n + r->len <= WBUF_BYTES) {
        memcpy(xc->wbuf + n, r->data, r->len);
        n += r->len;
        xc->wnext = r->next;
        xch_mark_sent(r, now);
    }
    return conn_send(&xc->c, xc->wbuf, n);
}

/* Writes the FIFO from wnext while the connection takes whole requests
 * (conn keeps one borrowed output at a time; on_sent resumes). */
static int h1_write(xch_conn *xc)
{
    int rc = 0;
    if (xc->cork)
        return 0;
    xc->pumping = true;
    while (xc->wnext && xc->c.out_off >= xc->c.out_len) {
        xch_req *r = xc->wnext;
        uint64_t now = loop_update_now(xc->ctx->lp);
        if (r->next && r->len + r->next->len <= WBUF_BYTES) {
            rc = h1_write_gathered(xc, now);
        } else {
            xc->wnext = r->next;
            xch_mark_sent(r, now);
            rc = conn_send(&xc->c, r->data, r->len);
        }
        if (rc < 0)
            break;
    }
    xc->pumping = false;
    return rc;
}

/* ---- --compressed: a decoder between the parser and the owner ---- */

#define DECODE_LINE_BYTES 8192

static xch_req *d_req(void *ctx) { return ((xch_decode *)ctx)->xc->cur; }

static void d_header(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    xch_req *r = d_req(ctx);
    if (!r->resp.headers_done && nlen == 16 && !strncasecmp(name, "content-encoding", 16))
        r->dkind = decode_kind_of(value, vlen);
    if (r->cb && r->cb->on_header)
        r->cb->on_header(r->cb->ctx, name, nlen, value, vlen);
}

static void d_head_raw(void *ctx, const char *data, size_t len)
{
    xch_req *r = d_req(ctx);
    r->cb->on_head_raw(r->cb->ctx, data, len);
}

static void d_headers_done(void *ctx, int status)
{
    xch_req *r = d_req(ctx);
    decoder *d = ((xch_decode *)ctx)->dec;
    if (r->dkind == DECODE_UNKNOWN)
        r->decode_err = DECODE_ECORRUPT;
    else if (decoder_reset(d, r->dkind))
        r->decode_err = DECODE_ENOMEM;
    if (r->cb && r->cb->on_headers_done)
        r->cb->on_headers_done(r->cb->ctx, status);
}

static void d_body(void *ctx, const char *data, size_t len)
{
    xch_req *r = d_req(ctx);
    if (r->decode_err)
        return;
    bool timed = r->dkind != DECODE_IDENTITY;
    uint64_t t0 = timed ? clock_now_ns() : 0;
    int rc = decoder_feed(((xch_decode *)ctx)->dec, data, len, r->cb ? r->cb->on_body : NULL,
                          r->cb ? r->cb->ctx : NULL);
    if (timed)
        r->decode_ns += clock_now_ns() - t0;
    if (rc < 0)
        r->decode_err = rc;
}

static void d_chunk(void *ctx, uint64_t size)
{
    xch_req *r = d_req(ctx);
    if (r->cb && r->cb->on_chunk)
        r->cb->on_chunk(r->cb->ctx, size);
}

/* At submit: the connection's decoder (and a line buffer if r's owner
 * has none) made once; r's parser gets the decoder's callbacks. */
static int decode_begin(xch_conn *xc, xch_req *r)
{
    xch_decode *dx = xc->dx;
    if (!dx) {
        if (!(dx = calloc(1, sizeof *dx)))
            return -ENOMEM;
        if (!(dx->dec = decoder_new(0))) {
            free(dx);
            return -ENOMEM;
        }
        dx->xc = xc;
        xc->dx = dx;
    }
    if (!(r->cb && r->cb->line_buf) && !dx->line && !(dx->line = malloc(DECODE_LINE_BYTES)))
        return -ENOMEM;
    r->dkind = DECODE_IDENTITY;
    r->decode_err = 0;
    r->decode_ns = 0;
    return 0;
}

/* r, the head of the FIFO, starts to be parsed: the callbacks for its
 * owner's capture (a pipelined request behind it may have another). */
static void decode_head(xch_decode *dx, const xch_req *r)
{
    bool own_line = r->cb && r->cb->line_buf;
    dx->cb = (http1_callbacks){.on_header = d_header, .on_headers_done = d_headers_done,
                               .on_head_raw = r->cb && r->cb->on_head_raw ? d_head_raw : NULL,
                               .on_body = d_body, .on_chunk = d_chunk, .ctx = dx,
                               .line_buf = own_line ? r->cb->line_buf : dx->line,
                               .line_cap = own_line ? r->cb->line_cap : DECODE_LINE_BYTES};
}

/* The response is complete: a body that did not decode fails it. */
static bool decode_failed(xch_conn *xc, xch_req *r)
{
    if (!xc->ctx->decode)
        return false;
    if (!r->decode_err && r->dkind != DECODE_IDENTITY)
        r->decode_err = decoder_finish(xc->dx->dec);
    if (!r->decode_err)
        return false;
    char m[200];
    snprintf(m, sizeof m, "Content-Encoding %s: %s",
             r->dkind == DECODE_UNKNOWN ? "(unsupported)" : decode_kind_name(r->dkind),
             decode_strerror(r->decode_err));
    r->decode_ns = 0;
    fail(xc, ERRK_DECODE, m);
    return true;
}

static void h1_on_sent(xch_conn *xc)
{
    uint32_t epoch = xc->epoch;
    int rc = h1_write(xc);
    if (rc < 0 && xc->epoch == epoch)
        xc->proto->on_write_error(xc, rc);
}

static int h1_submit(xch_conn *xc, xch_req *r)
{
    const http1_callbacks *cb = r->cb;
    if (xc->ctx->decode) {
        int rc = decode_begin(xc, r);
        if (rc < 0)
            return rc;
        cb = &xc->dx->cb;
    }
    http1_resp_begin(&r->resp, r->head, cb);
    if (r->max_header_bytes)
        r->resp.max_header_bytes = r->max_header_bytes;
    r->got_bytes = false;
    r->bytes_in = 0;
    return h1_write(xc);
}

/* EOF while a response is expected. */
static void h1_eof(xch_conn *xc)
{
    xch_req *r = xc->cur;
    if (r->got_bytes && http1_resp_eof(&r->resp) == HTTP1_DONE) {
        if (!decode_failed(xc, r))
            complete(xc, false);
        return;
    }
    if (stale(xc))
        return;
    fail(xc, ERRK_CLOSED, "the server closed the connection early");
}

/* n bytes arrived in rbuf: they belong to the head of the FIFO, and what
 * follows a complete response to the request behind it. True when the
 * caller should stop reading (bytes used up, or the connection ended). */
static bool h1_feed(xch_conn *xc, char *p, size_t n)
{
    uint64_t now = loop_update_now(xc->ctx->lp);
    uint32_t epoch = xc->epoch;
    for (;;) {
        xch_req *r = xc->cur;
        if (!r->got_bytes) {
            r->got_bytes = true;
            r->first_byte_ns = now;
            if (xc->dx && xc->ctx->decode)
                decode_head(xc->dx, r);
        } else if (r->resp.chunked && r->resp.headers_done) {
            hist_record(r->shard->chunk_gap, now - r->last_read_ns);
        }
        r->last_read_ns = now;
        size_t used = 0;
        int rc = http1_resp_parse(&r->resp, p, n, &used);
        if (!r->first_body_ns && r->resp.body_bytes)
            r->first_body_ns = now;
        if (rc == HTTP1_NEED_MORE) {
            r->bytes_in += n;
            return false;
        }
        r->bytes_in += rc < 0 ? n : used;
        if (rc < 0) {
            fail(xc, ERRK_PARSE, http1_strerror(rc));
            return true;
        }
        p += used;
        n -= used;
        if (r->upgrade) {
            upgrade_done(xc, p, n);
            return true;
        }
        if (decode_failed(xc, r))
            return true;
        /* Bytes after a response with no request written behind it were
         * never asked for: the stream cannot be trusted, the connection goes. */
        bool unasked = n && !(r->next && r->next->sent);
        complete(xc, r->resp.keep_alive && !unasked);
        if (!n || unasked || xc->epoch != epoch || !xc->cur)
            return true;
    }
}

static void h1_read(xch_conn *xc)
{
    xch_ctx *x = xc->ctx;
    for (;;) {
        ssize_t n = conn_read(&xc->c, x->rbuf, x->rbuf_len);
        if (n == -EAGAIN)
            return;
        if (!xc->cur) {
            /* Bytes or EOF on an idle keep-alive connection: the server
             * closed it or sent something unasked; drop the connection. */
            xch_close(xc, n != 0);
            return;
        }
        if (n < 0) {
            xch_io_error(xc, (int)n);
            return;
        }
        if (n == 0) {
            h1_eof(xc);
            return;
        }
        if (h1_feed(xc, x->rbuf, (size_t)n))
            return;
    }
}

/* With several requests in flight, the requests submitted while the read
 * bytes are handled (the next iteration of each VU whose response came)
 * are written together afterwards. */
static void h1_on_readable(xch_conn *xc)
{
    if (xc->depth <= 1) {
        h1_read(xc);
        return;
    }
    xc->cork = true;
    h1_read(xc);
    xc->cork = false;
    if (xc->wnext && xch_is_open(xc))
        h1_on_sent(xc);
}

static void h1_on_write_error(xch_conn *xc, int status)
{
    xc->write_failing = true;
    xch_io_error(xc, status);
    xc->write_failing = false;
}

const xch_proto xch_http1 = {
    .name = "http/1.1",
    .max_in_flight = h1_max_in_flight,
    .submit = h1_submit,
    .on_readable = h1_on_readable,
    .on_write_error = h1_on_write_error,
    .in_flight = h1_in_flight,
    .on_close = NULL,
    .on_sent = h1_on_sent,
};

/* ---- the connection ---- */

void xch_conn_init(xch_conn *xc, xch_ctx *ctx, xch_target *t)
{
    memset(xc, 0, sizeof *xc);
    conn_init(&xc->c, ctx->lp, &handlers, xc);
    loop_timer_init(&xc->timer);
    xc->proto = &xch_http1;
    xc->depth = 1;
    xc->ctx = ctx;
    xc->t = t;
}

void xch_conn_retarget(xch_conn *xc, xch_target *t)
{
    if (xc->t == t)
        return;
    xch_close(xc, false);
    /* The TLS session belongs to the old host. */
    conn_release(&xc->c);
    conn_init(&xc->c, xc->ctx->lp, &handlers, xc);
    xc->t = t;
}

bool xch_is_open(const xch_conn *xc) { return xc->c.fd >= 0 && xc->c.state == CONN_OPEN; }

uint32_t xch_in_flight(const xch_conn *xc) { return xc->proto->in_flight(xc); }

void xch_submit(xch_conn *xc, xch_req *r)
{
    r->sent = r->got_bytes = r->retried = false;
    r->bytes_in = r->connect_ns = 0;
    r->sent_ns = r->first_byte_ns = r->first_body_ns = r->decode_ns = 0;
    r->decode_err = 0;
    r->dkind = DECODE_IDENTITY;
    bool first = !xc->cur;
    if (xch_is_open(xc)) {
        xch_fifo_push(xc, r);
        if (first)
            xch_arm(xc, xch_req_deadline(r));
        if (!xc->wnext)
            xc->wnext = r;
        uint32_t epoch = xc->epoch;
        int rc = xc->proto->submit(xc, r);
        if (rc < 0 && xc->epoch == epoch)
            xc->proto->on_write_error(xc, rc);
        return;
    }
    if (!first) {
        xch_fifo_push(xc, r); /* connecting: written once connected */
        return;
    }
    if (xc->c.fd >= 0)
        xch_close(xc, true);
    xch_fifo_push(xc, r);
    xc->addr_i = first_addr(xc->t);
    xc->addr_tried = 0;
    start_connect(xc);
}

void xch_submit_all(xch_conn *xc, xch_req **rs, uint32_t n)
{
    if (xc->depth < n)
        xc->depth = n;
    /* Open on HTTP/1.1: corked, so each submit only queues, then one
     * gathered write. Connecting: connected() writes the FIFO gathered. */
    bool cork = xch_is_open(xc) && xc->proto == &xch_http1 && !xc->cork;
    if (cork)
        xc->cork = true;
    for (uint32_t i = 0; i < n; i++)
        xch_submit(xc, rs[i]);
    if (!cork)
        return;
    xc->cork = false;
    if (xc->wnext && xch_is_open(xc))
        h1_on_sent(xc);
}

void xch_cancel(xch_conn *xc)
{
    for (xch_req *r = xch_fifo_take(xc); r; r = r->next)
        metrics_record_error(r->shard, ERRK_CANCELLED, r->bytes_in, r->sent ? r->len : 0);
    xch_close(xc, true);
}

void xch_conn_release(xch_conn *xc)
{
    loop_timer_stop(xc->ctx->lp, &xc->timer);
    if (xc->proto->on_close)
        xc->proto->on_close(xc);
    free(xc->wbuf);
    xc->wbuf = NULL;
    if (xc->dx) {
        decoder_free(xc->dx->dec);
        free(xc->dx->line);
        free(xc->dx);
        xc->dx = NULL;
    }
    conn_release(&xc->c);
}

bool xch_method_idempotent(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(m, ok[i]))
            return true;
    return false;
}

int xch_target_resolve(xch_target *t, const url *u, const route_opts *ro, const char *what,
                       err *e)
{
    memset(t, 0, sizeof *t);
    int n = route_resolve(ro, u, what, t->addrs, ADDR_MAX, t->tunnel, sizeof t->tunnel, e);
    if (n < 0)
        return n;
    t->naddrs = (uint32_t)n;
    t->via_proxy = ro && ro->has_proxy && !ro->unix_path[0];
    t->spread = ro && ro->dns_spread;
    snprintf(t->sni, sizeof t->sni, "%s", u->host);
    snprintf(t->name, sizeof t->name, "%s", u->hostport);
    return 0;
}
