/* reqparse: in-place HTTP/1.1 request head parser and streaming body decoder
 * for the built-in server (see reqparse.h). server.c calls it on whatever a
 * connection has buffered; tests/unit/test_reqparse.c feeds it a table of raw
 * requests split at every byte. Strict where a lax reading would let two
 * parties disagree on where a request ends (CL + TE, bad lengths, folding). */
#include "server/reqparse.h"

#include <string.h>

/* RFC 9110 tchar: what a method or header name may contain. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* Bounds on a chunk-size line (with extensions) and on all trailers. */
#define MAX_SIZE_LINE 4096u
#define MAX_TRAILERS 16384u

static int fail(reqparse_req *r, int rc, const char *why)
{
    r->error = why;
    return rc;
}

static int incomplete(reqparse_req *r, size_t len, size_t max_head)
{
    if (len >= max_head)
        return fail(r, REQPARSE_EHEAD_TOO_BIG, "request line and headers too large");
    return REQPARSE_NEED_MORE;
}

static bool ieq(const char *a, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

static int content_length(reqparse_req *r, const char *v, size_t n)
{
    if (n == 0)
        return fail(r, REQPARSE_EPARSE, "empty Content-Length");
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(r, REQPARSE_EPARSE, "bad Content-Length");
        /* Saturate: anything this big is over every body limit anyway. */
        if (x < (UINT64_MAX - 9) / 10)
            x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (r->has_length && r->content_length != x)
        return fail(r, REQPARSE_EPARSE, "conflicting Content-Length headers");
    r->has_length = true;
    r->content_length = x;
    return 0;
}

/* Connection is a comma-separated token list. */
static void connection(const char *v, size_t n, bool *close, bool *keep)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq(v + s, i - s, "close"))
            *close = true;
        else if (ieq(v + s, i - s, "keep-alive"))
            *keep = true;
    }
}

static int header(reqparse_req *r, const char *name, size_t nl, const char *v, size_t vl,
                  bool *close, bool *keep)
{
    switch (nl) {
    case 6:
        if (ieq(name, nl, "expect") && ieq(v, vl, "100-continue"))
            r->expect_continue = true;
        return 0;
    case 10:
        if (ieq(name, nl, "connection"))
            connection(v, vl, close, keep);
        return 0;
    case 14:
        if (ieq(name, nl, "content-length"))
            return content_length(r, v, vl);
        return 0;
    case 17:
        if (!ieq(name, nl, "transfer-encoding"))
            return 0;
        if (!ieq(v, vl, "chunked"))
            return fail(r, REQPARSE_ETE, "unsupported Transfer-Encoding (only chunked)");
        if (r->chunked)
            return fail(r, REQPARSE_EPARSE, "repeated Transfer-Encoding");
        r->chunked = true;
        return 0;
    default:
        return 0;
    }
}

/* Request line "METHOD SP target SP HTTP/1.x" in [p, le). */
static int request_line(reqparse_req *r, const char *p, const char *le)
{
    const char *q = p;
    while (q < le && tchar[(unsigned char)*q])
        q++;
    if (q == p || q >= le || *q != ' ')
        return fail(r, REQPARSE_EPARSE, "malformed request line");
    r->method = p;
    r->method_len = (size_t)(q - p);
    const char *t = ++q;
    while (q < le && *q != ' ') {
        if ((unsigned char)*q < 0x21 || *q == 0x7f)
            return fail(r, REQPARSE_EPARSE, "control character in request target");
        q++;
    }
    if (q == t || q >= le)
        return fail(r, REQPARSE_EPARSE, "malformed request line");
    if (*t != '/' && !(q - t == 1 && *t == '*'))
        return fail(r, REQPARSE_EPARSE, "request target must start with '/'");
    r->target = t;
    r->target_len = (size_t)(q - t);
    const char *qm = memchr(t, '?', r->target_len);
    r->path_len = qm ? (size_t)(qm - t) : r->target_len;
    q++;
    size_t vl = (size_t)(le - q);
    if (vl == 8 && !memcmp(q, "HTTP/1.", 7) && q[7] >= '0' && q[7] <= '9') {
        r->minor_version = q[7] == '0' ? 0 : 1; /* 1.x behaves as 1.1 */
        return 0;
    }
    if (vl >= 5 && !memcmp(q, "HTTP/", 5))
        return fail(r, REQPARSE_EVERSION, "HTTP version not supported");
    return fail(r, REQPARSE_EPARSE, "malformed request line");
}

