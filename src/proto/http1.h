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
    bool head_only;          /* write the head (Content-Length: body_len) but not
                                the body: the caller places it after the head */
    bool keepalive;          /* false: send "Connection: close" */
} http1_request_spec;

/* Appends the encoded request to out:
 *   METHOD PATH HTTP/1.1, Host, the user headers in order, User-Agent
 *   (volley/0.1), Content-Length (when there is a body, and 0 for POST, PUT
 *   and PATCH without one), Connection: close (when !keepalive), the body.
 * A user header named like one of ours (any case) replaces ours. Rejects,
 * with VOLLEY_EINVAL and a message naming the method, path, host or header:
 * a method or header name that is not a token (RFC 9110 tchar), a path with
 * a space or control byte, a value with CR, LF or another control byte
 * (HTAB is allowed), no Host at all. On error out is left unchanged. */
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
 * HTTP1_ETOOBIG only when on_header is set. line_buf holds the name and the
 * raw value including its CR (not the colon), so a line "N: v\r\n" needs
 * 1 + 3 bytes. on_header gets the value without surrounding whitespace; it
 * is called for the final response's headers and for chunked trailers
 * (after on_headers_done), never for 1xx responses. on_chunk is called for
 * every chunk-size line, the last one (size 0) included. */
typedef void (*http1_header_fn)(void *ctx, const char *name, size_t nlen, const char *value,
                                size_t vlen);

/* on_head_raw, instead of on_header: the bytes of every head (status line
 * and header lines, 1xx ones included) and of the trailers, as they are
 * consumed; http1_head_split makes the header lines on_header would have
 * had from them (their concatenation, after HTTP1_DONE), when they are
 * wanted. The same line_cap limit applies; line_buf is not written. */
typedef struct http1_callbacks {
    http1_header_fn on_header;
    void (*on_headers_done)(void *ctx, int status);
    void (*on_body)(void *ctx, const char *data, size_t len); /* decoded body bytes */
    void (*on_chunk)(void *ctx, uint64_t size);                /* each chunk header */
    void *ctx;
    char *line_buf;
    size_t line_cap;
    void (*on_head_raw)(void *ctx, const char *data, size_t len);
} http1_callbacks;

typedef struct http1_resp {
    /* set by http1_resp_begin */
    uint64_t max_header_bytes; /* default 64 KiB; may be changed after begin.
                                  Caps header_bytes, and the trailers apart */
    const http1_callbacks *cb;
    /* results, valid once headers are done (status) or at HTTP1_DONE */
    int status;          /* final status (1xx are skipped); 100..999 */
    int minor_version;   /* 0 or 1 (HTTP/1.2..1.9 count as 1) */
    uint64_t content_length; /* as sent, also for HEAD / 204 / 304 */
    uint64_t header_bytes; /* bytes of status line + headers (incl. 1xx), so
                              0 at EOF means the peer sent nothing */
    uint64_t body_bytes;   /* decoded body bytes so far */
    uint64_t chunks;       /* data chunks seen (the last, empty one not counted) */
    uint64_t err_offset;   /* offset in this response of the offending byte;
                              the same however the input was split */
    bool head_request;   /* set by http1_resp_begin */
    bool keep_alive;     /* the connection may be reused after this response:
                            1.1 unless Connection: close, 1.0 only with
                            keep-alive; false after 101, for a close-delimited
                            body, or with both Transfer-Encoding and
                            Content-Length (framing not to be trusted) */
    bool chunked;        /* Transfer-Encoding with chunked as the last coding */
    bool has_length;     /* Content-Length given (and no Transfer-Encoding) */
    bool close_delimited;/* body ends at EOF (call http1_resp_eof) */
    bool headers_done;
    bool set_cookie;     /* the final response (or its trailers) has a
                            Set-Cookie line; detected only with capture
                            (on_header or on_head_raw) */
    /* parser state (private; the whole struct is 152 bytes on LP64, fields
     * grouped by size: one is held per request slot, 10,000 for 10,000
     * idle connections) */
    uint8_t cand;          /* known header names still matching the name so far */
    int state;
    int hdr;               /* which known header's value is being read */
    int error;             /* sticky error code once state is the error state */
    uint16_t flags;        /* what the headers said so far; capture/trailer mode */
    uint8_t vstate;        /* inside a known value: before / in / after a token */
    char word[12];         /* current Connection / Transfer-Encoding token, lowercased */
    uint32_t tok;          /* bytes in word (0xff: fits no token we look for) */
    uint32_t match;        /* bytes matched of "HTTP/1.", status digits, header name */
    uint32_t line_len;     /* bytes captured in cb->line_buf; chunk-size line length */
    uint32_t name_len;     /* captured header name length */
    uint64_t num;          /* Content-Length or chunk size being read */
    uint64_t remaining;    /* body or chunk-data bytes still to come */
    uint64_t consumed_total; /* bytes of this response consumed by earlier calls */
    uint64_t trailer_bytes;  /* chunked trailers, capped by max_header_bytes too */
} http1_resp;

/* Resets p for a new response. head_request: the request was HEAD. cb may be NULL. */
void http1_resp_begin(http1_resp *p, bool head_request, const http1_callbacks *cb);

/* Feeds len bytes. Returns HTTP1_NEED_MORE (all consumed), HTTP1_DONE (*consumed
 * bytes belong to this response; the rest to the next one) or an error
 * (*consumed: the bytes before the offending one). Errors stick, and after
 * HTTP1_DONE further calls return HTTP1_DONE with *consumed = 0, until the
 * next http1_resp_begin. */
int http1_resp_parse(http1_resp *p, const char *data, size_t len, size_t *consumed);

/* The peer closed the connection. Returns HTTP1_DONE if that completes a
 * close-delimited body (or the response was already done), HTTP1_ECLOSED
 * otherwise. */
int http1_resp_eof(http1_resp *p);

/* Calls fn for each header line of raw (the on_head_raw bytes of one
 * response that parsed to HTTP1_DONE): the final response's headers, then
 * its trailers, never a 1xx response's; names as sent, values without
 * surrounding whitespace, an obs-fold joined with one SP; exactly what
 * on_header gets. A value longer than the line cap was refused by the
 * parser already. */
void http1_head_split(const char *raw, size_t len, http1_header_fn fn, void *ctx);

/* A short description of an error code ("malformed response", ...). */
const char *http1_strerror(int code);

#endif
