/* h2: HTTP/2 client session over libnghttp2 (see h2.h). nghttp2 keeps the
 * stream table and flow control; this file maps its callbacks to the
 * caller's h2_stream, builds request header lists and tells processed from
 * unprocessed streams when the server refuses or goes away. */
#include "proto/h2.h"

#include "core/pool.h"

#include <nghttp2/nghttp2.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NV 72 /* four pseudo-headers and the request's own headers */

struct h2_session {
    nghttp2_session *s;
    h2_callbacks cb;
    int32_t goaway_last; /* -1: no GOAWAY received */
    uint32_t open;       /* our streams not closed yet */
    uint32_t conn_error; /* the error code of a GOAWAY we sent, 0: none */
    bool sent_goaway;
    bool settings_seen;  /* the server's SETTINGS arrived */
    buf held;            /* frames drawn out early to learn a GOAWAY's code */
    struct h1_cache {    /* the last request head converted (h2_submit_h1) */
        char *head;      /* its bytes, up to and with the blank line */
        size_t head_len;
        nghttp2_nv *nv;  /* values as offsets into head; names in names */
        size_t n;
        char *names;
        int64_t clen;    /* its Content-Length (-1: none) */
        const char *scheme;
    } c1;
};

static const struct {
    uint32_t code;
    const char *name;
} error_names[] = {
    {0x0, "h2_no_error"},          {0x1, "h2_protocol_error"},
    {0x2, "h2_internal_error"},    {0x3, "h2_flow_control_error"},
    {0x4, "h2_settings_timeout"},  {0x5, "h2_stream_closed"},
    {0x6, "h2_frame_size_error"},  {0x7, "h2_refused_stream"},
    {0x8, "h2_cancel"},            {0x9, "h2_compression_error"},
    {0xa, "h2_connect_error"},     {0xb, "h2_enhance_your_calm"},
    {0xc, "h2_inadequate_security"}, {0xd, "h2_http_1_1_required"},
};

const char *h2_error_name(uint32_t code)
{
    for (size_t i = 0; i < sizeof error_names / sizeof error_names[0]; i++)
        if (error_names[i].code == code)
            return error_names[i].name;
    return "h2_error";
}

/* ---- nghttp2 callbacks ---- */

