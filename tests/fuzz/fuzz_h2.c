/* libFuzzer target for proto/h2: the bytes a server sends, fed to a
 * client session with three requests in flight (one with a body), whole
 * and then split where the input's first byte says (and the second stream
 * cancelled between the pieces). Whatever arrives, the session must not
 * crash, leak or loop; every callback must name one of our streams (never
 * a cancelled one), and header fields handed out are regular ones. The
 * input is also given to h2_submit_h1 as a request message (the exchange's
 * HTTP/1.1 bytes turned into a stream; fuzz_h2_req checks what it sends). */
#include "proto/h2.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static h2_stream streams[3];
static bool cancelled[3];
static volatile uint8_t sink;

static void ours(const h2_stream *st)
{
    if (st < streams || st >= streams + 3 || cancelled[st - streams])
        abort();
}

static void on_close(void *ctx, h2_stream *st, uint32_t code, bool processed)
{
    (void)ctx, (void)code, (void)processed;
    ours(st);
}

static void on_head(void *ctx, h2_stream *st)
{
    (void)ctx;
    ours(st);
    if (st->status < 200 || st->status > 999)
        abort();
}

static void touch(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sink ^= p[i];
}

static void on_body(void *ctx, h2_stream *st, const uint8_t *d, size_t n)
{
    (void)ctx;
    ours(st);
    touch(d, n);
}

static void on_field(void *ctx, h2_stream *st, const char *name, size_t nl, const char *v,
                     size_t vl)
{
    (void)ctx;
    ours(st);
    if (!nl || name[0] == ':')
        abort();
    touch((const uint8_t *)name, nl);
    touch((const uint8_t *)v, vl);
}

static void run(const uint8_t *d, size_t n, size_t split)
{
    h2_callbacks cb = {.on_close = on_close, .on_head = on_head, .on_body = on_body,
                       .on_field = on_field};
    err e = {0};
    h2_session *s = h2_session_new(&cb, 1u << 20, &e);
    if (!s)
        return;
    static const http1_header hdrs[] = {{"Accept", "*/*"}};
    h2_request rq = {.method = "GET", .scheme = "http", .authority = "a:1", .path = "/",
                     .headers = hdrs, .nheaders = 1};
    memset(streams, 0, sizeof streams);
    memset(cancelled, 0, sizeof cancelled);
    streams[2].body = "body";
    streams[2].body_len = 4;
    for (int i = 0; i < 3; i++)
        h2_submit(s, &rq, &streams[i]);
    buf out = {0};
    h2_flush(s, &out, 1u << 20);
    if (h2_feed(s, d, split) == 0) {
        if (split < n) {
            h2_cancel(s, &streams[1]);
            cancelled[1] = true;
        }
        h2_feed(s, d + split, n - split);
    }
    buf_reset(&out);
    h2_flush(s, &out, 1u << 20);
    buf_free(&out);
    h2_session_free(s);
}

/* The input as an HTTP/1.1 request message: a stream or a refusal, and
 * the HEADERS it makes (values point into the input) serialized at once. */
static void as_request(const uint8_t *d, size_t n)
{
    h2_callbacks cb = {.on_close = on_close};
    err e = {0};
    h2_session *s = h2_session_new(&cb, 1u << 20, &e);
    if (!s)
        return;
    char *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
    memcpy(copy, d, n);
    memset(streams, 0, sizeof streams);
    memset(cancelled, 0, sizeof cancelled);
    int rc = h2_submit_h1(s, "http", copy, n, &streams[0]);
    if ((rc == 0) != (h2_in_flight(s) == 1))
        abort();
    buf out = {0};
    h2_flush(s, &out, 1u << 20);
    buf_free(&out);
    h2_session_free(s);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    as_request(d, n);
    run(d, n, n);
    if (n > 1)
        run(d + 1, n - 1, d[0] % n);
    return 0;
}
