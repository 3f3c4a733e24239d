/* test_reqparse: server/reqparse from a table of raw requests. Each is fed
 * whole, split in two at every byte boundary, and one byte at a time, the way
 * server.c feeds it (heads re-parsed from the buffered prefix, bodies
 * streamed); every feeding must give the same requests and the same error. */
#include "server/reqparse.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define MAX_REQS 4
#define MAX_HEAD 16384
#define MAX_BODY 1024

typedef struct got_req {
    char method[16];
    char target[64];
    int minor;
    bool keepalive;
    char body[128];
} got_req;

typedef struct result {
    int nreqs;
    got_req reqs[MAX_REQS];
    int error;        /* 0, or the REQPARSE_E* that ended the stream */
    size_t leftover;  /* bytes buffered but not yet a complete request */
} result;

typedef struct feeder {
    buf in;          /* unconsumed input, as a connection buffers it */
    bool in_body;
    reqparse_body bp;
    buf body;
    got_req cur;
    result *res;
} feeder;

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void finish_req(feeder *f)
{
    copy_str(f->cur.body, sizeof f->cur.body, f->body.data ? f->body.data : "", f->body.len);
    if (f->res->nreqs < MAX_REQS)
        f->res->reqs[f->res->nreqs] = f->cur;
    f->res->nreqs++;
    buf_reset(&f->body);
    f->in_body = false;
}

/* Appends bytes and runs every complete request, like server.c's process. */
static void feed(feeder *f, const char *p, size_t n)
{
    if (f->res->error)
        return;
    cr_assert_eq(buf_append(&f->in, p, n), 0);
    for (;;) {
        size_t avail = buf_unread(&f->in);
        if (!avail)
            return;
        if (!f->in_body) {
            reqparse_req r;
            int rc = reqparse_head(buf_rpos(&f->in), avail, MAX_HEAD, &r);
            if (rc == REQPARSE_NEED_MORE)
                return;
            if (rc < 0) {
                cr_assert_not_null(r.error, "errors carry a reason");
                f->res->error = rc;
                return;
            }
            cr_assert_eq(rc, REQPARSE_DONE);
            memset(&f->cur, 0, sizeof f->cur);
            copy_str(f->cur.method, sizeof f->cur.method, r.method, r.method_len);
            copy_str(f->cur.target, sizeof f->cur.target, r.target, r.target_len);
            f->cur.minor = r.minor_version;
            f->cur.keepalive = r.keepalive;
            buf_consume(&f->in, r.head_len);
            rc = reqparse_body_init(&f->bp, &r, MAX_BODY);
            if (rc < 0) {
                f->res->error = rc;
                return;
            }
            if (rc == REQPARSE_DONE)
                finish_req(f);
            else
                f->in_body = true;
            continue;
        }
        size_t used = 0;
        int rc = reqparse_body_feed(&f->bp, buf_rpos(&f->in), avail, &used, &f->body);
        buf_consume(&f->in, used);
        if (rc < 0) {
            cr_assert_not_null(f->bp.error);
            f->res->error = rc;
            return;
        }
        if (rc == REQPARSE_NEED_MORE) {
            cr_assert_eq(used, avail, "need-more consumes everything");
            return;
        }
        finish_req(f);
    }
}

/* Feeds raw in pieces: split = 0 whole, split = k two pieces at k,
 * split = SIZE_MAX one byte at a time. */
static void run(const char *raw, size_t len, size_t split, result *res)
{
    memset(res, 0, sizeof *res);
    feeder f = {.res = res};
    if (split == SIZE_MAX) {
        for (size_t i = 0; i < len; i++)
            feed(&f, raw + i, 1);
    } else if (split == 0) {
        feed(&f, raw, len);
    } else {
        feed(&f, raw, split);
        feed(&f, raw + split, len - split);
    }
    res->leftover = res->error ? 0 : buf_unread(&f.in) + (f.in_body ? 1 : 0);
    buf_free(&f.in);
    buf_free(&f.body);
}

