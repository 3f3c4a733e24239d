/* http1: request encoding and the incremental response parser (see http1.h).
 * The parser is a switch over named states fed any split of the bytes; it
 * scans lines with memchr and skips body bytes in bulk, so the per-byte work
 * is limited to header names and the three values it reads. Used by
 * load/worker (one http1_resp per connection); tests/fuzz checks the splits. */
#include "proto/http1.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- byte classes ---- */

/* RFC 9110 tchar; a table because header names are scanned byte by byte. */
static const bool tchar[256] = {
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
    ['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true,
    ['\''] = true, ['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true,
    ['^'] = true, ['_'] = true, ['`'] = true, ['|'] = true, ['~'] = true,
};

static inline bool is_tchar(unsigned char c)
{
    return tchar[c];
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---- requests ---- */

#define USER_AGENT "volley/0.1"

/* Copies s into out (cap bytes) with control bytes escaped, so an error
 * message naming a header with CR/LF in it stays one readable line. */
static const char *quote(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* A field value may hold any visible byte, SP and HTAB, but no other
 * control byte: CR or LF would let a value inject headers. */
static bool is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* The request target goes between two spaces, so SP is refused too. */
static bool is_request_target(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool user_has(const http1_request_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->nheaders; i++)
        if (strcasecmp(spec->headers[i].name, name) == 0)
            return true;
    return false;
}

static int validate_request(const http1_request_spec *spec, err *e)
{
    char q[128];
    if (!spec->method || !is_token(spec->method))
        return err_set(e, VOLLEY_EINVAL, "request method \"%s\": not a token",
                       spec->method ? quote(spec->method, q, sizeof q) : "");
    if (!spec->path || !is_request_target(spec->path))
        return err_set(e, VOLLEY_EINVAL,
                       "request path \"%s\": empty or contains a space or control byte",
                       spec->path ? quote(spec->path, q, sizeof q) : "");
    if ((!spec->host || !spec->host[0]) && !user_has(spec, "Host"))
        return err_set(e, VOLLEY_EINVAL, "request: no Host given");
    if (spec->host && !is_field_value(spec->host))
        return err_set(e, VOLLEY_EINVAL, "request host \"%s\": contains CR, LF or a control byte",
                       quote(spec->host, q, sizeof q));
    if (spec->body_len && !spec->body)
        return err_set(e, VOLLEY_EINVAL, "request: body_len %zu with no body", spec->body_len);
    for (size_t i = 0; i < spec->nheaders; i++) {
        const http1_header *h = &spec->headers[i];
        if (!h->name || !is_token(h->name))
            return err_set(e, VOLLEY_EINVAL, "request header \"%s\": name is not a token",
                           h->name ? quote(h->name, q, sizeof q) : "");
        if (!h->value || !is_field_value(h->value))
            return err_set(e, VOLLEY_EINVAL,
                           "request header \"%s\": value contains CR, LF or a control byte",
                           h->name);
    }
    return 0;
}

/* Methods whose requests are expected to carry content (RFC 9110 8.6). */
static bool method_wants_length(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static int write_request(const http1_request_spec *spec, buf *out)
{
    int rc = buf_printf(out, "%s %s HTTP/1.1\r\n", spec->method, spec->path);
    if (!rc && !user_has(spec, "Host"))
        rc = buf_printf(out, "Host: %s\r\n", spec->host);
    for (size_t i = 0; !rc && i < spec->nheaders; i++)
        rc = buf_printf(out, "%s: %s\r\n", spec->headers[i].name, spec->headers[i].value);
    if (!rc && !user_has(spec, "User-Agent"))
        rc = buf_printf(out, "User-Agent: " USER_AGENT "\r\n");
    if (!rc && (spec->body_len || method_wants_length(spec->method)) &&
        !user_has(spec, "Content-Length"))
        rc = buf_printf(out, "Content-Length: %zu\r\n", spec->body_len);
    if (!rc && !spec->keepalive && !user_has(spec, "Connection"))
        rc = buf_printf(out, "Connection: close\r\n");
    if (!rc)
        rc = buf_append(out, "\r\n", 2);
    if (!rc && !spec->head_only)
        rc = buf_append(out, spec->body, spec->body_len);
    return rc;
}

int http1_request_build(const http1_request_spec *spec, buf *out, err *e)
{
    int rc = validate_request(spec, e);
    if (rc)
        return rc;
    size_t mark = out->len;
    if (write_request(spec, out)) {
        out->len = mark; /* leave out as it was: no half request */
        return err_set(e, VOLLEY_ENOMEM, "request: out of memory");
    }
    return 0;
}

/* ---- response parser: states and flags ---- */

enum {
    /* status line and header lines (also trailers): bytes capped by max_header_bytes */
    ST_VERSION,    /* "HTTP/1." */
    ST_MINOR,      /* the minor version digit */
    ST_SP,         /* the space before the status code */
    ST_CODE,       /* three digits */
    ST_AFTER_CODE, /* SP reason, or the line end */
    ST_STATUS_LF,  /* LF after the status line's CR */
    ST_REASON,     /* reason phrase up to LF */
    ST_LINE_START, /* a header name, or the empty line */
    ST_NAME,       /* header name up to ':' */
    ST_VALUE,      /* header value up to LF */
    ST_VALUE_NL,   /* after a value's LF: SP/HT continues it (obs-fold) */
    ST_END_LF,     /* LF of the empty line */
    /* body */
    ST_BODY_LEN,   /* Content-Length bytes */
    ST_BODY_EOF,   /* everything until the peer closes */
    ST_SIZE_START, /* first hex digit of a chunk size */
    ST_SIZE,       /* more hex digits */
    ST_SIZE_TAIL,  /* BWS, ';' or the line end after the size */
    ST_EXT,        /* chunk extensions, ignored, up to LF */
    ST_SIZE_LF,    /* LF after the size line's CR */
    ST_DATA,       /* chunk data */
    ST_DATA_CR,    /* CR (or bare LF) after chunk data */
    ST_DATA_LF,    /* LF after chunk data */
    ST_DONE,
    ST_ERROR,
};

enum { H_NONE, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_SET_COOKIE };

static const struct {
    const char *name; /* lowercase */
    uint32_t len;
} known_headers[] = {
    [H_CONTENT_LENGTH] = {"content-length", 14},
    [H_TRANSFER_ENCODING] = {"transfer-encoding", 17},
    [H_CONNECTION] = {"connection", 10},
    [H_SET_COOKIE] = {"set-cookie", 10}, /* noted (p->set_cookie), not read */
};

#define CAND_C ((1u << H_CONTENT_LENGTH) | (1u << H_CONNECTION))
#define CAND_T (1u << H_TRANSFER_ENCODING)
#define CAND_S (1u << H_SET_COOKIE)

enum {
    F_CL = 1 << 0,         /* Content-Length seen */
    F_TE = 1 << 1,         /* Transfer-Encoding seen */
    F_TE_CHUNKED = 1 << 2, /* ... and its last coding so far is chunked */
    F_CLOSE = 1 << 3,      /* Connection: close */
    F_KEEP_ALIVE = 1 << 4, /* Connection: keep-alive */
    F_CAPTURE = 1 << 5,    /* header lines go to cb->on_header */
    F_TRAILERS = 1 << 6,   /* header-line states are reading chunked trailers */
    F_LAST_CR = 1 << 7,    /* on_head_raw capture: the last byte counted was CR */
};

enum { V_BEFORE, V_IN, V_AFTER }; /* position inside a value token */

#define WORD_JUNK 0xff
#define VERSION_PREFIX "HTTP/1."
#define VERSION_PREFIX_LEN 7
#define CHUNK_SIZE_MAX (1ULL << 62)
/* Bounds a chunk-size line (digits, extensions): a hostile server must not
 * keep the parser reading one line forever. */
#define CHUNK_LINE_MAX 4096
#define DEFAULT_MAX_HEADER_BYTES (64 * 1024)

/* ---- response parser: small actions ---- */

static int finish(http1_resp *p)
{
    p->state = ST_DONE;
    return HTTP1_DONE;
}

static void deliver(http1_resp *p, const char *data, size_t n)
{
    p->body_bytes += n;
    if (p->cb && p->cb->on_body && n)
        p->cb->on_body(p->cb->ctx, data, n);
}

static bool is_interim(int status)
{
    return status >= 100 && status < 200 && status != 101;
}

/* Forgets what a 1xx response said; its header bytes stay counted. */
static void reset_for_next_status(http1_resp *p)
{
    p->status = 0;
    p->minor_version = 0;
    p->flags = 0;
    p->content_length = 0;
    p->match = 0;
    p->set_cookie = false;
    p->state = ST_VERSION;
}

static int status_line_done(http1_resp *p)
{
    /* 1xx header lines are not reported: callers want the final response. */
    if (p->cb && (p->cb->on_header || p->cb->on_head_raw) && !is_interim(p->status))
        p->flags |= F_CAPTURE;
    p->state = ST_LINE_START;
    return HTTP1_NEED_MORE;
}

static void enter_chunked(http1_resp *p)
{
    p->num = 0;
    p->line_len = 0;
    p->state = ST_SIZE_START;
}

static bool no_body(const http1_resp *p)
{
    return p->head_request || p->status < 200 || p->status == 204 || p->status == 304;
}

static bool decide_keep_alive(const http1_resp *p)
{
    if (p->flags & F_CLOSE)
        return false;
    if (p->status == 101) /* the connection now speaks another protocol */
        return false;
    /* Both framings at once may be a smuggling attempt (RFC 9112 6.3): the
     * rest of the stream cannot be trusted, so do not reuse it. */
    if ((p->flags & F_TE) && (p->flags & F_CL))
        return false;
    return p->minor_version >= 1 || (p->flags & F_KEEP_ALIVE);
}

/* The final response's headers are complete: pick the body framing. */
static int headers_complete(http1_resp *p)
{
    p->headers_done = true;
    p->keep_alive = decide_keep_alive(p);
    p->chunked = (p->flags & F_TE_CHUNKED) != 0;
    p->has_length = (p->flags & F_CL) && !(p->flags & F_TE); /* TE overrides CL */
    bool body = !no_body(p);
    /* Neither a length nor chunked as the last coding: only the close marks
     * the end (RFC 9112 6.3). */
    p->close_delimited = body && !p->chunked && !p->has_length;
    if (p->close_delimited)
        p->keep_alive = false;
    if (p->cb && p->cb->on_headers_done)
        p->cb->on_headers_done(p->cb->ctx, p->status);
    if (!body || (p->has_length && p->content_length == 0))
        return finish(p);
    if (p->chunked) {
        enter_chunked(p);
    } else if (p->has_length) {
        p->remaining = p->content_length;
        p->state = ST_BODY_LEN;
    } else {
        p->state = ST_BODY_EOF;
    }
    return HTTP1_NEED_MORE;
}

static int headers_end(http1_resp *p)
{
    if (p->flags & F_TRAILERS)
        return finish(p);
    if (is_interim(p->status)) {
        reset_for_next_status(p);
        return HTTP1_NEED_MORE;
    }
    return headers_complete(p);
}

/* ---- response parser: header values we read ---- */

static void word_end(http1_resp *p)
{
    if (p->vstate == V_BEFORE) /* empty list element: ignored */
        return;
    bool is_close = p->tok == 5 && memcmp(p->word, "close", 5) == 0;
    bool is_ka = p->tok == 10 && memcmp(p->word, "keep-alive", 10) == 0;
    bool is_chunked = p->tok == 7 && memcmp(p->word, "chunked", 7) == 0;
    if (p->hdr == H_CONNECTION) {
        p->flags |= (is_close ? F_CLOSE : 0) | (is_ka ? F_KEEP_ALIVE : 0);
    } else {
        /* Only the last coding decides: "chunked, gzip" is not chunked. */
        p->flags |= F_TE;
        p->flags = (uint16_t)(is_chunked ? p->flags | F_TE_CHUNKED : p->flags & ~F_TE_CHUNKED);
    }
    p->vstate = V_BEFORE;
    p->tok = 0;
}

/* One byte of a comma-separated token list (Connection, Transfer-Encoding). */
static void list_byte(http1_resp *p, unsigned char c)
{
    if (c == ',') {
        word_end(p);
    } else if (is_ows(c) || c == '\r') {
        if (p->vstate == V_IN)
            p->vstate = V_AFTER;
    } else {
        if (p->vstate == V_AFTER) /* "keep alive": not one token */
            p->tok = WORD_JUNK;
        p->vstate = V_IN;
        if (p->tok < sizeof p->word)
            p->word[p->tok++] = (char)lower(c);
        else
            p->tok = WORD_JUNK;
    }
}

/* One byte of Content-Length: digits with optional whitespace around. */
static int length_byte(http1_resp *p, unsigned char c)
{
    if (is_digit(c)) {
        unsigned d = c - '0';
        if (p->vstate == V_AFTER || p->num > (UINT64_MAX - d) / 10)
            return HTTP1_EPARSE;
        p->num = p->num * 10 + d;
        p->vstate = V_IN;
        return HTTP1_NEED_MORE;
    }
    if (is_ows(c) || c == '\r') {
        if (p->vstate == V_IN)
            p->vstate = V_AFTER;
        return HTTP1_NEED_MORE;
    }
    return HTTP1_EPARSE;
}

static int value_byte(http1_resp *p, unsigned char c)
{
    if (p->hdr == H_CONTENT_LENGTH)
        return length_byte(p, c);
    list_byte(p, c);
    return HTTP1_NEED_MORE;
}

static int value_end(http1_resp *p)
{
    switch (p->hdr) {
    case H_CONTENT_LENGTH:
        if (p->vstate == V_BEFORE)
            return HTTP1_EPARSE; /* empty */
        if ((p->flags & F_CL) && p->content_length != p->num)
            return HTTP1_EPARSE; /* which one would frame the body? */
        p->content_length = p->num;
        p->flags |= F_CL;
        return HTTP1_NEED_MORE;
    case H_TRANSFER_ENCODING:
    case H_CONNECTION:
        word_end(p);
        return HTTP1_NEED_MORE;
    default:
        return HTTP1_NEED_MORE;
    }
}

/* ---- response parser: header lines ---- */

/* Bytes the caller's line buffer can still take; unlimited without capture. */
static size_t capture_room(const http1_resp *p)
{
    if (!(p->flags & F_CAPTURE))
        return SIZE_MAX;
    size_t cap = p->cb->line_cap > UINT32_MAX ? UINT32_MAX : p->cb->line_cap;
    return cap - p->line_len;
}

/* Counts (and with on_header copies) captured line bytes; on_head_raw
 * gets the input itself, so only the count and the last byte matter. */
static void capture_bytes(http1_resp *p, const char *s, size_t n)
{
    if (p->cb->on_header)
        memcpy(p->cb->line_buf + p->line_len, s, n);
    else
        p->flags = (uint16_t)((p->flags & ~F_LAST_CR) | (s[n - 1] == '\r' ? F_LAST_CR : 0));
    p->line_len += (uint32_t)n;
}

/* Without capture (a URL run) this is the one test, inlined. */
static inline void capture(http1_resp *p, const char *s, size_t n)
{
    if ((p->flags & F_CAPTURE) && n)
        capture_bytes(p, s, n);
}

static bool captured_cr(const http1_resp *p)
{
    return p->cb->on_header ? p->cb->line_buf[p->line_len - 1] == '\r' : (p->flags & F_LAST_CR);
}

static void emit_header(http1_resp *p)
{
    const char *v = p->cb->line_buf + p->name_len;
    size_t vlen = p->line_len - p->name_len;
    while (vlen && is_ows((unsigned char)*v))
        v++, vlen--;
    while (vlen && (is_ows((unsigned char)v[vlen - 1]) || v[vlen - 1] == '\r'))
        vlen--;
    p->cb->on_header(p->cb->ctx, p->cb->line_buf, p->name_len, v, vlen);
}

static int line_start(http1_resp *p, const char **sp)
{
    unsigned char c = (unsigned char)**sp;
    if (c == '\r') {
        ++*sp;
        p->state = ST_END_LF;
        return HTTP1_NEED_MORE;
    }
    if (c == '\n') {
        ++*sp;
        return headers_end(p);
    }
    /* SP/HT before the first header line folds nothing: rejected (after
     * a value it is obs-fold, handled by value_nl). */
    if (!is_tchar(c))
        return HTTP1_EPARSE;
    /* The first letter rules out most names; trailers never frame. */
    unsigned char f = lower(c);
    /* Set-Cookie only while capturing (a URL run never asks), trailers too. */
    p->cand = (p->flags & F_TRAILERS) ? 0 : f == 'c' ? CAND_C : f == 't' ? CAND_T : 0;
    if (f == 's' && (p->flags & F_CAPTURE))
        p->cand = CAND_S;
    p->match = 0;
    p->line_len = 0;
    p->state = ST_NAME; /* the byte is read there */
    return HTTP1_NEED_MORE;
}

/* s[0..n) equals the lowercase lc, ignoring case; stops at the first difference. */
static bool lower_eq(const char *s, const char *lc, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)lc[i])
            return false;
    return true;
}

/* Narrows the known-name candidates by the name bytes s[0..n), which
 * continue the p->match bytes already matched. A whole name usually comes
 * in one piece, so this is one short compare per candidate. */
static void match_names(http1_resp *p, const char *s, size_t n)
{
    for (int k = H_CONTENT_LENGTH; k <= H_SET_COOKIE; k++) {
        if (!(p->cand & (1u << k)))
            continue;
        const char *name = known_headers[k].name;
        if (p->match + n > known_headers[k].len || !lower_eq(s, name + p->match, n))
            p->cand &= (uint8_t)~(1u << k);
    }
    p->match += (uint32_t)n; /* bounded: once cand is 0 we stop being called */
}

static int name_done(http1_resp *p)
{
    p->hdr = H_NONE;
    if (p->cand) { /* most names ruled out every known one at their first letter */
        for (int k = H_CONTENT_LENGTH; k <= H_SET_COOKIE; k++)
            if ((p->cand & (1u << k)) && known_headers[k].len == p->match)
                p->hdr = k;
        if (p->hdr == H_SET_COOKIE) {
            p->set_cookie = true;
            p->hdr = H_NONE;
        }
    }
    p->name_len = p->line_len;
    p->vstate = V_BEFORE;
    p->tok = 0;
    p->num = 0;
    p->state = ST_VALUE;
    return HTTP1_NEED_MORE;
}

static int scan_name(http1_resp *p, const char **sp, const char *lim)
{
    const char *s = *sp, *n = s;
    while (n < lim && is_tchar((unsigned char)*n))
        n++;
    size_t room = capture_room(p);
    if ((size_t)(n - s) > room) { /* a longer name than on_header can take */
        *sp = s + room;
        return HTTP1_ETOOBIG;
    }
    if (p->cand)
        match_names(p, s, (size_t)(n - s));
    capture(p, s, (size_t)(n - s));
    *sp = n;
    if (n == lim)
        return HTTP1_NEED_MORE;
    if (*n != ':') /* no colon, or whitespace before it (RFC 9112 5.1) */
        return HTTP1_EPARSE;
    *sp = n + 1;
    return name_done(p);
}

static int scan_value(http1_resp *p, const char **sp, const char *lim)
{
    const char *s = *sp;
    const char *nl = memchr(s, '\n', (size_t)(lim - s));
    const char *stop = nl ? nl : lim;
    /* Clip at the capture room so the first bad byte decides the error,
     * however the input was split. */
    size_t room = capture_room(p);
    bool overflow = (size_t)(stop - s) > room;
    if (overflow)
        stop = s + room, nl = NULL;
    for (const char *q = s; p->hdr != H_NONE && q < stop; q++) {
        if (value_byte(p, (unsigned char)*q) < 0) {
            *sp = q;
            return HTTP1_EPARSE;
        }
    }
    *sp = stop;
    if (overflow)
        return HTTP1_ETOOBIG;
    capture(p, s, (size_t)(stop - s));
    if (!nl)
        return HTTP1_NEED_MORE;
    /* The value may go on in the next line (obs-fold): value_nl decides. */
    *sp = nl + 1;
    p->state = ST_VALUE_NL;
    return HTTP1_NEED_MORE;
}

/* The first byte after a value's LF. SP or HT is obsolete line folding
 * (RFC 9112 5.2): a user agent replaces it with SP and the value goes on.
 * Anything else starts the next line: the value is complete. */
static int value_nl(http1_resp *p, const char **sp)
{
    unsigned char c = (unsigned char)**sp;
    if (c == ' ' || c == '\t') {
        if ((p->flags & F_CAPTURE) && p->line_len > p->name_len && captured_cr(p))
            p->line_len--;
        if (capture_room(p) < 1)
            return HTTP1_ETOOBIG;
        capture(p, " ", 1);
        if (p->hdr != H_NONE && value_byte(p, ' ') < 0)
            return HTTP1_EPARSE;
        ++*sp;
        p->state = ST_VALUE;
        return HTTP1_NEED_MORE;
    }
    int rc = value_end(p);
    if (rc < 0)
        return rc;
    if ((p->flags & F_CAPTURE) && p->cb->on_header)
        emit_header(p);
    p->state = ST_LINE_START;
    return HTTP1_NEED_MORE;
}

static int scan_reason(http1_resp *p, const char **sp, const char *lim)
{
    /* The reason phrase means nothing to a client: skip it whole. */
    const char *nl = memchr(*sp, '\n', (size_t)(lim - *sp));
    if (!nl) {
        *sp = lim;
        return HTTP1_NEED_MORE;
    }
    *sp = nl + 1;
    return status_line_done(p);
}

/* One byte of the status line, the empty line's LF. */
static int head_byte(http1_resp *p, unsigned char c)
{
    switch (p->state) {
    case ST_VERSION:
        if (c != (unsigned char)VERSION_PREFIX[p->match])
            return HTTP1_EPARSE;
        if (++p->match == VERSION_PREFIX_LEN)
            p->state = ST_MINOR;
        return HTTP1_NEED_MORE;
    case ST_MINOR:
        if (!is_digit(c))
            return HTTP1_EPARSE;
        p->minor_version = c == '0' ? 0 : 1; /* 1.x > 1 speaks at least 1.1 */
        p->state = ST_SP;
        return HTTP1_NEED_MORE;
    case ST_SP:
        if (c != ' ')
            return HTTP1_EPARSE;
        p->match = 0;
        p->state = ST_CODE;
        return HTTP1_NEED_MORE;
    case ST_CODE:
        if (!is_digit(c) || (p->match == 0 && c == '0'))
            return HTTP1_EPARSE;
        p->status = p->status * 10 + (c - '0');
        if (++p->match == 3)
            p->state = ST_AFTER_CODE;
        return HTTP1_NEED_MORE;
    case ST_AFTER_CODE:
        if (c == ' ')
            p->state = ST_REASON;
        else if (c == '\r')
            p->state = ST_STATUS_LF;
        else if (c == '\n')
            return status_line_done(p);
        else
            return HTTP1_EPARSE;
        return HTTP1_NEED_MORE;
    case ST_STATUS_LF:
        return c == '\n' ? status_line_done(p) : HTTP1_EPARSE;
    case ST_END_LF:
        return c == '\n' ? headers_end(p) : HTTP1_EPARSE;
    default:
        return HTTP1_EPARSE; /* unreachable: other states are scanned */
    }
}

static int head_byte_step(http1_resp *p, const char **sp)
{
    int rc = head_byte(p, (unsigned char)**sp);
    if (rc >= 0)
        ++*sp;
    return rc;
}

/* The common case, "HTTP/1.x SSS" whole in the buffer, in one go. Anything
 * unusual is left to the byte states, which find the offending byte. */
static bool status_fast(http1_resp *p, const char **sp, const char *lim)
{
    const unsigned char *s = (const unsigned char *)*sp;
    if (p->match != 0 || lim - *sp < 12 || memcmp(s, VERSION_PREFIX, VERSION_PREFIX_LEN) != 0 ||
        !is_digit(s[7]) || s[8] != ' ' || s[9] < '1' || s[9] > '9' || !is_digit(s[10]) ||
        !is_digit(s[11]))
        return false;
    p->minor_version = s[7] == '0' ? 0 : 1;
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    p->state = ST_AFTER_CODE;
    *sp += 12;
    return true;
}

/* Runs the header-line states over [*sp, lim) until they leave the head,
 * finish, fail or run out of bytes. */
static int head_run(http1_resp *p, const char **sp, const char *lim)
{
    int rc = HTTP1_NEED_MORE;
    while (rc == HTTP1_NEED_MORE && *sp < lim && p->state < ST_BODY_LEN) {
        switch (p->state) {
        case ST_VERSION:
            if (!status_fast(p, sp, lim))
                rc = head_byte_step(p, sp);
            break;
        case ST_REASON: rc = scan_reason(p, sp, lim); break;
        case ST_LINE_START: rc = line_start(p, sp); break;
        case ST_NAME: rc = scan_name(p, sp, lim); break;
        case ST_VALUE: rc = scan_value(p, sp, lim); break;
        case ST_VALUE_NL: rc = value_nl(p, sp); break;
        default: rc = head_byte_step(p, sp); break;
        }
    }
    return rc;
}

/* Header and trailer bytes are capped: the input is clipped at the cap, so
 * a flood of header bytes fails exactly at the first byte over it. */
static int head_step(http1_resp *p, const char **sp, const char *end)
{
    uint64_t *used = (p->flags & F_TRAILERS) ? &p->trailer_bytes : &p->header_bytes;
    if (*used >= p->max_header_bytes)
        return HTTP1_ETOOBIG;
    uint64_t budget = p->max_header_bytes - *used;
    const char *lim = (uint64_t)(end - *sp) > budget ? *sp + budget : end;
    const char *start = *sp;
    int rc = head_run(p, sp, lim);
    *used += (uint64_t)(*sp - start);
    if (p->cb && p->cb->on_head_raw && *sp > start)
        p->cb->on_head_raw(p->cb->ctx, start, (size_t)(*sp - start));
    return rc;
}

/* ---- response parser: chunked framing ---- */

static int size_line_done(http1_resp *p)
{
    if (p->cb && p->cb->on_chunk)
        p->cb->on_chunk(p->cb->ctx, p->num);
    if (p->num == 0) { /* last-chunk: trailer lines follow */
        p->flags = (uint16_t)((p->flags & ~F_CAPTURE) | F_TRAILERS);
        if (p->cb && (p->cb->on_header || p->cb->on_head_raw))
            p->flags |= F_CAPTURE;
        p->state = ST_LINE_START;
        return HTTP1_NEED_MORE;
    }
    p->chunks++;
    p->remaining = p->num;
    p->state = ST_DATA;
    return HTTP1_NEED_MORE;
}

/* Hex digits of a chunk size (at least one); the usual CRLF right after
 * them is taken here too, saving a trip through the tail states. */
static int scan_size(http1_resp *p, const char **sp, const char *end)
{
    const char *s = *sp;
    if (p->state == ST_SIZE_START && hex_value((unsigned char)*s) < 0)
        return HTTP1_EPARSE;
    p->state = ST_SIZE;
    for (; s < end; s++) {
        int d = hex_value((unsigned char)*s);
        if (d < 0)
            break;
        if (p->num > (CHUNK_SIZE_MAX - (uint64_t)d) >> 4 || ++p->line_len > CHUNK_LINE_MAX) {
            *sp = s;
            return HTTP1_EPARSE;
        }
        p->num = (p->num << 4) | (uint64_t)d;
    }
    *sp = s;
    if (end - s >= 2 && s[0] == '\r' && s[1] == '\n') {
        *sp = s + 2;
        return size_line_done(p);
    }
    if (s < end)
        p->state = ST_SIZE_TAIL; /* the size ended: see what follows there */
    return HTTP1_NEED_MORE;
}

/* What may follow the size digits: BWS, ';' extensions, or the line end. */
static int size_tail(http1_resp *p, const char **sp)
{
    unsigned char c = (unsigned char)**sp;
    if (++p->line_len > CHUNK_LINE_MAX)
        return HTTP1_EPARSE;
    if (is_ows(c) || c == ';' || c == '\r' || c == '\n') {
        ++*sp;
        if (c == ';')
            p->state = ST_EXT;
        else if (c == '\r')
            p->state = ST_SIZE_LF;
        else if (c == '\n')
            return size_line_done(p);
        return HTTP1_NEED_MORE;
    }
    return HTTP1_EPARSE;
}

static int scan_ext(http1_resp *p, const char **sp, const char *end)
{
    /* Extensions mean nothing to us; skip to the line end, but not forever. */
    size_t avail = (size_t)(end - *sp);
    const char *nl = memchr(*sp, '\n', avail);
    size_t n = nl ? (size_t)(nl - *sp) : avail;
    if (n > CHUNK_LINE_MAX - p->line_len) {
        *sp += CHUNK_LINE_MAX - p->line_len;
        return HTTP1_EPARSE;
    }
    p->line_len += (uint32_t)n;
    *sp += n;
    if (!nl)
        return HTTP1_NEED_MORE;
    ++*sp;
    return size_line_done(p);
}

static int skip_data(http1_resp *p, const char **sp, const char *end)
{
    size_t avail = (size_t)(end - *sp);
    size_t n = p->remaining < avail ? (size_t)p->remaining : avail;
    deliver(p, *sp, n);
    *sp += n;
    p->remaining -= n;
    if (p->remaining)
        return HTTP1_NEED_MORE;
    if (p->state == ST_BODY_LEN)
        return finish(p);
    if (end - *sp >= 2 && (*sp)[0] == '\r' && (*sp)[1] == '\n') { /* the usual CRLF */
        *sp += 2;
        enter_chunked(p);
    } else {
        p->state = ST_DATA_CR;
    }
    return HTTP1_NEED_MORE;
}

/* One step of a body state; each consumes at least one byte or changes state. */
static int body_step(http1_resp *p, const char **sp, const char *end)
{
    unsigned char c = (unsigned char)**sp;
    switch (p->state) {
    case ST_BODY_LEN:
    case ST_DATA: return skip_data(p, sp, end);
    case ST_BODY_EOF:
        deliver(p, *sp, (size_t)(end - *sp));
        *sp = end;
        return HTTP1_NEED_MORE;
    case ST_SIZE_START:
    case ST_SIZE: return scan_size(p, sp, end);
    case ST_SIZE_TAIL: return size_tail(p, sp);
    case ST_EXT: return scan_ext(p, sp, end);
    case ST_SIZE_LF:
        if (c != '\n')
            return HTTP1_EPARSE;
        ++*sp;
        return size_line_done(p);
    case ST_DATA_CR:
    case ST_DATA_LF:
        if (c == '\r' && p->state == ST_DATA_CR) {
            p->state = ST_DATA_LF;
        } else if (c == '\n') {
            enter_chunked(p);
        } else {
            return HTTP1_EPARSE;
        }
        ++*sp;
        return HTTP1_NEED_MORE;
    default:
        return HTTP1_EPARSE; /* unreachable */
    }
}

/* ---- response parser: API ---- */

void http1_resp_begin(http1_resp *p, bool head_request, const http1_callbacks *cb)
{
    memset(p, 0, sizeof *p);
    p->head_request = head_request;
    p->max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
    p->cb = cb;
    p->state = ST_VERSION;
}

int http1_resp_parse(http1_resp *p, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (p->state == ST_DONE)
        return HTTP1_DONE;
    if (p->state == ST_ERROR)
        return p->error;
    if (len == 0)
        return HTTP1_NEED_MORE;
    const char *s = data, *end = data + len;
    int rc = HTTP1_NEED_MORE;
    while (rc == HTTP1_NEED_MORE && s < end)
        rc = p->state < ST_BODY_LEN ? head_step(p, &s, end) : body_step(p, &s, end);
    size_t used = (size_t)(s - data);
    if (rc < 0) {
        /* s is on the offending byte; the error sticks until begin. */
        p->err_offset = p->consumed_total + used;
        p->error = rc;
        p->state = ST_ERROR;
    }
    p->consumed_total += used;
    *consumed = used;
    return rc;
}

int http1_resp_eof(http1_resp *p)
{
    if (p->state == ST_BODY_EOF || p->state == ST_DONE)
        return finish(p);
    return HTTP1_ECLOSED;
}

/* ---- raw heads, split when read ---- */

/* The line at *off (its end excluded: LF, and CR before it); *off moves
 * past the LF. */
static const char *next_line(const char *raw, size_t len, size_t *off, size_t *llen)
{
    const char *s = raw + *off;
    const char *nl = memchr(s, '\n', len - *off);
    size_t n = nl ? (size_t)(nl - s) : len - *off;
    *off += nl ? n + 1 : n;
    *llen = n;
    return s;
}

static void split_value(const char *v, size_t vlen, const char *name, size_t nlen,
                        http1_header_fn fn, void *ctx)
{
    while (vlen && is_ows((unsigned char)*v))
        v++, vlen--;
    while (vlen && (is_ows((unsigned char)v[vlen - 1]) || v[vlen - 1] == '\r'))
        vlen--;
    fn(ctx, name, nlen, v, vlen);
}

void http1_head_split(const char *raw, size_t len, http1_header_fn fn, void *ctx)
{
    size_t off = 0;
    bool trailers = false;
    buf fold = {0};
    while (off < len) {
        size_t ll;
        bool interim = false;
        if (!trailers) { /* a status line: "HTTP/1.x SSS" */
            const char *st = next_line(raw, len, &off, &ll);
            const char *sp = memchr(st, ' ', ll); /* "HTTP/1.1 200", "HTTP/2 200" */
            size_t at = sp ? (size_t)(sp - st) + 1 : ll;
            int status = at + 3 <= ll ? (st[at] - '0') * 100 + (st[at + 1] - '0') * 10 +
                                            (st[at + 2] - '0')
                                      : 0;
            interim = is_interim(status);
        }
        while (off < len) {
            const char *line = next_line(raw, len, &off, &ll);
            if (ll == 0 || (ll == 1 && line[0] == '\r'))
                break; /* the empty line */
            const char *colon = memchr(line, ':', ll);
            if (!colon)
                continue; /* unreachable: the parser refused such a line */
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vlen = ll - nlen - 1;
            /* obs-fold: the value goes on, joined by one SP (as the parser) */
            bool folded = false;
            while (off < len && (raw[off] == ' ' || raw[off] == '\t')) {
                size_t cl;
                const char *cont = next_line(raw, len, &off, &cl);
                if (!folded) {
                    buf_reset(&fold);
                    buf_append(&fold, v, vlen);
                    folded = true;
                }
                if (fold.len && fold.data[fold.len - 1] == '\r')
                    fold.len--;
                buf_append(&fold, " ", 1);
                buf_append(&fold, cont + 1, cl - 1);
            }
            if (folded)
                v = fold.data ? fold.data : "", vlen = fold.len;
            if (!interim)
                split_value(v, vlen, line, nlen, fn, ctx);
        }
        if (!interim)
            trailers = true;
    }
    buf_free(&fold);
}

const char *http1_strerror(int code)
{
    switch (code) {
    case HTTP1_NEED_MORE: return "response incomplete";
    case HTTP1_DONE: return "response complete";
    case HTTP1_EPARSE: return "malformed response";
    case HTTP1_ETOOBIG: return "response headers too large";
    case HTTP1_ECLOSED: return "connection closed before the response was complete";
    default: return "unknown http1 error";
    }
}
