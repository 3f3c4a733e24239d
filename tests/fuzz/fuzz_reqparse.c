/* libFuzzer target for server/reqparse, the request parser of `volley serve`
 * (which faces whatever a client sends). The first input byte picks the head
 * and body limits and a split step; the rest is one connection's bytes:
 * heads and bodies back to back, as keep-alive pipelining feeds them. Checks
 * the parser's promises besides crashes: results point inside the input, a
 * prefix of a complete head is "need more", and any split of a body decodes
 * to the same bytes and the same result as the whole. */
#include "core/buf.h"
#include "server/reqparse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static bool inside(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void check_head(const char *d, size_t len, size_t max_head, const reqparse_req *r, int rc)
{
    if (rc < 0) {
        check(r->error != NULL);
        int st = reqparse_status(rc);
        check(st >= 400 && st <= 505);
        return;
    }
    if (rc != REQPARSE_DONE)
        return;
    check(r->head_len > 0 && r->head_len <= len && r->head_len <= max_head);
    check(inside(r->method, r->method_len, d, r->head_len));
    check(inside(r->target, r->target_len, d, r->head_len));
    check(r->method_len > 0 && r->target_len > 0 && r->path_len <= r->target_len);
    check(r->minor_version == 0 || r->minor_version == 1);
    check(!(r->chunked && r->has_length));
    /* The server re-parses the growing prefix: every shorter prefix must
     * wait for more, and the exact head must give the same answer. */
    reqparse_req r2;
    check(reqparse_head(d, r->head_len - 1, max_head, &r2) == REQPARSE_NEED_MORE);
    check(reqparse_head(d, r->head_len / 2, max_head, &r2) == REQPARSE_NEED_MORE);
    check(reqparse_head(d, r->head_len, max_head, &r2) == REQPARSE_DONE);
    check(r2.head_len == r->head_len && r2.keepalive == r->keepalive &&
          r2.content_length == r->content_length && r2.chunked == r->chunked);
}

typedef struct body_out {
    int rc;
    size_t consumed;
    uint64_t total;
    buf bytes;
} body_out;

/* Decodes the body at d[0..len) in pieces of at most step bytes. */
static void feed_body(const reqparse_req *r, uint64_t max_body, const char *d, size_t len,
                      size_t step, body_out *o)
{
    reqparse_body b;
    memset(o, 0, sizeof *o);
    o->rc = reqparse_body_init(&b, r, max_body);
    if (o->rc != REQPARSE_NEED_MORE)
        return;
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < step ? len - off : step, used = 0;
        o->rc = reqparse_body_feed(&b, d + off, n, &used, &o->bytes);
        check(used <= n);
        off += used;
        if (o->rc != REQPARSE_NEED_MORE)
            break;
        check(used == n);
    }
    o->consumed = off;
    o->total = b.total;
    check(b.total <= max_body);
    check(o->bytes.len == b.total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *d = (const char *)data + 1;
    size_t len = size - 1;
    size_t max_head = (mode & 1) ? 64 : 16 * 1024;
    uint64_t max_body = (mode & 2) ? 100 : 1u << 20;
    size_t step = 1 + ((mode >> 2) & 15);

    size_t off = 0;
    for (int reqs = 0; reqs < 64 && off < len; reqs++) {
        reqparse_req r;
        int rc = reqparse_head(d + off, len - off, max_head, &r);
        check(rc >= REQPARSE_ENOMEM && rc <= REQPARSE_DONE);
        check_head(d + off, len - off, max_head, &r, rc);
        if (rc != REQPARSE_DONE)
            break;
        off += r.head_len;
        body_out whole, split;
        feed_body(&r, max_body, d + off, len - off, SIZE_MAX, &whole);
        feed_body(&r, max_body, d + off, len - off, step, &split);
        check(whole.rc == split.rc);
        check(whole.total == split.total);
        check(whole.bytes.len == split.bytes.len);
        check(whole.bytes.len == 0 || memcmp(whole.bytes.data, split.bytes.data,
                                             whole.bytes.len) == 0);
        /* An error is found at the same byte however the input was split. */
        check(whole.consumed == split.consumed);
        buf_free(&whole.bytes);
        buf_free(&split.bytes);
        if (whole.rc != REQPARSE_DONE)
            break;
        off += whole.consumed;
    }
    return 0;
}