int reqparse_head(const char *data, size_t len, size_t max_head, reqparse_req *r)
{
    memset(r, 0, sizeof *r);
    const char *p = data, *end = data + (len < max_head ? len : max_head);
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    const char *eol = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (!eol)
        return incomplete(r, len, max_head);
    const char *le = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;
    int rc = request_line(r, p, le);
    if (rc)
        return rc;
    bool close = false, keep = false;
    p = eol + 1;
    for (;;) {
        if (p >= end)
            return incomplete(r, len, max_head);
        if (*p == '\n') {
            p++;
            break;
        }
        if (*p == '\r') {
            if (p + 1 >= end)
                return incomplete(r, len, max_head);
            if (p[1] != '\n')
                return fail(r, REQPARSE_EPARSE, "bare CR in headers");
            p += 2;
            break;
        }
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return incomplete(r, len, max_head);
        le = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;
        if (*p == ' ' || *p == '\t')
            return fail(r, REQPARSE_EPARSE, "obsolete header line folding");
        const char *q = p;
        while (q < le && tchar[(unsigned char)*q])
            q++;
        if (q == p || q >= le || *q != ':')
            return fail(r, REQPARSE_EPARSE, "header line without colon");
        const char *v = q + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = v; c < ve; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return fail(r, REQPARSE_EPARSE, "control character in header value");
        if ((rc = header(r, p, (size_t)(q - p), v, (size_t)(ve - v), &close, &keep)))
            return rc;
        p = eol + 1;
    }
    if (r->chunked && r->has_length)
        return fail(r, REQPARSE_EPARSE, "both Content-Length and Transfer-Encoding");
    if (r->chunked && r->minor_version == 0)
        return fail(r, REQPARSE_EPARSE, "chunked request body in HTTP/1.0");
    r->keepalive = r->minor_version ? !close : (keep && !close);
    r->head_len = (size_t)(p - data);
    return REQPARSE_DONE;
}

/* ---- body ---- */

enum {
    B_DONE,
    B_FIXED,       /* Content-Length bytes */
    B_SIZE_START,  /* first hex digit of a chunk size */
    B_SIZE,        /* more hex digits */
    B_SIZE_EXT,    /* chunk extensions, skipped to LF */
    B_SIZE_LF,     /* LF after CR of the size line */
    B_DATA,
    B_DATA_CR,     /* CRLF after chunk data */
    B_DATA_LF,
    B_TRAILER_START,
    B_TRAILER,     /* a trailer field line, skipped */
    B_END_LF,      /* LF of the final blank line */
};

int reqparse_body_init(reqparse_body *b, const reqparse_req *r, uint64_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max_bytes = max_bytes;
    if (r->chunked) {
        b->chunked = true;
        b->state = B_SIZE_START;
        return REQPARSE_NEED_MORE;
    }
    if (r->content_length > max_bytes) {
        b->error = "request body too large";
        return REQPARSE_EBODY_TOO_BIG;
    }
    b->remaining = r->content_length;
    b->state = b->remaining ? B_FIXED : B_DONE;
    return b->remaining ? REQPARSE_NEED_MORE : REQPARSE_DONE;
}

