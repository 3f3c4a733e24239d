/* h2: the HTTP/2 side of `volley serve` (see h2.h). One nghttp2 server
 * session per connection; each stream is routed like an HTTP/1.1 request
 * (server/routes) and answered at once, after its delay, or piece by piece
 * on its own loop timer (/stream, /sse: one DATA frame per chunk).
 * Response bodies wait in the stream's buffer; the data source defers when
 * it is empty and is resumed when a timer adds a piece. */
#include "server/h2.h"

#include "core/clock.h"
#include "proto/h2.h"
#include "server/routes.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_OUT_MAX (4u << 20) /* a stream this far behind its reader is reset */

typedef struct srv_stream srv_stream;

struct srv_h2 {
    srv_h2_host host;
    nghttp2_session *s;
    srv_stream *streams; /* open streams, for clean-up */
    uint64_t answered;
};

struct srv_stream {
    srv_h2 *h;
    int32_t id;
    char method[16];
    char path[2048];
    routes_match m;
    buf body;            /* /echo: the request body */
    buf out;             /* response body bytes not yet framed */
    uint64_t bytes_left; /* /bytes: fill bytes still to frame */
    uint64_t seq;        /* pieces done (/stream, /sse, /buffered) */
    bool done;           /* the whole body is in out / bytes_left */
    bool too_big;        /* the request body passed the cap: 413 */
    bool answering;      /* the response is submitted */
    loop_timer tick;
    srv_stream *prev, *next;
};

/* ---- streams ---- */

