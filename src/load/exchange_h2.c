/* exchange_h2: the exchange's HTTP/2 driver (xch_h2) over proto/h2: each
 * request a stream, completions in any order, the server's stream limit,
 * per-stream timeouts (RST_STREAM CANCEL), unprocessed streams (GOAWAY,
 * REFUSED_STREAM) sent again on a new connection, RST_STREAM and connection
 * errors as h2_* kinds. docs/engine.md tells the whole story. */
#include "load/exchange_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our receive window, per stream and for the connection: 16 MiB, so that
 * flow control on volley's side never throttles a response. */
#define H2_WINDOW (16u * 1024 * 1024)
#define H2_HIGH_WATER (64 * 1024)
/* A response head beyond --max-header-size (default as HTTP/1.1's: 64 KiB,
 * counted as HTTP/1.1 would send it) ends its stream: a parse_error. */
#define H2_MAX_HEADER_DEFAULT (64 * 1024)
#define XH2_TOO_BIG UINT32_MAX /* h2_code of such a stream */

typedef struct xh2 {
    h2_session *s;
    buf out;               /* frames being written (borrowed by conn) */
    metrics_shard *wsh;    /* shard of the latest request: wire bytes go there */
    uint64_t now;          /* time of the read being fed */
    uint32_t goaway_code;
    int32_t goaway_last;   /* the server's last processed stream (GOAWAY) */
    uint32_t nclosed;      /* streams closed since the last settle */
    bool goaway;
    bool settling;
    bool reading;          /* feeding: submits wait for one flush at the end */
    bool clamp_noted;
} xh2;

static xh2 *state(const xch_conn *xc) { return xc->pstate; }

static void h2d_on_write_error(xch_conn *xc, int status);

/* ---- session callbacks (inside nghttp2: no outcome is handed out here) ---- */

/* on_head_raw for HTTP/2: the head as HTTP/1.1 would have sent it
 * ("HTTP/2 SSS", "name: value" lines, the empty line, then trailer lines),
 * which http1_head_split reads back. */
static void raw_status_line(xch_req *r, const h2_stream *st)
{
    if (r->h2_raw_head)
        return;
    r->h2_raw_head = true;
    char line[16];
    int n = snprintf(line, sizeof line, "HTTP/2 %03d\r\n", st->status);
    r->cb->on_head_raw(r->cb->ctx, line, (size_t)n);
}

static void cb_head(void *ctx, h2_stream *st)
{
    xch_conn *xc = ctx;
    xch_req *r = st->user;
    if (!r->got_bytes) {
        r->got_bytes = true;
        r->first_byte_ns = state(xc)->now;
    }
    if (r->cb && !r->cb->on_header && r->cb->on_head_raw) {
        raw_status_line(r, st);
        r->cb->on_head_raw(r->cb->ctx, "\r\n", 2); /* the head ends; trailers may follow */
    }
    if (r->cb && r->cb->on_headers_done)
        r->cb->on_headers_done(r->cb->ctx, st->status);
}

static void cb_field(void *ctx, h2_stream *st, const char *n, size_t nl, const char *v, size_t vl)
{
    xch_req *r = st->user;
    uint64_t cap = r->max_header_bytes ? r->max_header_bytes : H2_MAX_HEADER_DEFAULT;
    if (st->header_bytes > cap) {
        xh2 *h = state(ctx);
        h2_cancel(h->s, st); /* RST_STREAM CANCEL: no more callbacks for it */
        r->h2_closed = r->h2_processed = true;
        r->h2_code = XH2_TOO_BIG;
        h->nclosed++;
        return;
    }
    if (nl == 10 && !strncasecmp(n, "set-cookie", 10))
        r->h2_set_cookie = true;
    if (r->cb && r->cb->on_header) {
        r->cb->on_header(r->cb->ctx, n, nl, v, vl);
    } else if (r->cb && r->cb->on_head_raw) {
        raw_status_line(r, st);
        r->cb->on_head_raw(r->cb->ctx, n, nl);
        r->cb->on_head_raw(r->cb->ctx, ": ", 2);
        r->cb->on_head_raw(r->cb->ctx, v, vl);
        r->cb->on_head_raw(r->cb->ctx, "\r\n", 2);
    }
}

