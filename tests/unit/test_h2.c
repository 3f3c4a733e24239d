/* Tests for proto/h2: the client session against an in-memory nghttp2
 * server made here (bytes pumped both ways until quiet): requests and
 * bodies, the server's SETTINGS_MAX_CONCURRENT_STREAMS, RST_STREAM codes
 * by name, GOAWAY telling processed from unprocessed streams, interim 1xx
 * heads, garbage from the server, and every byte split. */
#include "proto/h2.h"

#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

/* ---- a scripted server ---- */

typedef struct srv {
    nghttp2_session *s;
    int refuse_every;      /* RST_STREAM(REFUSED_STREAM) every n-th request */
    int goaway_after;      /* GOAWAY(last = this stream) once it is answered */
    bool send_100;         /* a 100 Continue head before the final one */
    uint32_t max_streams;  /* 0: not announced */
    int requests;
    char body[64][256];    /* received request bodies, by stream id / 2 */
    char fields[1024];     /* "name=value;" of every request header received */
} srv;

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                      const uint8_t *val, size_t vl, uint8_t flags, void *ud)
{
    (void)s, (void)f, (void)flags;
    srv *v = ud;
    size_t k = strlen(v->fields);
    snprintf(v->fields + k, sizeof v->fields - k, "%.*s=%.*s;", (int)nl, n, (int)vl, val);
    return 0;
}

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
    (void)s, (void)id, (void)ud;
    const char *text = src->ptr;
    size_t n = strlen(text);
    memcpy(dst, text, n < len ? n : len);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)(n < len ? n : len);
}

static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    srv *v = ud;
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
        return 0;
    int32_t id = f->hd.stream_id;
    v->requests++;
    if (v->refuse_every && v->requests % v->refuse_every == 0)
        return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    if (v->send_100) {
        nghttp2_nv c[] = {{(uint8_t *)":status", (uint8_t *)"100", 7, 3, 0}};
        nghttp2_submit_headers(s, NGHTTP2_FLAG_NONE, id, NULL, c, 1, NULL);
    }
    nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)"201", 7, 3, 0}};
    nghttp2_data_provider dp = {.source.ptr = "hello", .read_callback = srv_read};
    nghttp2_submit_response(s, id, nv, 1, &dp);
    if (v->goaway_after == id)
        nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, NULL, 0);
    return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                    void *ud)
{
    (void)s, (void)flags;
    srv *v = ud;
    char *b = v->body[(id / 2) % 64];
    strncat(b, (const char *)d, n < 255 - strlen(b) ? n : 255 - strlen(b));
    return 0;
}

static void srv_init(srv *v)
{
    nghttp2_session_callbacks *cb;
    cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
    nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
    cr_assert_eq(nghttp2_session_server_new(&v->s, cb, v), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, v->max_streams}};
    nghttp2_submit_settings(v->s, NGHTTP2_FLAG_NONE, iv, v->max_streams ? 1 : 0);
}

/* ---- the client side under test ---- */

typedef struct seen {
    int heads, closes, goaways, refused_unprocessed;
    int32_t goaway_last;
    uint32_t last_code;
    char body[256];
} seen;

static void on_head(void *ctx, h2_stream *st)
{
    (void)st;
    ((seen *)ctx)->heads++;
}

static void on_body(void *ctx, h2_stream *st, const uint8_t *d, size_t n)
{
    (void)st;
    seen *s = ctx;
    strncat(s->body, (const char *)d, n);
}

static void on_close(void *ctx, h2_stream *st, uint32_t code, bool processed)
{
    (void)st;
    seen *s = ctx;
    s->closes++;
    s->last_code = code;
    if (!processed)
        s->refused_unprocessed++;
}

static void on_goaway(void *ctx, int32_t last, uint32_t code)
{
    (void)code;
    seen *s = ctx;
    s->goaways++;
    s->goaway_last = last;
}

/* Moves bytes both ways until neither side has more; split: feed the
 * client one byte at a time. */