static void assert_same(const result *a, const result *b, const char *name, size_t split)
{
    cr_assert_eq(a->error, b->error, "%s split %zu: error %d vs %d", name, split, a->error,
                 b->error);
    cr_assert_eq(a->nreqs, b->nreqs, "%s split %zu: %d vs %d requests", name, split, a->nreqs,
                 b->nreqs);
    cr_assert_eq(a->leftover, b->leftover, "%s split %zu: leftover", name, split);
    for (int i = 0; i < a->nreqs && i < MAX_REQS; i++)
        cr_assert_eq(memcmp(&a->reqs[i], &b->reqs[i], sizeof a->reqs[i]), 0,
                     "%s split %zu: request %d differs", name, split, i);
}

/* The expected first (and second) request of a case. */
typedef struct expect {
    const char *method, *target;
    int minor;
    bool keepalive;
    const char *body;
} expect;

typedef struct tcase {
    const char *name;
    const char *raw;   /* NULL: built by the test (oversize) */
    int error;
    int nreqs;
    expect req[2];
} tcase;

static const tcase cases[] = {
    {"get", "GET /health HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n", 0, 1,
     {{"GET", "/health", 1, true, ""}}},
    {"post_content_length",
     "POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", 0, 1,
     {{"POST", "/echo?x=1", 1, true, "hello world"}}},
    {"chunked_ext_trailers",
     "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;name=val\r\nhello\r\n6 ; a=\"b\"\r\n world\r\nA\r\n0123456789\r\n"
     "0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n",
     0, 1, {{"POST", "/echo", 1, true, "hello world0123456789"}}},
    {"pipelined_two",
     "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n"
     "Connection: close\r\n\r\nabc",
     0, 2, {{"GET", "/a", 1, true, ""}, {"POST", "/b", 1, false, "abc"}}},
    {"pipelined_chunked_then_get",
     "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
     "GET /d HTTP/1.1\r\n\r\n",
     0, 2, {{"POST", "/c", 1, true, "xyz"}, {"GET", "/d", 1, true, ""}}},
    {"http10", "GET /x HTTP/1.0\r\nHost: a\r\n\r\n", 0, 1, {{"GET", "/x", 0, false, ""}}},
    {"http10_keepalive", "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, 1,
     {{"GET", "/x", 0, true, ""}}},
    {"connection_close", "GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", 0, 1,
     {{"GET", "/", 1, false, ""}}},
    {"bare_lf_and_leading_crlf", "\r\nGET /lf HTTP/1.1\nHost: a\n\n", 0, 1,
     {{"GET", "/lf", 1, true, ""}}},
    {"bad_request_line", "GARBAGE\r\n\r\n", REQPARSE_EPARSE, 0, {{0}}},
    {"bad_request_line_two_spaces", "GET  / HTTP/1.1\r\n\r\n", REQPARSE_EPARSE, 0, {{0}}},
    {"header_without_colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", REQPARSE_EPARSE, 0, {{0}}},
    {"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", REQPARSE_EPARSE, 0, {{0}}},
    {"folded_header", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", REQPARSE_EPARSE, 0, {{0}}},
    {"bad_chunk_size",
     "POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
     REQPARSE_EPARSE, 0, {{0}}},
    {"chunk_missing_crlf",
     "POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX0\r\n\r\n", REQPARSE_EPARSE,
     0, {{0}}},
    {"cl_and_te",
     "POST /e HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     REQPARSE_EPARSE, 0, {{0}}},
    {"bad_content_length", "POST /e HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", REQPARSE_EPARSE,
     0, {{0}}},
    {"body_too_big", "POST /e HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
     REQPARSE_EBODY_TOO_BIG, 0, {{0}}},
    {"chunked_too_big",
     "POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n", REQPARSE_EBODY_TOO_BIG,
     0, {{0}}},
    {"gzip_te", "POST /e HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", REQPARSE_ETE, 0, {{0}}},
    {"http2_version", "GET / HTTP/2.0\r\n\r\n", REQPARSE_EVERSION, 0, {{0}}},
    {"get_then_garbage", "GET /ok HTTP/1.1\r\n\r\n\x01\x02 junk\r\n\r\n", REQPARSE_EPARSE, 1,
     {{"GET", "/ok", 1, true, ""}}},
    {"oversize_headers", NULL, REQPARSE_EHEAD_TOO_BIG, 0, {{0}}},
};

/* 20 KiB of headers: over the 16 KiB limit. */
static char *oversize(size_t *len)
{
    static char big[24000];
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    while (n < 20480)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-Filler-%05zu: %s\r\n", n,
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    *len = n;
    return big;
}

static void check_expected(const tcase *tc, const result *r)
{
    cr_assert_eq(r->error, tc->error, "%s: error %d, expected %d", tc->name, r->error,
                 tc->error);
    cr_assert_eq(r->nreqs, tc->nreqs, "%s: %d requests, expected %d", tc->name, r->nreqs,
                 tc->nreqs);
    for (int i = 0; i < tc->nreqs && i < 2; i++) {
        const expect *x = &tc->req[i];
        cr_assert_str_eq(r->reqs[i].method, x->method, "%s", tc->name);
        cr_assert_str_eq(r->reqs[i].target, x->target, "%s", tc->name);
        cr_assert_eq(r->reqs[i].minor, x->minor, "%s", tc->name);
        cr_assert_eq(r->reqs[i].keepalive, x->keepalive, "%s: keepalive", tc->name);
        cr_assert_str_eq(r->reqs[i].body, x->body, "%s", tc->name);
    }
    if (!tc->error)
        cr_assert_eq(r->leftover, 0, "%s: bytes left over", tc->name);
}

Test(reqparse, table_whole_and_split_at_every_byte)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tcase *tc = &cases[i];
        size_t len;
        const char *raw = tc->raw ? tc->raw : oversize(&len);
        if (tc->raw)
            len = strlen(raw);
        result whole, r;
        run(raw, len, 0, &whole);
        check_expected(tc, &whole);
        for (size_t k = 1; k < len; k++) {
            run(raw, len, k, &r);
            assert_same(&whole, &r, tc->name, k);
        }
        run(raw, len, SIZE_MAX, &r);
        assert_same(&whole, &r, tc->name, SIZE_MAX);
    }
}