static void stream_free(srv_stream *st)
{
    srv_h2 *h = st->h;
    loop_timer_stop(h->host.l, &st->tick);
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    buf_free(&st->body);
    buf_free(&st->out);
    free(st);
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s, (void)id, (void)ud;
    srv_stream *st = src->ptr;
    size_t n = 0, avail = buf_unread(&st->out);
    if (avail) {
        n = avail < len ? avail : len;
        memcpy(dst, buf_rpos(&st->out), n);
        buf_consume(&st->out, n);
    } else if (st->bytes_left) {
        n = len < ROUTES_FILL_LEN ? len : ROUTES_FILL_LEN;
        if (n > st->bytes_left)
            n = (size_t)st->bytes_left;
        memcpy(dst, routes_fill(), n);
        st->bytes_left -= n;
    }
    if (!buf_unread(&st->out) && !st->bytes_left) {
        if (st->done)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (!n)
            return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

/* Submits the response head; with_body: the body follows from st->out /
 * st->bytes_left (now or as timers add it). */
static int respond(srv_stream *st, int status, const char *ctype, int64_t length, bool with_body,
                   const char *allow)
{
    char code[8], len[24];
    snprintf(code, sizeof code, "%d", status);
    snprintf(len, sizeof len, "%lld", (long long)length);
    nghttp2_nv nv[6] = {NV(":status", code)};
    size_t n = 1;
    if (ctype)
        nv[n++] = (nghttp2_nv)NV("content-type", ctype);
    if (length >= 0)
        nv[n++] = (nghttp2_nv)NV("content-length", len);
    if (allow)
        nv[n++] = (nghttp2_nv)NV("allow", allow);
    if (st->m.id == ROUTE_ECHO) {
        nv[n++] = (nghttp2_nv)NV("x-echo-method", st->method);
        nv[n++] = (nghttp2_nv)NV("x-echo-path", st->path);
    }
    if (st->m.id == ROUTE_SSE && n < 6)
        nv[n++] = (nghttp2_nv)NV("cache-control", "no-cache");
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
    st->answering = true;
    st->h->answered++;
    return nghttp2_submit_response(st->h->s, st->id, nv, n, with_body && !st->m.head ? &dp : NULL);
}

static int respond_simple(srv_stream *st, const routes_match *m)
{
    routes_simple r;
    int rc = routes_simple_parts(m, &r);
    if (rc)
        return rc;
    if (!r.content_type)
        return respond(st, r.status, NULL, -1, false, NULL);
    if (!m->head && buf_append(&st->out, r.body, r.body_len))
        return NGHTTP2_ERR_NOMEM;
    st->done = true;
    return respond(st, r.status, r.content_type, (int64_t)r.body_len, true, r.allow);
}

static uint64_t next_step_ns(srv_stream *st)
{
    srv_h2_host *host = &st->h->host;
    return loop_now(host->l) + st->m.interval_ms * NS_PER_MS +
           host->rand_ns(host->conn, st->m.max_delay_ms);
}

static void on_tick(loop *l, void *data);

/* One piece of /stream or /sse into out; the end after the last. */
static int stream_piece(srv_stream *st)
{
    int rc;
    st->seq++;
    if (st->m.id == ROUTE_SSE)
        rc = routes_write_sse_event(&st->out, st->seq, st->m.chunks, false);
    else
        rc = routes_write_fill(&st->out, st->m.size);
    if (st->seq >= st->m.chunks)
        st->done = true;
    else
        loop_timer_start(st->h->host.l, &st->tick, next_step_ns(st), on_tick, st);
    return rc;
}

/* A timer step of a deferred response: delay over, next piece, or the
 * buffered body complete. */
static int step(srv_stream *st)
{
    switch (st->m.id) {
    case ROUTE_DELAY: {
        routes_match ok = {.id = ROUTE_HEALTH, .head = st->m.head};
        return respond_simple(st, &ok);
    }
    case ROUTE_BUFFERED:
        if (++st->seq < st->m.chunks) {
            loop_timer_start(st->h->host.l, &st->tick, next_step_ns(st), on_tick, st);
            return 0;
        }
        st->bytes_left = st->m.head ? 0 : st->m.chunks * st->m.size;
        st->done = true;
        return respond(st, 200, "text/plain", (int64_t)(st->m.chunks * st->m.size), true, NULL);
    default:
        if (buf_unread(&st->out) > STREAM_OUT_MAX) /* the client stopped reading */
            return nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id,
                                             NGHTTP2_CANCEL);
        int rc = stream_piece(st);
        return rc ? rc : nghttp2_session_resume_data(st->h->s, st->id);
    }
}

static void on_tick(loop *l, void *data)
{
    srv_stream *st = data;
    srv_h2_host *host = &st->h->host;
    uint64_t end = host->stall_end(host->conn, loop_now(l));
    if (end) { /* due during a stall: runs when it ends */
        loop_timer_start(l, &st->tick, end, on_tick, st);
        return;
    }
    if (step(st) < 0)
        nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    host->kick(host->conn);
}

/* The request is complete (END_STREAM): route it and answer or start. */
static int dispatch(srv_stream *st)
{
    srv_h2_host *host = &st->h->host;
    routes_match *m = &st->m;
    routes_match_request(st->method, strlen(st->method), st->path, strlen(st->path), m);
    if (st->too_big) {
        routes_match big = {.id = ROUTE_ERROR, .status = 413, .error = "request body too large"};
        return respond_simple(st, &big);
    }
    uint64_t now = loop_now(host->l);
    switch (m->id) {
    case ROUTE_ECHO: {
        buf tmp = st->out;
        st->out = st->body;
        st->body = tmp;
        st->done = true;
        if (m->head)
            buf_reset(&st->out);
        return respond(st, 200, "application/octet-stream", (int64_t)buf_unread(&st->out), true,
                       NULL);
    }
    case ROUTE_BYTES:
        st->bytes_left = m->head ? 0 : m->n;
        st->done = true;
        return respond(st, 200, "application/octet-stream", (int64_t)m->n, true, NULL);
    case ROUTE_DELAY:
        loop_timer_start(host->l, &st->tick,
                         now + m->n * NS_PER_MS + host->rand_ns(host->conn, m->jitter_ms) +
                             host->rand_ns(host->conn, m->max_delay_ms),
                         on_tick, st);
        return 0;
    case ROUTE_STREAM:
    case ROUTE_SSE: {
        int rc = respond(st, 200, m->id == ROUTE_SSE ? "text/event-stream" : "text/plain", -1,
                         true, NULL);
        if (rc || m->head)
            return rc;
        if (m->first_ms) {
            loop_timer_start(host->l, &st->tick, now + m->first_ms * NS_PER_MS, on_tick, st);
            return 0;
        }
        return stream_piece(st);
    }
    case ROUTE_BUFFERED:
        st->seq = 0;
        if (m->first_ms) {
            loop_timer_start(host->l, &st->tick, now + m->first_ms * NS_PER_MS, on_tick, st);
            return 0;
        }
        return step(st);
    default:
        return respond_simple(st, m);
    }
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    srv_h2 *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    srv_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->h = h;
    st->id = f->hd.stream_id;
    loop_timer_init(&st->tick);
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    (void)flags, (void)ud;
    srv_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (namelen == 7 && !memcmp(name, ":method", 7))
        snprintf(st->method, sizeof st->method, "%.*s", (int)valuelen, (const char *)value);
    else if (namelen == 5 && !memcmp(name, ":path", 5)) {
        if (valuelen >= sizeof st->path) /* answered 414-like by the route: too long */
            return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
        snprintf(st->path, sizeof st->path, "%.*s", (int)valuelen, (const char *)value);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    srv_h2 *h = ud;
    srv_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->too_big)
        return 0;
    if (st->body.len + len > h->host.max_body_bytes) {
        st->too_big = true;
        buf_free(&st->body);
        return 0;
    }
    return buf_append(&st->body, data, len) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    srv_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || st->answering)
        return 0;
    int rc = dispatch(st);
    if (rc < 0 && rc != NGHTTP2_ERR_NOMEM)
        return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    return rc == NGHTTP2_ERR_NOMEM ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    (void)code, (void)ud;
    srv_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (st)
        stream_free(st);
    return 0;
}

/* ---- the session ---- */

srv_h2 *srv_h2_new(const srv_h2_host *host)
{
    srv_h2 *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cb;
    if (!h || nghttp2_session_callbacks_new(&cb)) {
        free(h);
        return NULL;
    }
    h->host = *host;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rc = nghttp2_session_server_new(&h->s, cb, h);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, host->max_streams ? host->max_streams : 256},
    };
    if (rc || nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 1)) {
        srv_h2_free(h);
        return NULL;
    }
    return h;
}

void srv_h2_free(srv_h2 *h)
{
    if (!h)
        return;
    nghttp2_session_del(h->s); /* calls no stream callbacks: free them here */
    while (h->streams)
        stream_free(h->streams);
    free(h);
}

int srv_h2_feed(srv_h2 *h, const char *data, size_t len)
{
    ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)data, len);
    return n < 0 ? -1 : 0;
}

ssize_t srv_h2_flush(srv_h2 *h, size_t high_water)
{
    /* The connection's output buffer does not change while frames are
     * appended to it: one call of the shared sender. */
    return h2_session_send(h->s, h->host.outbuf(h->host.conn), high_water);
}

bool srv_h2_finished(const srv_h2 *h)
{
    return !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s);
}

bool srv_h2_open_streams(const srv_h2 *h)
{
    return h->streams != NULL;
}

uint64_t srv_h2_streams(const srv_h2 *h)
{
    return h->answered;
}