static void pump(h2_session *c, srv *v, bool split)
{
    for (int round = 0; round < 1000; round++) {
        buf out = {0};
        cr_assert_geq(h2_flush(c, &out, 1 << 20), 0);
        bool moved = out.len > 0;
        if (out.len)
            cr_assert_geq(nghttp2_session_mem_recv(v->s, (uint8_t *)out.data, out.len), 0);
        buf_free(&out);
        const uint8_t *p;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(v->s, &p)) > 0) {
            moved = true;
            if (!split) {
                cr_assert_eq(h2_feed(c, p, (size_t)n), 0);
                continue;
            }
            uint8_t copy[65536];
            memcpy(copy, p, (size_t)n);
            for (ssize_t i = 0; i < n; i++)
                cr_assert_eq(h2_feed(c, copy + i, 1), 0);
        }
        if (!moved)
            return;
    }
    cr_assert_fail("pump did not settle");
}

static h2_session *client(seen *s)
{
    h2_callbacks cb = {.ctx = s, .on_head = on_head, .on_body = on_body, .on_close = on_close,
                       .on_goaway = on_goaway};
    err e = {0};
    h2_session *c = h2_session_new(&cb, 16u << 20, &e);
    cr_assert_not_null(c, "%s", e.msg);
    return c;
}

static const http1_header hdrs[] = {{"X-Test", "1"}, {"Connection", "keep-alive"}};
static const h2_request get = {.method = "GET", .scheme = "http", .authority = "127.0.0.1:1",
                               .path = "/x", .headers = hdrs, .nheaders = 2};

Test(h2, request_response_whole_and_split)
{
    for (int split = 0; split < 2; split++) {
        srv v = {0};
        srv_init(&v);
        seen s = {0};
        h2_session *c = client(&s);
        h2_stream st = {.user = &s};
        cr_assert_eq(h2_submit(c, &get, &st), 0);
        cr_assert_eq(st.id, 1);
        cr_assert_eq(h2_in_flight(c), 1);
        pump(c, &v, split);
        cr_assert_eq(s.heads, 1);
        cr_assert_eq(st.status, 201);
        cr_assert_str_eq(s.body, "hello");
        cr_assert_eq(st.body_bytes, 5);
        cr_assert_eq(s.closes, 1);
        cr_assert_eq(s.last_code, H2_NO_ERROR);
        cr_assert_eq(h2_in_flight(c), 0);
        h2_session_free(c);
        nghttp2_session_del(v.s);
    }
}

