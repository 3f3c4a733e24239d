/* libFuzzer target for proto/http1's response parser. The first input byte
 * picks HEAD, callbacks and a header cap; the rest is one connection's bytes.
 * Besides crashes it checks the parser's promise that any split of the
 * bytes gives the same result: whole buffer vs pieces of 1..16 bytes. */
#include "proto/http1.h"

#include <stdlib.h>
#include <string.h>

typedef struct outcome {
    int rc;
    size_t consumed;
    http1_resp p;
    uint64_t body_seen;
    uint64_t headers_seen;
} outcome;

static void on_header(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    outcome *o = ctx;
    /* Touch every byte so ASan sees any read outside the line buffer. */
    volatile char sink = 0;
    for (size_t i = 0; i < nlen; i++)
        sink ^= name[i];
    for (size_t i = 0; i < vlen; i++)
        sink ^= value[i];
    (void)sink;
    o->headers_seen++;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    outcome *o = ctx;
    volatile char sink = data[0] ^ data[len - 1];
    (void)sink;
    o->body_seen += len;
}

/* Parses responses back to back (as a keep-alive connection would) until
 * the input ends or one fails, feeding pieces of at most step bytes. */
static void run(const char *data, size_t size, unsigned mode, size_t step, outcome *o)
{
    char line[64];
    http1_callbacks cb = {.on_header = on_header, .on_body = on_body, .ctx = o,
                          .line_buf = line, .line_cap = sizeof line};
    memset(o, 0, sizeof *o);
    size_t off = 0;
    int rc = HTTP1_DONE;
    while (rc == HTTP1_DONE && off < size) {
        http1_resp_begin(&o->p, mode & 1, (mode & 2) ? &cb : NULL);
        o->body_seen = 0;
        if (mode & 4)
            o->p.max_header_bytes = 16 + (mode >> 3) * 8;
        rc = HTTP1_NEED_MORE;
        while (rc == HTTP1_NEED_MORE && off < size) {
            size_t n = size - off < step ? size - off : step;
            size_t used = 0;
            rc = http1_resp_parse(&o->p, data + off, n, &used);
            if (used > n || (rc == HTTP1_NEED_MORE && used != n))
                abort();
            off += used;
        }
        if ((mode & 2) && o->body_seen != o->p.body_bytes)
            abort(); /* on_body must see exactly the counted bytes */
    }
    if (rc == HTTP1_NEED_MORE)
        rc = http1_resp_eof(&o->p);
    o->rc = rc;
    o->consumed = off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0];
    size_t step = 1 + (data[1] & 15);
    const char *raw = (const char *)data + 2;
    size -= 2;
    outcome a, b;
    run(raw, size, mode, size ? size : 1, &a);
    run(raw, size, mode, step, &b);
    if (a.rc != b.rc || a.consumed != b.consumed || a.p.status != b.p.status ||
        a.p.keep_alive != b.p.keep_alive || a.p.body_bytes != b.p.body_bytes ||
        a.p.chunks != b.p.chunks || a.p.header_bytes != b.p.header_bytes ||
        a.body_seen != b.body_seen || a.headers_seen != b.headers_seen ||
        (a.rc < 0 && a.p.err_offset != b.p.err_offset))
        abort(); /* the result depends on how the bytes were split */
    return 0;
}