static h2_stream *stream_of(nghttp2_session *s, int32_t id)
{
    h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    return st && st->id == id ? st : NULL; /* not one h2_cancel let go */
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    (void)flags;
    h2_stream *st = stream_of(s, f->hd.stream_id);
    if (!st || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    /* What the head would be as HTTP/1.1 ("HTTP/1.1 200 \r\n", "name: value\r\n"
     * each, the blank line: counted with the status), so bytes compare
     * across protocols and HPACK's saving shows against the wire bytes. */
    if (namelen && name[0] == ':')
        st->header_bytes += namelen == 7 && !memcmp(name, ":status", 7) ? 15 + 2 : 0;
    else
        st->header_bytes += namelen + valuelen + 4;
    if (namelen == 7 && !memcmp(name, ":status", 7) && valuelen == 3) {
        int code = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        if (code >= 200) /* 1xx heads are interim: the final one follows */
            st->status = code;
    } else if (namelen && name[0] != ':' && st->status) {
        h2_session *h = ud;
        if (h->cb.on_field)
            h->cb.on_field(h->cb.ctx, st, (const char *)name, namelen, (const char *)value,
                           valuelen);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    h2_session *h = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        h->goaway_last = f->goaway.last_stream_id;
        if (h->cb.on_goaway)
            h->cb.on_goaway(h->cb.ctx, f->goaway.last_stream_id, f->goaway.error_code);
        return 0;
    }
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
        h->settings_seen = true;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2_stream *st = stream_of(s, f->hd.stream_id);
    /* The first HEADERS with a final status is the head; a 1xx before it
     * set no status, trailers after it find head_seen. */
    if (st && st->status && !st->head_seen) {
        st->head_seen = true;
        if (h->cb.on_head)
            h->cb.on_head(h->cb.ctx, st);
    }
    return 0;
}

/* A connection error found in what the server sent (its GOAWAY is queued):
 * the code that GOAWAY carries. */
static int on_error(nghttp2_session *s, int lib_error, const char *msg, size_t len, void *ud)
{
    (void)s, (void)msg, (void)len;
    h2_session *h = ud;
    if (h->conn_error)
        return 0;
    switch (lib_error) {
    case NGHTTP2_ERR_FRAME_SIZE_ERROR: h->conn_error = 0x6; break;
    case NGHTTP2_ERR_FLOW_CONTROL: h->conn_error = 0x3; break;
    case NGHTTP2_ERR_HEADER_COMP: h->conn_error = 0x9; break;
    case NGHTTP2_ERR_FLOODED: h->conn_error = 0xb; break;
    default: h->conn_error = 0x1; break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    h2_session *h = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        h->sent_goaway = true;
        if (f->goaway.error_code)
            h->conn_error = f->goaway.error_code;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    h2_session *h = ud;
    h2_stream *st = stream_of(s, id);
    if (!st)
        return 0;
    st->body_bytes += len;
    if (h->cb.on_body)
        h->cb.on_body(h->cb.ctx, st, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    h2_session *h = ud;
    h2_stream *st = stream_of(s, id);
    if (!st || st->id != id) /* cancelled (h2_cancel) */
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    h->open--;
    /* Above a GOAWAY's last stream id, or refused: never processed. */
    bool processed = !(code == H2_REFUSED_STREAM || (h->goaway_last >= 0 && id > h->goaway_last));
    if (!code && !st->status)
        code = 0x1; /* ended cleanly without a response head: a protocol error */
    if (h->cb.on_close)
        h->cb.on_close(h->cb.ctx, st, code, processed);
    return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s, (void)id, (void)ud;
    h2_stream *st = src->ptr;
    size_t left = st->body_len - st->body_off, n = left < len ? left : len;
    if (n)
        memcpy(dst, st->body + st->body_off, n);
    st->body_off += n;
    if (st->body_off == st->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---- nghttp2's memory: a per-thread core/pool ----
 *
 * nghttp2 allocates about eleven small blocks per stream (the stream, its
 * header fields, frames queued) and frees them when the stream closes; with
 * glibc's malloc that was ~190 instructions per allocation and free, 8 % of
 * a TLS request at -m 100 (callgrind). A session lives in one worker
 * thread, so its blocks come from that thread's pool (blocks up to 4 KiB,
 * 4 MiB kept at most), which goes when the thread ends. nghttp2 does not
 * say a block's size when it frees it: pool_give_any finds its class. */
#define H2_POOL_MAX 4096
#define H2_POOL_KEEP (4u << 20)

static __thread pool *t_pool;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static bool pool_key_ok;

static void pool_drop(void *p)
{
    pool_free(p);
    t_pool = NULL;
}

static void pool_key_init(void)
{
    pool_key_ok = !pthread_key_create(&pool_key, pool_drop);
}

/* This thread's pool; NULL (plain malloc and free) if it cannot have one. */
static pool *thread_pool(void)
{
    if (t_pool)
        return t_pool;
    pthread_once(&pool_once, pool_key_init);
    if (!pool_key_ok)
        return NULL;
    t_pool = pool_new(H2_POOL_MAX, H2_POOL_KEEP);
    if (t_pool && pthread_setspecific(pool_key, t_pool)) {
        pool_free(t_pool);
        t_pool = NULL;
    }
    return t_pool;
}

static void *pool_malloc(size_t size, void *ud)
{
    (void)ud;
    return pool_take(size <= H2_POOL_MAX ? thread_pool() : NULL, size);
}

static void pool_release(void *p, void *ud)
{
    (void)ud;
    if (p)
        pool_give_any(thread_pool(), p);
}

static void *pool_calloc(size_t n, size_t size, void *ud)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = pool_malloc(n * size, ud);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *pool_realloc(void *p, size_t size, void *ud)
{
    if (!p)
        return pool_malloc(size, ud);
    size_t cap = malloc_usable_size(p);
    if (size <= cap && size)
        return p;
    if (!size) {
        pool_release(p, ud);
        return NULL;
    }
    void *q = pool_malloc(size, ud);
    if (q) {
        memcpy(q, p, cap < size ? cap : size);
        pool_release(p, ud);
    }
    return q;
}

static nghttp2_mem pool_mem = {NULL, pool_malloc, pool_release, pool_calloc, pool_realloc};

/* ---- the session ---- */

h2_session *h2_session_new(const h2_callbacks *cb, uint32_t window_bytes, err *e)
{
    h2_session *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *c = NULL;
    nghttp2_option *opt = NULL;
    if (!h || nghttp2_session_callbacks_new(&c) || nghttp2_option_new(&opt)) {
        free(h);
        nghttp2_session_callbacks_del(c);
        err_set(e, VOLLEY_ENOMEM, "http2: out of memory");
        return NULL;
    }
    h->cb = *cb;
    h->goaway_last = -1;
    nghttp2_session_callbacks_set_on_header_callback(c, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, on_frame_send);
    nghttp2_session_callbacks_set_error_callback2(c, on_error);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
    /* A server that floods SETTINGS or PING gets GOAWAY, not our memory. */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    int rc = nghttp2_session_client_new3(&h->s, c, h, opt, &pool_mem);
    nghttp2_session_callbacks_del(c);
    nghttp2_option_del(opt);
    if (rc) {
        free(h);
        err_set(e, VOLLEY_ENOMEM, "http2: %s", nghttp2_strerror(rc));
        return NULL;
    }
    if (window_bytes > NGHTTP2_MAX_WINDOW_SIZE)
        window_bytes = NGHTTP2_MAX_WINDOW_SIZE;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window_bytes},
    };
    rc = nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 2);
    if (!rc && window_bytes > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
        rc = nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, (int32_t)window_bytes);
    if (rc) {
        h2_session_free(h);
        err_set(e, VOLLEY_ENOMEM, "http2: %s", nghttp2_strerror(rc));
        return NULL;
    }
    return h;
}

void h2_session_free(h2_session *h)
{
    if (!h)
        return;
    nghttp2_session_del(h->s);
    buf_free(&h->held);
    free(h->c1.head);
    free(h->c1.nv);
    free(h->c1.names);
    free(h);
}

static bool hop_by_hop(const char *name)
{
    static const char *const drop[] = {"connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade", "host", "te"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (!strcasecmp(name, drop[i]))
            return true;
    return false;
}

static int start_stream(h2_session *h, const nghttp2_nv *nv, size_t n, h2_stream *st)
{
    st->status = 0;
    st->head_seen = false;
    st->body_bytes = st->header_bytes = 0;
    st->body_off = 0;
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(h->s, NULL, nv, n, st->body_len ? &dp : NULL, st);
    if (id < 0)
        return VOLLEY_EINVAL;
    st->id = id;
    h->open++;
    return 0;
}

#define NV_STR(n, v)                                                                        \
    (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v),                     \
                 NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE}

int h2_submit(h2_session *h, const h2_request *rq, h2_stream *st)
{
    if (h2_closing(h) || h2_in_flight(h) >= h2_max_streams(h))
        return VOLLEY_EINVAL;
    nghttp2_nv nv[MAX_NV];
    char lname[MAX_NV][64];
    size_t n = 0;
    nv[n++] = NV_STR(":method", rq->method);
    nv[n++] = NV_STR(":scheme", rq->scheme);
    nv[n++] = NV_STR(":authority", rq->authority);
    nv[n++] = NV_STR(":path", rq->path);
    for (size_t i = 0; i < rq->nheaders && n < MAX_NV; i++) {
        const char *name = rq->headers[i].name;
        size_t len = strlen(name);
        if (hop_by_hop(name) || len >= sizeof lname[0])
            continue;
        for (size_t k = 0; k <= len; k++) /* HTTP/2 field names are lowercase */
            lname[n][k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        nv[n] = NV_STR(lname[n], rq->headers[i].value);
        nv[n].flags = NGHTTP2_NV_FLAG_NO_COPY_VALUE; /* the name copy is on our stack */
        n++;
    }
    return start_stream(h, nv, n, st);
}

/* ---- a request given as HTTP/1.1 bytes ---- */

static const char *line_end(const char *p, const char *end)
{
    for (const char *q = p; q + 1 < end; q++) {
        q = memchr(q, '\r', (size_t)(end - q));
        if (!q || q + 1 >= end)
            return NULL;
        if (q[1] == '\n')
            return q;
    }
    return NULL;
}

static bool hop_by_hop_n(const char *name, size_t len)
{
    static const char *const drop[] = {"connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade", "te"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strlen(drop[i]) == len && !strncasecmp(name, drop[i], len))
            return true;
    return false;
}

#define NV_LEN(n, nl, v, vl, fl) (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), (fl)}

/* Where h1_field puts fields: nv (first four are the pseudo-headers) and
 * the lowercased names (nghttp2 copies them). */
typedef struct nv_out {
    nghttp2_nv *nv;
    size_t n;
    char *names;
    size_t names_used;
    int64_t clen;          /* Content-Length given (-1: none, -2: unreadable) */
} nv_out;

/* A Content-Length value: its number, or -2 (not a number, or two that
 * disagree with what came before). */
static int64_t content_length(const char *v, size_t n, int64_t before)
{
    int64_t x = 0;
    if (!n || n > 15)
        return -2;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -2;
        x = x * 10 + (v[i] - '0');
    }
    return before == -1 || before == x ? x : -2;
}

/* One header line [p, eol) into o (name lowercased); Host goes to
 * :authority (o->nv[2]). */
static int h1_field(const char *p, const char *eol, nv_out *o)
{
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon || colon == p)
        return VOLLEY_EPARSE;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *ve = eol;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    if (nl == 4 && !strncasecmp(p, "host", 4)) {
        o->nv[2] = NV_LEN(":authority", 10, v, (size_t)(ve - v),
                          NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE);
        return 0;
    }
    if (hop_by_hop_n(p, nl))
        return 0;
    if (nl == 14 && !strncasecmp(p, "content-length", 14))
        o->clen = content_length(v, (size_t)(ve - v), o->clen);
    char *name = o->names + o->names_used;
    for (size_t k = 0; k < nl; k++)
        name[k] = (char)(p[k] >= 'A' && p[k] <= 'Z' ? p[k] + 32 : p[k]);
    o->names_used += nl;
    o->nv[o->n++] = NV_LEN(name, nl, v, (size_t)(ve - v), NGHTTP2_NV_FLAG_NO_COPY_VALUE);
    return 0;
}