Test(h2, request_body_reaches_the_server)
{
    srv v = {0};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    h2_request post = get;
    post.method = "POST";
    h2_stream st = {.body = "payload-123", .body_len = 11};
    cr_assert_eq(h2_submit(c, &post, &st), 0);
    pump(c, &v, false);
    cr_assert_str_eq(v.body[0], "payload-123");
    cr_assert_eq(st.status, 201);
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

Test(h2, server_max_concurrent_streams_is_reported_and_enforced)
{
    srv v = {.max_streams = 2};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    cr_assert_eq(h2_max_streams(c), 100); /* nghttp2's assumption before SETTINGS */
    h2_stream a = {0}, b = {0}, d = {0};
    cr_assert_eq(h2_submit(c, &get, &a), 0);
    pump(c, &v, false);
    cr_assert_eq(h2_max_streams(c), 2);
    cr_assert_eq(h2_submit(c, &get, &a), 0);
    cr_assert_eq(h2_submit(c, &get, &b), 0);
    cr_assert_eq(h2_submit(c, &get, &d), VOLLEY_EINVAL, "a third stream over the limit");
    pump(c, &v, false);
    cr_assert_eq(s.closes, 3);
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

Test(h2, refused_stream_is_named_and_unprocessed)
{
    srv v = {.refuse_every = 2};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st[4] = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(h2_submit(c, &get, &st[i]), 0);
    pump(c, &v, false);
    cr_assert_eq(s.closes, 4);
    cr_assert_eq(s.heads, 2);
    cr_assert_eq(s.refused_unprocessed, 2);
    cr_assert_str_eq(h2_error_name(H2_REFUSED_STREAM), "h2_refused_stream");
    cr_assert_str_eq(h2_error_name(0x8), "h2_cancel");
    cr_assert_str_eq(h2_error_name(0x99), "h2_error");
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

Test(h2, goaway_splits_processed_from_unprocessed)
{
    srv v = {.goaway_after = 3};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st[4] = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(h2_submit(c, &get, &st[i]), 0);
    pump(c, &v, false);
    cr_assert_eq(s.goaways, 1);
    cr_assert_eq(s.goaway_last, 3);
    cr_assert_eq(s.closes, 4);
    /* Streams 1 and 3 were answered; 5 and 7 are above the last id. */
    cr_assert_eq(st[0].status, 201);
    cr_assert_eq(st[1].status, 201);
    cr_assert_eq(s.refused_unprocessed, 2);
    cr_assert(h2_closing(c));
    h2_stream more = {0};
    cr_assert_eq(h2_submit(c, &get, &more), VOLLEY_EINVAL);
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

Test(h2, interim_100_head_is_skipped)
{
    srv v = {.send_100 = true};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st = {0};
    cr_assert_eq(h2_submit(c, &get, &st), 0);
    pump(c, &v, true);
    cr_assert_eq(s.heads, 1, "heads %d status %d closes %d code %u", s.heads, st.status, s.closes, s.last_code);
    cr_assert_eq(st.status, 201);
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

Test(h2, garbage_from_the_server_is_a_connection_error)
{
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st = {0};
    cr_assert_eq(h2_submit(c, &get, &st), 0);
    buf out = {0};
    cr_assert_gt(h2_flush(c, &out, 1 << 20), 0);
    buf_free(&out);
    const char *junk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    cr_assert_eq(h2_feed(c, (const uint8_t *)junk, strlen(junk)), -1);
    cr_assert_str_eq(h2_error_name(h2_conn_error(c)), "h2_protocol_error");
    h2_session_free(c);
}

/* The exchange hands HTTP/2 the HTTP/1.1 bytes it built: request line to
 * pseudo-headers, Host to :authority, names lowercased, hop-by-hop
 * headers dropped, what follows the head is the body. */
Test(h2, http11_message_becomes_a_stream)
{
    srv v = {0};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    static const char msg[] = "POST /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Mixed-Case:  v 1 \r\n"
                              "Connection: keep-alive\r\nContent-Length: 4\r\n\r\nbody";
    h2_stream st = {.user = &s};
    cr_assert_eq(h2_submit_h1(c, "https", msg, sizeof msg - 1, &st), 0);
    pump(c, &v, false);
    cr_assert_eq(st.status, 201);
    cr_assert_str_eq(v.body[0], "body");
    cr_assert_str_eq(v.fields, ":method=POST;:scheme=https;:authority=127.0.0.1:9;:path=/p?q=1;"
                               "x-mixed-case=v 1;content-length=4;");
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

Test(h2, http11_message_without_host_or_request_line_is_refused)
{
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st = {0};
    static const char nohost[] = "GET / HTTP/1.1\r\nX: y\r\n\r\n";
    static const char noline[] = "GET\r\nHost: a\r\n\r\n";
    static const char cut[] = "GET / HTTP/1.1\r\nHost: a\r\n";
    static const char badlen[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello h2";
    static const char twolen[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                                 "Content-Length: 3\r\n\r\nab";
    cr_assert_eq(h2_submit_h1(c, "http", nohost, sizeof nohost - 1, &st), VOLLEY_EPARSE);
    cr_assert_eq(h2_submit_h1(c, "http", noline, sizeof noline - 1, &st), VOLLEY_EPARSE);
    cr_assert_eq(h2_submit_h1(c, "http", cut, sizeof cut - 1, &st), VOLLEY_EPARSE);
    /* A Content-Length that is not the body's would make a malformed stream. */
    cr_assert_eq(h2_submit_h1(c, "http", badlen, sizeof badlen - 1, &st), VOLLEY_EPARSE);
    cr_assert_eq(h2_submit_h1(c, "http", twolen, sizeof twolen - 1, &st), VOLLEY_EPARSE);
    cr_assert_eq(h2_in_flight(c), 0);
    h2_session_free(c);
}

/* The second request with the same head takes the converted head from the
 * session's cache: the server sees the same fields from a copy of the
 * bytes at another address (values point into each request's own bytes),
 * another head is parsed afresh, a body of another length under the cached
 * Content-Length is refused, and so is another scheme's cached head used
 * with the wrong scheme (it is converted again). */
Test(h2, repeated_head_is_converted_once_and_checked_each_time)
{
    srv v = {0};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    static const char a[] = "POST /a HTTP/1.1\r\nHost: h:1\r\nX-K: v\r\nContent-Length: 2\r\n\r\nab";
    static const char b[] = "GET /b HTTP/1.1\r\nHost: h:2\r\n\r\n";
    static const char bad[] = "POST /a HTTP/1.1\r\nHost: h:1\r\nX-K: v\r\nContent-Length: 2\r\n\r\nabc";
    char copy[sizeof a];
    memcpy(copy, a, sizeof a);
    copy[sizeof a - 3] = 'x'; /* same head, other body bytes: "xb" */
    h2_stream st[4] = {{.user = &s}, {.user = &s}, {.user = &s}, {.user = &s}};
    cr_assert_eq(h2_submit_h1(c, "https", a, sizeof a - 1, &st[0]), 0);
    cr_assert_eq(h2_submit_h1(c, "https", copy, sizeof copy - 1, &st[1]), 0);
    cr_assert_eq(h2_submit_h1(c, "https", bad, sizeof bad - 1, &st[2]), VOLLEY_EPARSE);
    cr_assert_eq(h2_submit_h1(c, "http", b, sizeof b - 1, &st[2]), 0);
    cr_assert_eq(h2_submit_h1(c, "https", b, sizeof b - 1, &st[3]), 0);
    pump(c, &v, false);
    cr_assert_eq(v.requests, 4);
    cr_assert_str_eq(v.body[0], "ab");
    cr_assert_str_eq(v.body[1], "xb");
    cr_assert_str_eq(v.fields, ":method=POST;:scheme=https;:authority=h:1;:path=/a;x-k=v;"
                               "content-length=2;"
                               ":method=POST;:scheme=https;:authority=h:1;:path=/a;x-k=v;"
                               "content-length=2;"
                               ":method=GET;:scheme=http;:authority=h:2;:path=/b;"
                               ":method=GET;:scheme=https;:authority=h:2;:path=/b;");
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

/* A cancelled stream gets no callback and frees its slot at once. */
Test(h2, cancelled_stream_is_forgotten)
{
    srv v = {0};
    srv_init(&v);
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st = {.user = &s};
    cr_assert_eq(h2_submit(c, &get, &st), 0);
    h2_cancel(c, &st);
    cr_assert_eq(h2_in_flight(c), 0);
    pump(c, &v, false);
    cr_assert_eq(s.closes, 0);
    cr_assert_eq(s.heads, 0);
    h2_session_free(c);
    nghttp2_session_del(v.s);
}

/* A frame too large after a valid SETTINGS: nghttp2 only queues its GOAWAY;
 * h2_feed still names the error at once (the server may close before the
 * GOAWAY is written), and h2_flush writes that GOAWAY. */
Test(h2, frame_too_large_after_settings_is_named_at_once)
{
    seen s = {0};
    h2_session *c = client(&s);
    h2_stream st = {0};
    cr_assert_eq(h2_submit(c, &get, &st), 0);
    buf out = {0};
    cr_assert_gt(h2_flush(c, &out, 1 << 20), 0);
    static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    cr_assert_eq(h2_feed(c, settings, sizeof settings), 0);
    const char *junk = "SSH-2.0-OpenSSH_9.2\r\n";
    cr_assert_eq(h2_feed(c, (const uint8_t *)junk, strlen(junk)), -1);
    cr_assert_str_eq(h2_error_name(h2_conn_error(c)), "h2_frame_size_error");
    buf_reset(&out);
    cr_assert_gt(h2_flush(c, &out, 1 << 20), 0);
    /* Among the frames written: a GOAWAY (type 7) with code 6 (its payload:
     * last stream id, then the code, 4 bytes each). */
    const uint8_t *p = (const uint8_t *)buf_rpos(&out);
    size_t n = buf_unread(&out), off = 0;
    bool goaway = false;
    while (off + 9 <= n) {
        size_t len = (size_t)p[off] << 16 | (size_t)p[off + 1] << 8 | p[off + 2];
        if (p[off + 3] == 7 && len >= 8 && off + 9 + 8 <= n)
            goaway = p[off + 9 + 7] == 6;
        off += 9 + len;
    }
    cr_assert(goaway, "no GOAWAY(FRAME_SIZE_ERROR) in %zu bytes", n);
    buf_free(&out);
    h2_session_free(c);
}