static int bfail(reqparse_body *b, int rc, const char *why)
{
    b->error = why;
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The size line ended: data follows, or the last chunk's trailers. */
static int size_done(reqparse_body *b)
{
    if (b->remaining == 0) {
        b->state = B_TRAILER_START;
        b->line_bytes = 0;
        return 0;
    }
    if (b->remaining > b->max_bytes - b->total)
        return bfail(b, REQPARSE_EBODY_TOO_BIG, "request body too large");
    b->state = B_DATA;
    return 0;
}

/* One byte of chunked framing (everything but chunk data). */
static int framing_byte(reqparse_body *b, char c)
{
    int h;
    switch (b->state) {
    case B_SIZE_START:
        if ((h = hexval(c)) < 0)
            return bfail(b, REQPARSE_EPARSE, "bad chunk size");
        b->remaining = (uint64_t)h;
        b->digits = 1;
        b->line_bytes = 1;
        b->state = B_SIZE;
        return 0;
    case B_SIZE:
        if ((h = hexval(c)) >= 0) {
            if (++b->digits > 15)
                return bfail(b, REQPARSE_EPARSE, "chunk size too long");
            b->remaining = b->remaining * 16 + (uint64_t)h;
            return 0;
        }
        if (c == ';' || c == ' ' || c == '\t') {
            b->state = B_SIZE_EXT;
            return 0;
        }
        if (c == '\r') {
            b->state = B_SIZE_LF;
            return 0;
        }
        if (c == '\n')
            return size_done(b);
        return bfail(b, REQPARSE_EPARSE, "bad chunk size");
    case B_SIZE_EXT:
        if (++b->line_bytes > MAX_SIZE_LINE)
            return bfail(b, REQPARSE_EPARSE, "chunk extension too long");
        if (c == '\n')
            return size_done(b);
        return 0;
    case B_SIZE_LF:
        if (c != '\n')
            return bfail(b, REQPARSE_EPARSE, "bad chunk size line ending");
        return size_done(b);
    case B_DATA_CR:
        if (c == '\r') {
            b->state = B_DATA_LF;
            return 0;
        }
        if (c == '\n') {
            b->state = B_SIZE_START;
            return 0;
        }
        return bfail(b, REQPARSE_EPARSE, "missing CRLF after chunk data");
    case B_DATA_LF:
        if (c != '\n')
            return bfail(b, REQPARSE_EPARSE, "missing CRLF after chunk data");
        b->state = B_SIZE_START;
        return 0;
    case B_TRAILER_START:
        if (c == '\r') {
            b->state = B_END_LF;
            return 0;
        }
        if (c == '\n') {
            b->state = B_DONE;
            return 0;
        }
        b->state = B_TRAILER;
        /* fall through */
    case B_TRAILER:
        if (++b->line_bytes > MAX_TRAILERS)
            return bfail(b, REQPARSE_EHEAD_TOO_BIG, "trailers too large");
        if (c == '\n')
            b->state = B_TRAILER_START;
        return 0;
    case B_END_LF:
        if (c != '\n')
            return bfail(b, REQPARSE_EPARSE, "bad end of chunked body");
        b->state = B_DONE;
        return 0;
    default:
        return bfail(b, REQPARSE_EPARSE, "internal: bad body state");
    }
}

int reqparse_body_feed(reqparse_body *b, const char *in, size_t len, size_t *consumed, buf *out)
{
    size_t i = 0;
    int rc = REQPARSE_NEED_MORE;
    while (b->state != B_DONE && i < len) {
        if (b->state == B_FIXED || b->state == B_DATA) {
            size_t n = len - i;
            if (n > b->remaining)
                n = (size_t)b->remaining;
            if (out && buf_append(out, in + i, n)) {
                *consumed = i;
                return bfail(b, REQPARSE_ENOMEM, "out of memory");
            }
            i += n;
            b->total += n;
            b->remaining -= n;
            if (b->remaining == 0)
                b->state = b->state == B_FIXED ? B_DONE : B_DATA_CR;
            continue;
        }
        if ((rc = framing_byte(b, in[i])) < 0) {
            *consumed = i;
            return rc;
        }
        i++;
    }
    *consumed = i;
    return b->state == B_DONE ? REQPARSE_DONE : REQPARSE_NEED_MORE;
}

int reqparse_status(int rc)
{
    switch (rc) {
    case REQPARSE_EHEAD_TOO_BIG:
        return 431;
    case REQPARSE_EBODY_TOO_BIG:
        return 413;
    case REQPARSE_EVERSION:
        return 505;
    case REQPARSE_ETE:
        return 501;
    case REQPARSE_ENOMEM:
        return 500;
    default:
        return 400;
    }
}