/* The header lines after the request line: how many, their bytes, and
 * where the head ends (the body follows); -1 if the head is cut. */
static int h1_scan(const char *p, const char *end, size_t *lines, size_t *bytes,
                   const char **body)
{
    *lines = *bytes = 0;
    for (;;) {
        const char *eol = line_end(p, end);
        if (!eol)
            return -1;
        if (eol == p) {
            *body = eol + 2;
            return 0;
        }
        (*lines)++;
        *bytes += (size_t)(eol - p);
        p = eol + 2;
    }
}

#define NV_STACK 72
#define NAMES_STACK 2048

/* Keeps the head just converted (values as offsets into its own copy), so
 * that the next request with the same head (a URL run sends one head over
 * and over) skips the parse: ~600 instructions of a TLS request at -m 100.
 * Heads over HEAD_CACHE_MAX bytes are not kept. */
#define HEAD_CACHE_MAX 8192

static void cache_head(struct h1_cache *c, const char *msg, const char *body, const nv_out *o,
                       const char *scheme)
{
    size_t hl = (size_t)(body - msg), names = 0;
    if (hl > HEAD_CACHE_MAX || o->n > NV_STACK)
        return;
    for (size_t i = 4; i < o->n; i++)
        names += o->nv[i].namelen;
    char *head = malloc(hl), *nm = malloc(names + 1);
    nghttp2_nv *nv = malloc(o->n * sizeof *nv);
    if (!head || !nm || !nv) {
        free(head);
        free(nm);
        free(nv);
        return;
    }
    memcpy(head, msg, hl);
    size_t off = 0;
    for (size_t i = 0; i < o->n; i++) {
        nv[i] = o->nv[i];
        if (i >= 4) { /* a lowercased copy: into the cache's names */
            memcpy(nm + off, o->nv[i].name, o->nv[i].namelen);
            nv[i].name = (uint8_t *)nm + off;
            off += o->nv[i].namelen;
        }
        /* values inside the head become offsets; others (the scheme, an
         * empty :authority) are kept as they are */
        const char *v = (const char *)o->nv[i].value;
        if (v >= msg && v < body)
            nv[i].value = (uint8_t *)(uintptr_t)(v - msg);
        else if (i != 1 || v != scheme)
            nv[i].valuelen = SIZE_MAX; /* cannot be rebuilt: no caching */
    }
    for (size_t i = 0; i < o->n; i++)
        if (nv[i].valuelen == SIZE_MAX) {
            free(head);
            free(nm);
            free(nv);
            return;
        }
    free(c->head);
    free(c->nv);
    free(c->names);
    *c = (struct h1_cache){head, hl, nv, o->n, nm, o->clen, scheme};
}

