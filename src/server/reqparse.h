/* reqparse: the server side of HTTP/1.1 for `volley serve` (server.c).
 * - reqparse_head parses a request line and headers in place, like
 *   picohttpparser: it is called again with the whole buffered prefix until
 *   the head is complete, keeps no state and allocates nothing; the results
 *   point into the caller's bytes.
 * - reqparse_body is a streaming decoder for the body that follows
 *   (Content-Length or chunked with extensions and trailers), fed with any
 *   split of the input; decoded bytes are appended to a buf or dropped. */
#ifndef VOLLEY_REQPARSE_H
#define VOLLEY_REQPARSE_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results. Errors are negative; reqparse_status maps them to a status. */
enum {
    REQPARSE_NEED_MORE = 0,       /* incomplete: call again with more bytes */
    REQPARSE_DONE = 1,            /* head (or body) complete */
    REQPARSE_EPARSE = -1,         /* malformed: 400 */
    REQPARSE_EHEAD_TOO_BIG = -2,  /* request line + headers (or trailers) too big: 431 */
    REQPARSE_EBODY_TOO_BIG = -3,  /* body over the limit: 413 */
    REQPARSE_EVERSION = -4,       /* not HTTP/1.x: 505 */
    REQPARSE_ETE = -5,            /* a transfer-coding other than chunked: 501 */
    REQPARSE_ENOMEM = -6,         /* the output buf could not grow: 500 */
};

/* A parsed request head; pointers are into the bytes given to reqparse_head. */
typedef struct reqparse_req {
    const char *method;
    size_t method_len;
    const char *target;      /* origin-form "/path?query" (or "*") */
    size_t target_len;
    size_t path_len;         /* length of target before '?' */
    int minor_version;       /* 0 or 1 */
    bool keepalive;          /* the connection may be reused after the response */
    bool chunked;            /* Transfer-Encoding: chunked */
    bool has_length;         /* Content-Length present */
    bool expect_continue;    /* Expect: 100-continue */
    uint64_t content_length;
    size_t head_len;         /* bytes of the head, including the blank line */
    const char *error;       /* on an error: a short reason for the response */
} reqparse_req;

/* Parses the head at the start of data[0..len). Returns REQPARSE_DONE (with
 * r->head_len set), REQPARSE_NEED_MORE, or an error with r->error set. A
 * head not complete within max_head bytes is REQPARSE_EHEAD_TOO_BIG.
 * Blank lines before the request line are skipped (RFC 9112 2.2). */
int reqparse_head(const char *data, size_t len, size_t max_head, reqparse_req *r);

/* Body decoder state (fields are private). */
typedef struct reqparse_body {
    int state;
    bool chunked;
    uint64_t remaining;   /* bytes left in the body (fixed) or chunk */
    uint64_t total;       /* decoded bytes so far */
    uint64_t max_bytes;
    uint32_t line_bytes;  /* size line / trailer bytes, bounded */
    uint32_t digits;
    const char *error;    /* on an error: a short reason */
} reqparse_body;

/* Starts decoding the body of r. Returns REQPARSE_DONE when there is no body,
 * REQPARSE_NEED_MORE when one follows, REQPARSE_EBODY_TOO_BIG when its
 * Content-Length is over max_bytes. */
int reqparse_body_init(reqparse_body *b, const reqparse_req *r, uint64_t max_bytes);

/* Feeds len bytes. Sets *consumed; decoded bytes are appended to out (NULL:
 * dropped). Returns REQPARSE_DONE (bytes after *consumed belong to the next
 * request), REQPARSE_NEED_MORE (all consumed), or an error with b->error set
 * (REQPARSE_ENOMEM when out cannot grow). */
int reqparse_body_feed(reqparse_body *b, const char *in, size_t len, size_t *consumed, buf *out);

/* The response status for an error result (400, 413, 431, 500, 501, 505). */
int reqparse_status(int rc);

#endif