/* Body bytes: a read that brings more of a body already begun is a chunk
 * of a streamed response, its gap from the last one recorded (chunk_gap),
 * as HTTP/1.1 does for chunked bodies. */
static void cb_body(void *ctx, h2_stream *st, const uint8_t *data, size_t len)
{
    xch_req *r = st->user;
    uint64_t now = state(ctx)->now;
    if (r->last_read_ns && now != r->last_read_ns) {
        hist_record(r->shard->chunk_gap, now - r->last_read_ns);
        r->h2_chunks += r->h2_chunks ? 1 : 2; /* the first piece, and this one */
    }
    r->last_read_ns = now;
    if (r->cb && r->cb->on_body)
        r->cb->on_body(r->cb->ctx, (const char *)data, len);
}

static void cb_close(void *ctx, h2_stream *st, uint32_t code, bool processed)
{
    (void)ctx;
    xch_req *r = st->user;
    r->h2_closed = true;
    r->h2_code = code;
    r->h2_processed = processed;
    state(ctx)->nclosed++;
}

static void cb_goaway(void *ctx, int32_t last, uint32_t code)
{
    xh2 *h = state(ctx);
    h->goaway = true;
    h->goaway_last = last;
    if (!h->goaway_code)
        h->goaway_code = code;
}

/* ---- writing ---- */

static uint32_t h2d_max_in_flight(const xch_conn *xc)
{
    const xh2 *h = state(xc);
    uint32_t m = h ? h2_max_streams(h->s) : xc->depth;
    return m < xc->depth ? m : xc->depth;
}

/* The server allows fewer streams than asked: noted once per connection. */
static void note_clamp(xch_conn *xc, xh2 *h)
{
    if (h->clamp_noted || !h2_settings_seen(h->s))
        return;
    h->clamp_noted = true;
    uint32_t m = h2_max_streams(h->s);
    metrics_totals *t = &h->wsh->tot;
    if (m < xc->depth && (!t->h2_max_streams || m < t->h2_max_streams))
        t->h2_max_streams = m;
}

/* Starts streams for the requests waiting (from wnext) while the server
 * allows; they stay in the FIFO in submission order. */
static void open_streams(xch_conn *xc, xh2 *h)
{
    const char *scheme = xc->c.ssl ? "https" : "http";
    uint32_t epoch = xc->epoch;
    while (xc->wnext && xc->epoch == epoch) {
        xch_req *r = xc->wnext;
        r->h2.user = r;
        r->h2_closed = false;
        r->h2_raw_head = r->h2_set_cookie = false;
        r->last_read_ns = 0;
        r->h2_chunks = 0;
        int rc = h2_submit_h1(h->s, scheme, r->data, r->len, &r->h2);
        if (rc == VOLLEY_EINVAL)
            return; /* no stream free (or GOAWAY): it waits */
        xc->wnext = r->next;
        if (rc) {
            xch_fifo_remove(xc, r);
            xch_fail_one(xc, r, ERRK_PARSE,
                         "http2: not sent: the request is malformed (no Host, or a "
                         "Content-Length that is not its body's length)");
            continue;
        }
        h->wsh = r->shard;
        xch_mark_sent(r, loop_update_now(xc->ctx->lp));
    }
}

/* Frames to the socket when it is free (conn holds one output at a time). */
static int flush(xch_conn *xc, xh2 *h)
{
    if (xc->c.out_off < xc->c.out_len)
        return 0; /* on_sent comes back here */
    buf_reset(&h->out);
    ssize_t n = h2_flush(h->s, &h->out, H2_HIGH_WATER);
    if (n < 0)
        return -ENOMEM;
    if (n == 0)
        return 0;
    h->wsh->tot.wire_out += (uint64_t)n;
    return conn_send(&xc->c, h->out.data, h->out.len);
}

static void settle(xch_conn *xc);
static void conn_error(xch_conn *xc, xh2 *h);

/* Opens streams for waiting requests and writes; streams nghttp2 closed
 * while writing (HEADERS it could no longer send after a GOAWAY) are
 * handed out too. */
static int pump(xch_conn *xc)
{
    xh2 *h = state(xc);
    open_streams(xc, h);
    note_clamp(xc, h);
    if (h->reading)
        return 0;
    uint32_t epoch = xc->epoch;
    int rc = flush(xc, h);
    if (rc >= 0 && xc->epoch == epoch && h2_conn_error(h->s)) {
        /* nghttp2 found a connection error while reading and its GOAWAY
         * just went out: the server broke the protocol. */
        conn_error(xc, h);
        return 0;
    }
    if (rc >= 0 && xc->epoch == epoch && h->nclosed && !h->settling)
        settle(xc);
    return rc;
}

