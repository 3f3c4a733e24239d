/* libFuzzer target for proto/h2's request glue: h2_submit_h1 turns an
 * HTTP/1.1 request message (URL runs and Lua http.* build one) into an
 * HTTP/2 stream. The frames it sends are decoded by a server-side nghttp2
 * session: never a connection error, and a request the server accepts
 * carries exactly the message's method, target, Host, header fields
 * (lowercased, hop-by-hop ones dropped) and body. */
#include "proto/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXF 256

typedef struct field {
    const char *name, *value;
    size_t nlen, vlen;
} field;

/* What the message says (the reference) and what the server got. */
typedef struct want {
    field f[MAXF];
    size_t n;
    const uint8_t *body;
    size_t body_len;
} want;

typedef struct got {
    char *name[MAXF], *value[MAXF];
    size_t nlen[MAXF], vlen[MAXF], n;
    bool headers;  /* the server accepted the request's HEADERS */
    bool rejected; /* ... and then reset the stream (e.g. a Content-Length
                      header that disagrees with the body: the user's word) */
    size_t body_len;
    const want *w;
    bool body_ok;
} got;

static void on_close(void *ctx, h2_stream *st, uint32_t code, bool processed)
{
    (void)ctx, (void)st, (void)code, (void)processed;
}

static bool hop(const char *n, size_t len)
{
    static const char *const drop[] = {"connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade", "te"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strlen(drop[i]) == len && !strncasecmp(n, drop[i], len))
            return true;
    return false;
}

static const char *crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

static void trim(const char **v, const char **ve)
{
    while (*v < *ve && (**v == ' ' || **v == '\t'))
        (*v)++;
    while (*ve > *v && ((*ve)[-1] == ' ' || (*ve)[-1] == '\t'))
        (*ve)--;
}

/* A field HTTP/2 can carry: a token name (RFC 9110 5.6.2), a value without
 * NUL, CR or LF. Messages with others are the user's to get wrong. */
static bool valid(const char *n, size_t nl, const char *v, size_t vl)
{
    static const char tch[] = "!#$%&'*+-.^_`|~";
    if (!nl)
        return false;
    for (size_t i = 0; i < nl; i++)
        if (!(n[i] >= '0' && n[i] <= '9') && !(n[i] >= 'a' && n[i] <= 'z') &&
            !(n[i] >= 'A' && n[i] <= 'Z') && !(n[i] && strchr(tch, n[i])))
            return false;
    for (size_t i = 0; i < vl; i++)
        if (!v[i] || v[i] == '\r' || v[i] == '\n')
            return false;
    return true;
}

static void add(want *w, const char *n, size_t nl, const char *v, size_t vl)
{
    if (w->n < MAXF)
        w->f[w->n++] = (field){n, v, nl, vl};
}

/* The reference reading of a message h2_submit_h1 accepted: pseudo-headers
 * first (:method, :scheme, :authority, :path), then the other fields.
 * false when a field is one HTTP/2 cannot carry (nothing to compare). */
static bool model(want *w, const char *m, size_t len)
{
    const char *end = m + len, *eol = crlf(m, end);
    const char *sp1 = memchr(m, ' ', (size_t)(eol - m));
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    field auth = {":authority", "", 10, 0};
    add(w, ":method", 7, m, (size_t)(sp1 - m));
    add(w, ":scheme", 7, "http", 4);
    add(w, ":authority", 10, "", 0);
    add(w, ":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    for (const char *p = eol + 2; (eol = crlf(p, end)) && eol != p; p = eol + 2) {
        const char *c = memchr(p, ':', (size_t)(eol - p)), *v = c + 1, *ve = eol;
        trim(&v, &ve);
        if (!valid(p, (size_t)(c - p), v, (size_t)(ve - v)))
            return false;
        if ((size_t)(c - p) == 4 && !strncasecmp(p, "host", 4))
            auth = (field){":authority", v, 10, (size_t)(ve - v)};
        else if (!hop(p, (size_t)(c - p)))
            add(w, p, (size_t)(c - p), v, (size_t)(ve - v));
    }
    w->f[2] = auth;
    w->body = (const uint8_t *)eol + 2;
    w->body_len = (size_t)((const uint8_t *)end - w->body);
    return w->n < MAXF;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                     const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
    (void)s, (void)f, (void)flags;
    got *g = ud;
    if (g->n < MAXF) {
        g->name[g->n] = malloc(nl + 1), g->value[g->n] = malloc(vl + 1);
        memcpy(g->name[g->n], n, nl), memcpy(g->value[g->n], v, vl);
        g->nlen[g->n] = nl, g->vlen[g->n] = vl;
        g->n++;
    }
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == 1)
        ((got *)ud)->headers = true;
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
                   void *ud)
{
    (void)s, (void)flags, (void)id;
    got *g = ud;
    if (g->body_len + len > g->w->body_len || memcmp(g->w->body + g->body_len, d, len))
        g->body_ok = false;
    g->body_len += len;
    return 0;
}

/* nghttp2 found the request malformed (it will reset the stream). */
static int on_invalid(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud)
{
    (void)s, (void)f, (void)lib_error;
    ((got *)ud)->rejected = true;
    return 0;
}

/* The fields the server received are the model's, in order; names lowercased. */
static void check(const want *w, const got *g)
{
    if (g->n != w->n)
        abort();
    for (size_t i = 0; i < w->n; i++) {
        if (g->nlen[i] != w->f[i].nlen || g->vlen[i] != w->f[i].vlen ||
            strncasecmp(g->name[i], w->f[i].name, w->f[i].nlen) ||
            memcmp(g->value[i], w->f[i].value, w->f[i].vlen))
            abort();
    }
    if (!g->body_ok || g->body_len != w->body_len)
        abort();
}

static void serve(const buf *out, const want *w)
{
    got g = {.w = w, .body_ok = true};
    nghttp2_session_callbacks *cb;
    nghttp2_session *srv;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid);
    nghttp2_session_server_new(&srv, cb, &g);
    ssize_t n = nghttp2_session_mem_recv(srv, (const uint8_t *)out->data, out->len);
    if (n != (ssize_t)out->len) /* volley's frames broke the connection */
        abort();
    if (g.headers && !g.rejected)
        check(w, &g);
    for (size_t i = 0; i < g.n; i++)
        free(g.name[i]), free(g.value[i]);
    nghttp2_session_del(srv);
    nghttp2_session_callbacks_del(cb);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n > 60000) /* the body must fit the default 65,535-byte window */
        return 0;
    h2_callbacks cb = {.on_close = on_close};
    err e = {0};
    h2_session *s = h2_session_new(&cb, 1u << 20, &e);
    if (!s)
        return 0;
    char *msg = malloc(n ? n : 1);
    memcpy(msg, d, n);
    h2_stream st = {0};
    int rc = h2_submit_h1(s, "http", msg, n, &st);
    if (rc != 0 && rc != VOLLEY_EPARSE)
        abort();
    want *w = calloc(1, sizeof *w);
    if (rc == 0 && model(w, msg, n)) {
        buf out = {0};
        while (h2_flush(s, &out, 1u << 20) > 0)
            ;
        serve(&out, w);
        buf_free(&out);
    }
    free(w);
    h2_session_free(s);
    free(msg);
    return 0;
}