/* The cached head when msg starts with it: the request's fields in nv
 * (values pointing into msg), its body after it. -1: not the same head. */
static int cached_head(const struct h1_cache *c, const char *scheme, const char *msg, size_t len,
                       nghttp2_nv *nv, const char **body)
{
    if (!c->head || scheme != c->scheme || len < c->head_len || c->n > NV_STACK ||
        memcmp(msg, c->head, c->head_len))
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        nv[i] = c->nv[i];
        if (i != 1)
            nv[i].value = (uint8_t *)msg + (uintptr_t)c->nv[i].value;
    }
    *body = msg + c->head_len;
    return 0;
}

int h2_submit_h1(h2_session *h, const char *scheme, const char *msg, size_t len, h2_stream *st)
{
    if (h2_closing(h) || h2_in_flight(h) >= h2_max_streams(h))
        return VOLLEY_EINVAL;
    nghttp2_nv cnv[NV_STACK];
    const char *cbody;
    if (!cached_head(&h->c1, scheme, msg, len, cnv, &cbody)) {
        if (h->c1.clen != -1 && h->c1.clen != (int64_t)(msg + len - cbody))
            return VOLLEY_EPARSE;
        st->body = cbody;
        st->body_len = (size_t)(msg + len - cbody);
        return start_stream(h, cnv, h->c1.n, st);
    }
    const char *end = msg + len, *eol = line_end(msg, end), *body;
    const char *sp1 = eol ? memchr(msg, ' ', (size_t)(eol - msg)) : NULL;
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    size_t lines, bytes;
    if (!sp2 || sp1 == msg || sp2 == sp1 + 1 || h1_scan(eol + 2, end, &lines, &bytes, &body))
        return VOLLEY_EPARSE;
    /* Every field goes (HTTP sets no limit on names or their number): on
     * the stack for an ordinary request, else on the heap for this call. */
    nghttp2_nv snv[NV_STACK];
    char snames[NAMES_STACK];
    bool heap = lines + 4 > NV_STACK || bytes > NAMES_STACK;
    nv_out o = {.nv = heap ? malloc((lines + 4) * sizeof *o.nv) : snv,
                .names = heap ? malloc(bytes + 1) : snames, .n = 4, .clen = -1};
    int rc = o.nv && o.names ? 0 : VOLLEY_ENOMEM;
    const uint8_t fl = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    if (!rc) {
        o.nv[0] = NV_LEN(":method", 7, msg, (size_t)(sp1 - msg), fl);
        o.nv[1] = NV_LEN(":scheme", 7, scheme, strlen(scheme), fl);
        o.nv[2] = NV_LEN(":authority", 10, "", 0, fl);
        o.nv[3] = NV_LEN(":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1), fl);
    }
    for (const char *p = eol + 2; !rc && p < body - 2; p = eol + 2) {
        eol = line_end(p, end);
        rc = h1_field(p, eol, &o);
    }
    if (!rc && !o.nv[2].valuelen)
        rc = VOLLEY_EPARSE; /* HTTP/1.1 needs Host; HTTP/2 needs :authority */
    /* A Content-Length that is not the body's length would make the stream
     * malformed (RFC 9113 8.1.1): not sent. */
    if (!rc && o.clen != -1 && o.clen != (int64_t)(end - body))
        rc = VOLLEY_EPARSE;
    if (!rc) {
        st->body = body;
        st->body_len = (size_t)(end - body);
        rc = start_stream(h, o.nv, o.n, st);
    }
    if (!rc)
        cache_head(&h->c1, msg, body, &o, scheme);
    if (heap) {
        free(o.nv);
        free(o.names);
    }
    return rc;
}

void h2_cancel(h2_session *h, h2_stream *st)
{
    if (st->id <= 0)
        return;
    /* A stream whose HEADERS are still queued has no user data yet: the
     * RST cancels the HEADERS, and nghttp2's close callback for it finds
     * st->id changed (stale). */
    if (nghttp2_session_get_stream_user_data(h->s, st->id) == st)
        nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
    h->open--;
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    st->id = -1;
}

bool h2_settings_seen(const h2_session *h)
{
    return h->settings_seen;
}

int h2_feed(h2_session *h, const uint8_t *data, size_t len)
{
    ssize_t n = nghttp2_session_mem_recv(h->s, data, len);
    if (n < 0 && !h->conn_error)
        h->conn_error = n == NGHTTP2_ERR_FLOODED ? 0xb : 0x1;
    /* nghttp2 found a connection error it reports only by queuing a
     * GOAWAY (a frame too large, ...): the frames up to that GOAWAY are
     * drawn out now (h2_flush still writes them) so its code is known
     * before the server's close can hide it. */
    if (!h->conn_error && h->goaway_last < 0 && !h->sent_goaway &&
        !nghttp2_session_check_request_allowed(h->s) &&
        nghttp2_session_get_next_stream_id(h->s) <= (1u << 31) - 1) {
        while (!h->sent_goaway) {
            const uint8_t *p;
            ssize_t k = nghttp2_session_mem_send(h->s, &p);
            if (k <= 0 || buf_append(&h->held, p, (size_t)k))
                break;
        }
        if (!h->conn_error)
            h->conn_error = 0x1;
    }
    return h->conn_error ? -1 : 0;
}

uint32_t h2_conn_error(const h2_session *h)
{
    return h->conn_error;
}

ssize_t h2_session_send(struct nghttp2_session *s, buf *out, size_t high_water)
{
    ssize_t added = 0;
    while (buf_unread(out) < high_water) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(s, &p);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (buf_append(out, p, (size_t)n))
            return -1;
        added += n;
    }
    return added;
}

ssize_t h2_flush(h2_session *h, buf *out, size_t high_water)
{
    ssize_t held = (ssize_t)buf_unread(&h->held);
    if (held) {
        if (buf_append(out, buf_rpos(&h->held), (size_t)held))
            return -1;
        buf_reset(&h->held);
    }
    ssize_t n = h2_session_send(h->s, out, high_water);
    return n < 0 ? n : n + held;
}

uint32_t h2_max_streams(const h2_session *h)
{
    return nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

uint32_t h2_in_flight(const h2_session *h)
{
    return h->open;
}

bool h2_closing(const h2_session *h)
{
    return h->goaway_last >= 0 || h->sent_goaway || !nghttp2_session_check_request_allowed(h->s) ||
           nghttp2_session_get_next_stream_id(h->s) > (1u << 31) - 2;
}

bool h2_done(const h2_session *h)
{
    return !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s);
}