static int h2d_submit(xch_conn *xc, xch_req *r)
{
    (void)r;
    return pump(xc);
}

static void h2d_on_sent(xch_conn *xc)
{
    uint32_t epoch = xc->epoch;
    int rc = pump(xc);
    if (rc < 0 && xc->epoch == epoch)
        h2d_on_write_error(xc, rc);
}

/* ---- outcomes ---- */

/* The connection is over for every request on it: each gets kind k. */
static void fail_all(xch_conn *xc, err_kind k, const char *msg)
{
    loop_update_now(xc->ctx->lp);
    xch_req *r = xch_fifo_take(xc);
    xch_close(xc, true);
    while (r) {
        xch_req *n = r->next;
        xch_fail_one(xc, r, k, msg);
        r = n;
    }
}

static void complete(xch_conn *xc, xch_req *r)
{
    uint64_t now = loop_now(xc->ctx->lp);
    r->bytes_in = r->h2.header_bytes + r->h2.body_bytes;
    metrics_sample m = {
        .status = r->h2.status,
        .latency_ns = now - r->intended_ns,
        .service_ns = now - r->sent_ns,
        .ttfb_ns = (r->got_bytes ? r->first_byte_ns : now) - r->sent_ns,
        .bytes_in = r->bytes_in,
        .bytes_out = r->len,
        .chunks = r->h2_chunks,
    };
    metrics_record_response(r->shard, &m);
    r->shard->tot.h2_responses++;
    xc->responses++;
    if (r->close_after && !xc->nflight) /* --no-keepalive */
        xch_close(xc, false);
    xch_outcome o = {.err = -1, .status = r->h2.status, .service_ns = m.service_ns,
                     .ttfb_ns = m.ttfb_ns, .bytes_in = m.bytes_in, .bytes_out = m.bytes_out,
                     .proto = "HTTP/2", .set_cookie = r->h2_set_cookie};
    xch_finish(xc, r, &o);
}

/* A stream the server never processed: sent again (on a new connection
 * once this one has no stream left), once, or more after a GOAWAY that
 * answered others (progress). False: it is an error. */
static bool retry_unprocessed(xch_conn *xc, xch_req *r)
{
    if (!xc->ctx->retry || (r->retried && !(state(xc)->goaway && xc->responses)))
        return false;
    r->retried = true;
    metrics_record_retry(r->shard);
    r->sent = r->got_bytes = false;
    r->bytes_in = 0;
    xch_fifo_push(xc, r);
    if (!xc->wnext)
        xc->wnext = r;
    return true;
}

/* One closed stream, out of the FIFO, to its owner. */
static void settle_one(xch_conn *xc, xch_req *r)
{
    xch_fifo_remove(xc, r);
    r->h2_closed = false;
    if (!r->h2_code) {
        complete(xc, r);
        return;
    }
    if (!r->h2_processed && retry_unprocessed(xc, r))
        return;
    r->bytes_in = r->h2.header_bytes + r->h2.body_bytes;
    if (r->h2_code == XH2_TOO_BIG) {
        xch_fail_one(xc, r, ERRK_PARSE, "response headers too large (--max-header-size)");
        return;
    }
    char m[96];
    snprintf(m, sizeof m, "http2: stream reset by the server: %s", h2_error_name(r->h2_code));
    xch_fail_one(xc, r, metrics_err_kind_h2(r->h2_code), m);
}

/* After a read: hands out every stream that closed, in FIFO order, then
 * re-arms the deadline; a GOAWAY'd connection with no stream left goes,
 * and what waits in its FIFO moves to a new one. */
