/* libFuzzer target for proto/h2: the bytes a server sends, fed to a
 * client session with three requests in flight (one with a body), whole
 * and then split where the input's first byte says. Whatever arrives, the
 * session must not crash, leak or loop, and every stream it closes must be
 * one of ours. The input is also given to h2_submit_h1 as a request
 * message (the exchange's HTTP/1.1 bytes turned into a stream). */
#include "proto/h2.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static h2_stream streams[3];

static void on_close(void *ctx, h2_stream *st, uint32_t code, bool processed)
{
    (void)ctx, (void)code, (void)processed;
    if (st < streams || st >= streams + 3)
        abort();
}

static void run(const uint8_t *d, size_t n, size_t split)
{
    h2_callbacks cb = {.on_close = on_close};
    err e = {0};
    h2_session *s = h2_session_new(&cb, 1u << 20, &e);
    if (!s)
        return;
    static const http1_header hdrs[] = {{"Accept", "*/*"}};
    h2_request rq = {.method = "GET", .scheme = "http", .authority = "a:1", .path = "/",
                     .headers = hdrs, .nheaders = 1};
    memset(streams, 0, sizeof streams);
    streams[2].body = "body";
    streams[2].body_len = 4;
    for (int i = 0; i < 3; i++)
        h2_submit(s, &rq, &streams[i]);
    buf out = {0};
    h2_flush(s, &out, 1u << 20);
    if (h2_feed(s, d, split) == 0)
        h2_feed(s, d + split, n - split);
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
