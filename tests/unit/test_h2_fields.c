/* Tests for proto/h2's request glue (h2_submit_h1, what URL runs and Lua
 * http.* send over HTTP/2): every header field of the request reaches the
 * server, whatever its name's length or the number of fields, as over
 * HTTP/1.1. The server is an in-memory nghttp2 session fed the client's
 * bytes. (fuzz_h2_req checks the same on any message.) */
#include "proto/h2.h"

#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

typedef struct fields {
    int n;           /* regular (non-pseudo) fields received */
    char last[256];  /* the last field's name */
    bool headers;    /* the request's HEADERS were accepted */
} fields;

static int on_field(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                    const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
    (void)s, (void)f, (void)v, (void)vl, (void)flags;
    fields *g = ud;
    if (nl && name[0] == ':')
        return 0;
    g->n++;
    snprintf(g->last, sizeof g->last, "%.*s", (int)nl, (const char *)name);
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    if (f->hd.type == NGHTTP2_HEADERS)
        ((fields *)ud)->headers = true;
    return 0;
}

static void on_close(void *ctx, h2_stream *st, uint32_t code, bool processed)
{
    (void)ctx, (void)st, (void)code, (void)processed;
}

/* Sends msg with h2_submit_h1 and returns what the server received. */
static fields send_h1(const char *msg)
{
    h2_callbacks cb = {.on_close = on_close};
    err e = {0};
    h2_session *c = h2_session_new(&cb, 1u << 20, &e);
    cr_assert_not_null(c, "%s", e.msg);
    h2_stream st = {0};
    cr_assert_eq(h2_submit_h1(c, "http", msg, strlen(msg), &st), 0);
    buf out = {0};
    while (h2_flush(c, &out, 1u << 20) > 0)
        ;
    fields g = {0};
    nghttp2_session_callbacks *scb;
    nghttp2_session *srv;
    cr_assert_eq(nghttp2_session_callbacks_new(&scb), 0);
    nghttp2_session_callbacks_set_on_header_callback(scb, on_field);
    nghttp2_session_callbacks_set_on_frame_recv_callback(scb, on_frame);
    cr_assert_eq(nghttp2_session_server_new(&srv, scb, &g), 0);
    cr_assert_eq(nghttp2_session_mem_recv(srv, (const uint8_t *)out.data, out.len),
                 (ssize_t)out.len);
    cr_assert(g.headers, "the server did not accept the request");
    nghttp2_session_del(srv);
    nghttp2_session_callbacks_del(scb);
    buf_free(&out);
    h2_session_free(c);
    return g;
}

Test(h2_fields, a_short_header_reaches_the_server)
{
    fields g = send_h1("GET / HTTP/1.1\r\nHost: a:1\r\nX-Short: 1\r\n\r\n");
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.last, "x-short");
}

Test(h2_fields, a_long_header_name_reaches_the_server)
{
    /* A 100-byte name: HTTP sets no limit; today h2_submit_h1 drops names
     * of 64 bytes or more without a word. */
    char name[101], msg[512];
    memset(name, 'n', 100);
    name[100] = '\0';
    snprintf(msg, sizeof msg, "GET / HTTP/1.1\r\nHost: a:1\r\nX-%s: v\r\n\r\n", name);
    fields g = send_h1(msg);
    cr_assert_eq(g.n, 1, "the field was dropped");
    cr_assert_eq(strlen(g.last), 102);
}

Test(h2_fields, a_hundred_headers_reach_the_server)
{
    /* 100 fields (a browser-like request with many cookies and tracing
     * headers); today fields past the 68th are dropped without a word. */
    char msg[8192];
    size_t n = (size_t)snprintf(msg, sizeof msg, "GET / HTTP/1.1\r\nHost: a:1\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "X-F%d: %d\r\n", i, i);
    snprintf(msg + n, sizeof msg - n, "\r\n");
    fields g = send_h1(msg);
    cr_assert_eq(g.n, 100, "%d of 100 fields arrived", g.n);
    cr_assert_str_eq(g.last, "x-f99");
}