static void settle(xch_conn *xc)
{
    uint32_t epoch = xc->epoch;
    xh2 *h = state(xc);
    h->settling = true;
    /* Each close was counted once: a pass stops when it has handed out as
     * many as were counted (the oldest streams usually close first, so it
     * rarely walks all of a deep FIFO); closes during a pass count for the
     * next one. */
    do {
        uint32_t want = h->nclosed;
        h->nclosed = 0;
        for (xch_req *r = xc->cur; r && want && xc->epoch == epoch;) {
            xch_req *n = r->next;
            if (r->h2_closed) {
                want--;
                settle_one(xc, r);
            }
            r = n;
        }
    } while (xc->epoch == epoch && h->nclosed);
    if (xc->epoch != epoch)
        return;
    h->settling = false;
    xch_arm(xc, xc->cur ? xch_req_deadline(xc->cur) : 0);
    if ((h->goaway || h2_closing(h->s)) && !h2_in_flight(h->s)) {
        if (xc->cur)
            xch_reopen(xc);
        else
            xch_close(xc, false);
    }
}

/* ---- reading ---- */

static void conn_error(xch_conn *xc, xh2 *h)
{
    uint32_t code = h2_conn_error(h->s);
    char m[120];
    snprintf(m, sizeof m, "http2: the server broke the protocol (volley sent GOAWAY %s)",
             h2_error_name(code));
    flush(xc, h); /* the GOAWAY, best effort */
    fail_all(xc, metrics_err_kind_h2(code), m);
}

/* The server closed after its GOAWAY: requests it did not take (above its
 * last stream, or not started yet) go to a new connection; the others had
 * their chance and end with the GOAWAY's code, or closed_early. */
static void eof_after_goaway(xch_conn *xc, xh2 *h)
{
    uint32_t code = h->goaway_code;
    int32_t last = h->goaway_last;
    xch_req *list = xch_fifo_take(xc), *failed = NULL, **fl = &failed;
    while (list) {
        xch_req *n = list->next;
        if (!list->sent)
            xch_fifo_push(xc, list);
        else if (!(list->h2.id > last && retry_unprocessed(xc, list))) {
            *fl = list;
            fl = &list->next;
        }
        list = n;
    }
    *fl = NULL;
    xch_reopen(xc); /* h goes with the connection */
    char m[120];
    snprintf(m, sizeof m, "http2: the server went away (GOAWAY %s) before this response",
             h2_error_name(code));
    err_kind k = code ? metrics_err_kind_h2(code) : ERRK_CLOSED;
    while (failed) {
        xch_req *n = failed->next;
        xch_fail_one(xc, failed, k, m);
        failed = n;
    }
}

/* EOF or RST on a reused connection before any byte of any response in
 * flight: the server closed it as volley reused it (as for HTTP/1.1). Each
 * idempotent request is sent once more on a new connection (retries); the
 * others are stale_connection. False: not that case. */
static bool stale(xch_conn *xc)
{
    if (!xc->responses)
        return false;
    for (xch_req *r = xc->cur; r; r = r->next)
        if (r->got_bytes || r->h2_closed)
            return false;
    xch_req *list = xch_fifo_take(xc), *failed = NULL, **fl = &failed;
    while (list) {
        xch_req *n = list->next;
        if (!list->sent) {
            xch_fifo_push(xc, list);
        } else if (xc->ctx->retry && list->idempotent && !list->retried) {
            list->retried = true;
            metrics_record_retry(list->shard);
            xch_fifo_push(xc, list);
        } else {
            *fl = list;
            fl = &list->next;
        }
        list = n;
    }
    *fl = NULL;
    xch_reopen(xc);
    while (failed) {
        xch_req *n = failed->next;
        xch_fail_one(xc, failed, ERRK_STALE,
                     "stale keep-alive connection: closed before any response byte");
        failed = n;
    }
    return true;
}

static void eof(xch_conn *xc, xh2 *h)
{
    if (!xc->cur) {
        xch_close(xc, false);
        return;
    }
    if (h->goaway) {
        eof_after_goaway(xc, h);
        return;
    }
    if (stale(xc))
        return;
    fail_all(xc, ERRK_CLOSED, "the server closed the connection early");
}

/* Reads and feeds until drained; false when the connection ended. */
static bool read_all(xch_conn *xc, xh2 *h)
{
    xch_ctx *x = xc->ctx;
    uint32_t epoch = xc->epoch;
    for (;;) {
        ssize_t n = conn_read(&xc->c, x->rbuf, x->rbuf_len);
        if (n == -EAGAIN)
            return true;
        if (n < 0) {
            if (xc->cur)
                h2d_on_write_error(xc, (int)n);
            else
                xch_close(xc, true);
            return false;
        }
        if (n == 0) {
            eof(xc, h);
            return false;
        }
        h->now = loop_update_now(x->lp);
        (xc->cur ? xc->cur->shard : h->wsh)->tot.wire_in += (uint64_t)n;
        h->reading = true;
        int rc = h2_feed(h->s, (const uint8_t *)x->rbuf, (size_t)n);
        if (rc < 0 || h2_conn_error(h->s)) {
            h->reading = false;
            conn_error(xc, h);
            return false;
        }
        settle(xc);
        if (xc->epoch != epoch)
            return false;
        h->reading = false;
    }
}