Test(reqparse, head_fields_point_into_input)
{
    const char *raw = "GET /path?q=1 HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n";
    reqparse_req r;
    cr_assert_eq(reqparse_head(raw, strlen(raw), MAX_HEAD, &r), REQPARSE_DONE);
    cr_assert_eq(r.target, raw + 4);
    cr_assert_eq(r.path_len, 5);
    cr_assert_eq(r.head_len, strlen(raw));
    cr_assert(r.has_length);
    cr_assert(r.expect_continue);
}

Test(reqparse, incomplete_head_is_need_more_until_limit)
{
    const char *raw = "GET / HTTP/1.1\r\nHost: a\r\n";
    reqparse_req r;
    cr_assert_eq(reqparse_head(raw, strlen(raw), MAX_HEAD, &r), REQPARSE_NEED_MORE);
    cr_assert_eq(reqparse_head(raw, strlen(raw), 10, &r), REQPARSE_EHEAD_TOO_BIG);
}

Test(reqparse, status_of_errors)
{
    cr_assert_eq(reqparse_status(REQPARSE_EPARSE), 400);
    cr_assert_eq(reqparse_status(REQPARSE_EHEAD_TOO_BIG), 431);
    cr_assert_eq(reqparse_status(REQPARSE_EBODY_TOO_BIG), 413);
    cr_assert_eq(reqparse_status(REQPARSE_EVERSION), 505);
    cr_assert_eq(reqparse_status(REQPARSE_ETE), 501);
}

Test(reqparse, body_decoder_drops_bytes_without_output)
{
    const char *raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    reqparse_req r;
    cr_assert_eq(reqparse_head(raw, strlen(raw), MAX_HEAD, &r), REQPARSE_DONE);
    reqparse_body b;
    cr_assert_eq(reqparse_body_init(&b, &r, 100), REQPARSE_NEED_MORE);
    const char *body = "4\r\nabcd\r\n0\r\n\r\nNEXT";
    size_t used;
    cr_assert_eq(reqparse_body_feed(&b, body, strlen(body), &used, NULL), REQPARSE_DONE);
    cr_assert_eq(used, strlen(body) - 4, "stops at the end of the body");
}
