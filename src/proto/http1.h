/* http1: the client side of HTTP/1.1 for the load engine.
 * - Request encoding: a request is compiled once to bytes before the run
 *   (http1_request_build) and written as is for every iteration.
 * - Response parsing: an incremental, allocation-free state machine fed with
 *   whatever bytes arrived (any split), like picohttpparser but streaming:
 *   header lines are never buffered unless the caller asks for them.
 *   Handles Content-Length, chunked (with chunk extensions and trailers),
 *   close-delimited bodies, 1xx interim responses (skipped), responses to
 *   HEAD and 204/304 (no body), and Connection: close / HTTP/1.0. */
#ifndef VOLLEY_HTTP1_H
#define VOLLEY_HTTP1_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- requests ---- */

typedef struct http1_header {
    const char *name;
    const char *value;
} http1_header;

typedef struct http1_request_spec {
    const char *method;      /* "GET" */
    const char *host;        /* Host header value, e.g. "127.0.0.1:8080" */
    const char *path;        /* "/x?y=1" (origin-form) */
    const http1_header *headers; /* user headers; a user Host / Connection /
                                    Content-Length / User-Agent replaces ours */
    size_t nheaders;
    const char *body;        /* may be NULL */
    size_t body_len;
    bool keepalive;          /* false: send "Connection: close" */
} http1_request_spec;

/* Appends the encoded request to out. Rejects a method or header containing
 * CR/LF or a header name that is not a token, with a message naming it. */
int http1_request_build(const http1_request_spec *spec, buf *out, err *e);

/* ---- responses ---- */

/* Result of http1_resp_parse. Errors are negative. */
enum {
    HTTP1_NEED_MORE = 0,  /* all input consumed, response not complete */
    HTTP1_DONE = 1,       /* response complete; *consumed tells where it ended */
    HTTP1_EPARSE = -1,    /* malformed status line, header or chunk framing */
    HTTP1_ETOOBIG = -2,   /* headers exceed max_header_bytes */
    HTTP1_ECLOSED = -3,   /* (from http1_resp_eof) closed before complete */
};

/* Optional callbacks; any may be NULL. on_header needs capture: each header
 * line is accumulated in line_buf (line_cap bytes, owned by the caller, so a
 * connection that does not capture pays nothing); a longer line is
 * HTTP1_ETOOBIG only when on_header is set. */
typedef struct http1_callbacks {
    void (*on_header)(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen);
    void (*on_headers_done)(void *ctx, int status);
    void (*on_body)(void *ctx, const char *data, size_t len); /* decoded body bytes */
    void (*on_chunk)(void *ctx, uint64_t size);                /* each chunk header */
    void *ctx;
    char *line_buf;
    size_t line_cap;
} http1_callbacks;

typedef struct http1_resp {
    /* set by http1_resp_begin */
    bool head_request;
    uint64_t max_header_bytes; /* default 64 KiB */
    const http1_callbacks *cb;
    /* results, valid once headers are done (status) or at HTTP1_DONE */
    int status;          /* final status (1xx are skipped) */
    int minor_version;   /* 0 or 1 */
    bool keep_alive;     /* the connection may be reused after this response */
    bool chunked;
    bool has_length;
    bool close_delimited;/* body ends at EOF (call http1_resp_eof) */
    bool headers_done;
    uint64_t content_length;
    uint64_t header_bytes; /* bytes of status line + headers (incl. 1xx) */
    uint64_t body_bytes;   /* decoded body bytes so far */
    uint64_t chunks;       /* chunks seen (chunked bodies) */
    uint64_t err_offset;   /* byte offset in this response where an error was found */
    /* parser state (private) */
    int state;
    uint64_t remaining;
    uint64_t consumed_total;
    uint32_t line_len;
    uint32_t tok;          /* small scratch counters */
    uint64_t num;
    int hdr;               /* which known header is being read */
    uint32_t match;        /* match position in a known header name/value */
} http1_resp;

/* Resets p for a new response. head_request: the request was HEAD. cb may be NULL. */
void http1_resp_begin(http1_resp *p, bool head_request, const http1_callbacks *cb);

/* Feeds len bytes. Returns HTTP1_NEED_MORE (all consumed), HTTP1_DONE (*consumed
 * bytes belong to this response; the rest to the next one) or an error. */
int http1_resp_parse(http1_resp *p, const char *data, size_t len, size_t *consumed);

/* The peer closed the connection. Returns HTTP1_DONE if that completes a
 * close-delimited body, HTTP1_ECLOSED otherwise. */
int http1_resp_eof(http1_resp *p);

/* A short description of an error code ("malformed response", ...). */
const char *http1_strerror(int code);

#endif