static void h2d_on_readable(xch_conn *xc)
{
    xh2 *h = state(xc);
    uint32_t epoch = xc->epoch;
    if (!read_all(xc, h) || xc->epoch != epoch)
        return;
    h->reading = false;
    int rc = pump(xc);
    if (rc < 0 && xc->epoch == epoch)
        h2d_on_write_error(xc, rc);
}

/* A read or write failure ends every stream with the same kind (a reset
 * of a reused connection before any response byte: stale). */
static void h2d_on_write_error(xch_conn *xc, int status)
{
    if ((status == -ECONNRESET || status == -EPIPE) && stale(xc))
        return;
    if (status == -EPROTO && xc->c.tls_ctx) {
        char m[200];
        snprintf(m, sizeof m, "tls: %s", conn_tls_error(&xc->c));
        fail_all(xc, ERRK_TLS, m);
        return;
    }
    fail_all(xc, status == -ECONNRESET || status == -EPIPE ? ERRK_RESET : ERRK_CLOSED, NULL);
}

/* Deadlines passed: each expired request's stream is cancelled
 * (RST_STREAM CANCEL) and it is a timeout; the connection stays. */
static bool h2d_on_timeout(xch_conn *xc)
{
    xh2 *h = state(xc);
    uint64_t now = loop_update_now(xc->ctx->lp);
    xch_req *expired = NULL, **tail = &expired;
    for (xch_req *r = xc->cur, *n; r; r = n) {
        n = r->next;
        uint64_t d = xch_req_deadline(r);
        if (!d || d > now || r->h2_closed)
            continue;
        if (r->sent)
            h2_cancel(h->s, &r->h2);
        xch_fifo_remove(xc, r);
        *tail = r;
        tail = &r->next;
    }
    *tail = NULL;
    xch_arm(xc, xc->cur ? xch_req_deadline(xc->cur) : 0);
    uint32_t epoch = xc->epoch;
    int rc = pump(xc);
    if (rc < 0 && xc->epoch == epoch)
        h2d_on_write_error(xc, rc);
    while (expired) {
        xch_req *n = expired->next;
        /* A request whose stream was never opened has no stream numbers:
         * its half of the union may hold HTTP/1.1's parser. */
        expired->bytes_in = expired->sent ? expired->h2.header_bytes + expired->h2.body_bytes : 0;
        xch_fail_one(xc, expired, ERRK_TIMEOUT, "request timeout (stream cancelled)");
        expired = n;
    }
    return true;
}

/* ---- the connection ---- */

static int h2d_on_open(xch_conn *xc)
{
    xh2 *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h2_callbacks cb = {.ctx = xc, .on_head = cb_head, .on_body = cb_body, .on_close = cb_close,
                       .on_goaway = cb_goaway, .on_field = cb_field};
    err e = {0};
    if (!(h->s = h2_session_new(&cb, H2_WINDOW, &e))) {
        free(h);
        return -ENOMEM;
    }
    h->wsh = xc->cur->shard;
    xc->pstate = h;
    return 0;
}

static void h2d_on_close(xch_conn *xc)
{
    xh2 *h = state(xc);
    if (!h)
        return;
    h2_session_free(h->s);
    buf_free(&h->out);
    free(h);
    xc->pstate = NULL;
}

static uint32_t h2d_in_flight(const xch_conn *xc) { return xc->nflight; }

const xch_proto xch_h2 = {
    .name = "h2",
    .max_in_flight = h2d_max_in_flight,
    .submit = h2d_submit,
    .on_readable = h2d_on_readable,
    .on_write_error = h2d_on_write_error,
    .in_flight = h2d_in_flight,
    .on_sent = h2d_on_sent,
    .on_close = h2d_on_close,
    .on_open = h2d_on_open,
    .on_timeout = h2d_on_timeout,
};
