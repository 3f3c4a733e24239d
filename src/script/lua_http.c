/* lua_http: the script's http.* (C.http in the prelude). The request is
 * built here and sent through load/exchange, the same exchange a URL run
 * uses, so timings, error kinds, the stale-connection retry and address
 * fallback are the same in both; this file adds what only a script needs:
 * a keep-alive pool per VU (by scheme://host:port), header and body
 * capture, the response table, and a wrk script's pipeline (several
 * requests of one request() string on one connection, one write). */
#include "script/lua_http.h"

#include "core/buf.h"
#include "core/clock.h"
#include "load/exchange.h"
#include "proto/redirect.h"
#include "net/tls.h"
#include "script/lua_args.h"
#include "script/lua_plan.h"
#include "script/lua_response.h"
#include "script/lua_worker.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_DEFAULT_TIMEOUT_NS (60 * NS_PER_S)
#define HTTP_BODY_MAX (64u << 20)
#define MAX_HEADERS 64
#define VU_POOL 4            /* keep-alive connections per VU */
#define VU_LINE_BYTES 8192   /* longest response header line kept */

typedef struct hconn {
    xch_conn xc;
    bool ready;              /* xc was initialised */
    char key[320];           /* "http://host:port" */
    uint64_t last_use;
} hconn;

/* One request of a VU's call and what came back: its capture (headers,
 * body), outcome and statistics name. */
typedef struct vu_call {
    vu_http *h;
    xch_req x;
    http1_callbacks cb;
    char method[16];
    size_t off;              /* a pipeline's: where its bytes start in vu_http.req */
    buf body, hdrs;          /* hdrs: "name\0value\0" pairs */
    bool truncated;
    bool set_cookie;         /* the response has a Set-Cookie header */
    uint64_t done_ns;
    int status;
    const char *proto;       /* "HTTP/1.1", "HTTP/2" (static), NULL: not sent */
    int err_kind;            /* -1: a response */
    char err[200];
    char name[160];          /* per-name statistics: params.name or the URL sans query */
    bool name_is_url;        /* name is built_url's (no params.name) */
    size_t name_idx;         /* name's place in the worker's script_results (+1; 0: unknown) */
} vu_call;

/* The one HTTP call a VU may have in flight (one request, or a wrk
 * pipeline of several on one connection), and its pool. */
struct vu_http {
    lua_vu *vu;
    hconn *hc;
    hconn pool[VU_POOL];
    url u;
    buf req;
    vu_call one;             /* http.* and a wrk request() of one request */
    vu_call *pipe;           /* a wrk pipeline: pipe[0..npipe) (pipe_cap made) */
    xch_req **pipe_x;        /* &pipe[i].x, for xch_submit_all */
    uint32_t npipe, pipe_cap;
    uint32_t pending;        /* requests of the call without an outcome yet */
    buf call_url;            /* C.http's URL, for res._r */
    uint64_t body_max;
    bool in_flight;
    bool discard_body;       /* params.raw = "discard": the body is not kept (wrk, no response()) */
    bool own_result;         /* http_get: its continuation makes the response (no results pushed) */
    /* The request last built: a VU calling http.get(URL) in a loop sends
     * the same bytes every time, so they are built once. */
    char built_url[512];
    size_t built_url_len;
    char built_key[320];
    bool built_plain;        /* h->req has no body and no user headers */
    bool built_head, built_idem; /* HEAD; an idempotent method */
    xch_target *built_t;     /* its target, valid while targets.gen is built_gen */
    uint32_t built_gen;
};

/* ---- targets: resolved once per host and worker ---- */

xch_target *lua_http_target(lua_worker *w, const url *u, err *e)
{
    char key[320];
    snprintf(key, sizeof key, "%s://%s:%u", u->scheme, u->host, (unsigned)u->port);
    lua_targets *tc = lua_worker_targets(w);
    for (uint32_t i = 0; i < tc->n; i++)
        if (!strcmp(tc->key[i], key))
            return &tc->t[i];
    /* Once per host and worker: a blocking lookup is acceptable here. */
    uint32_t slot = tc->n < LUA_TARGETS ? tc->n : (uint32_t)((*lua_worker_rng(w))++ % LUA_TARGETS);
    xch_target t;
    int rc = xch_target_resolve(&t, u, lua_worker_context(w)->route, "url", e);
    if (rc)
        return NULL;
    const lua_worker_ctx *ctx = lua_worker_context(w);
    /* WebSocket stays on HTTP/1.1 (no RFC 8441): wss:// has its own TLS
     * context offering only http/1.1, and never h2c. */
    bool ws = !strcmp(u->scheme, "ws") || !strcmp(u->scheme, "wss");
    t.tls = u->tls ? (ws ? ctx->ws_tls : ctx->tls) : NULL;
    t.h2c = !ws && !t.tls && ctx->h2c;
    t.h2_only = !ws && t.tls && ctx->h2_only;
    if (t.tls)
        tls_client_ctx_prepare(t.tls); /* the trust store, before any timing */
    /* --share-tls-sessions, but not in a slot taken from another host: its
     * open connections may still file their tickets there. */
    t.share_session = t.tls && ctx->share_tls_sessions && slot == tc->n;
    t.share = (conn_tls_share){0};
    if (slot == tc->n) {
        tc->n++;
    } else {
        tc->gen++; /* a cached target pointer may now be another host's */
        t.share.session = tc->t[slot].share.session; /* freed with the worker */
    }
    tc->t[slot] = t;
    snprintf(tc->key[slot], sizeof tc->key[slot], "%s", key);
    return &tc->t[slot];
}

/* ---- outcome ---- */

/* Per-name statistics (script_results), beside the scenario's shard. */
static void record_name(vu_call *c, const xch_outcome *o, const metrics_shard *sh)
{
    script_results *res = lua_worker_results(c->h->vu->w);
    script_name *n;
    if (c->name_idx) {
        n = &res->names[c->name_idx - 1];
    } else {
        if (!(n = script_results_name(res, c->name)))
            return;
        c->name_idx = (size_t)(n - res->names) + 1; /* names only grow */
    }
    n->requests++;
    n->bytes_in += o->bytes_in;
    /* Failed as the shard judged it (--ok-status). */
    n->failures += o->err >= 0 || !metrics_status_ok(sh->ok, o->status);
    hist_record(n->latency, o->latency_ns);
    if (o->err < 0)
        hist_record(n->ttfb, o->ttfb_ns);
}

/* --cold: the run's first successful response (any thread) is the cold one. */
static void note_cold(script_cold *c, const xch_outcome *o)
{
    if (atomic_load_explicit(&c->done_ns, memory_order_relaxed))
        return;
    atomic_fetch_add_explicit(&c->attempts, 1, memory_order_relaxed);
    uint64_t zero = 0;
    if (o->err < 0 && o->status < 400 &&
        atomic_compare_exchange_strong(&c->done_ns, &zero, o->done_ns)) {
        c->latency_ns = o->latency_ns;
        c->status = o->status;
    }
}

static void on_outcome(xch_req *r, const xch_outcome *o)
{
    vu_call *c = r->owner;
    vu_http *h = c->h;
    record_name(c, o, r->shard);
    if (lua_worker_context(h->vu->w)->cold)
        note_cold(lua_worker_context(h->vu->w)->cold, o);
    lua_worker_raw(h->vu, r, o);
    c->done_ns = o->done_ns;
    c->err_kind = o->err;
    c->status = o->err < 0 ? o->status : 0;
    c->proto = o->proto;
    c->set_cookie = o->err < 0 && o->set_cookie;
    if (o->err >= 0)
        snprintf(c->err, sizeof c->err, "%s", o->msg);
    /* A pipeline wakes its VU with its last outcome. */
    if (h->pending && --h->pending)
        return;
    h->in_flight = false;
    h->hc->last_use = o->done_ns;
    h->hc = NULL;
    lua_vu_wake(h->vu);
}

/* The response's head bytes, kept as they came (one copy per read, not
 * one per header line): split into header lines only when the script
 * reads res.headers (proto/http1's http1_head_split). */
static void on_head_raw(void *ctx, const char *data, size_t len)
{
    vu_call *h = ctx;
    if (buf_append(&h->hdrs, data, len))
        h->truncated = true;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    vu_call *c = ctx;
    if (c->h->discard_body)
        return;
    if (c->body.len + len > c->h->body_max) {
        c->truncated = true;
        return;
    }
    if (buf_append(&c->body, data, len))
        c->truncated = true;
}

/* ---- the pool ---- */

/* The VU's pooled connection for key: an open one, a free slot, or the
 * least recently used (closed first). */
static hconn *pool_take(vu_http *h, const char *key, xch_target *t)
{
    lua_worker *w = h->vu->w;
    hconn *lru = NULL, *free_slot = NULL;
    for (int i = 0; i < VU_POOL; i++) {
        hconn *hc = &h->pool[i];
        if (hc->ready && xch_is_open(&hc->xc) && !strcmp(hc->key, key) && hc->xc.t == t)
            return hc;
        if ((!hc->ready || !xch_is_open(&hc->xc)) && !free_slot)
            free_slot = hc;
        if (!lru || hc->last_use < lru->last_use)
            lru = hc;
    }
    hconn *hc = free_slot ? free_slot : lru;
    if (!hc->ready) {
        xch_conn_init(&hc->xc, lua_worker_xch(w), t);
        hc->ready = true;
    } else if (strcmp(hc->key, key) || hc->xc.t != t) {
        /* A new host for this slot: its TLS session belongs to the old one. */
        xch_conn_retarget(&hc->xc, t);
    } else {
        xch_close(&hc->xc, false);
    }
    snprintf(hc->key, sizeof hc->key, "%s", key);
    return hc;
}

/* Points c's exchange request and capture at c (again after c moved). */
static void call_link(vu_http *h, vu_call *c)
{
    c->h = h;
    c->cb = (http1_callbacks){.on_head_raw = on_head_raw, .on_body = on_body, .ctx = c,
                              .line_cap = VU_LINE_BYTES};
    c->x.owner = c;
    c->x.on_done = on_outcome;
    c->x.cb = &c->cb;
}

static vu_http *http_state(lua_vu *vu)
{
    if (!vu->http) {
        vu_http *h = calloc(1, sizeof *h);
        if (!h)
            return NULL;
        h->vu = vu;
        call_link(h, &h->one);
        vu->http = h;
    }
    return vu->http;
}

/* A call's request and capture made ready for a new request. */
static void call_reset(vu_call *c)
{
    buf_reset(&c->body);
    buf_reset(&c->hdrs);
    c->truncated = false;
    c->set_cookie = false;
    c->err[0] = 0;
    c->err_kind = -1;
    c->status = 0;
}

/* ---- the call ---- */

/* Header pairs from params.headers (table at idx); strings stay on L's
 * stack inside the table while the request is built. */
size_t lua_http_headers(lua_State *L, int params, http1_header *hv, size_t max)
{
    size_t n = 0;
    if (!lua_istable(L, params))
        return 0;
    lua_getfield(L, params, "headers");
    int t = lua_gettop(L);
    if (lua_istable(L, t)) {
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (n < max && lua_type(L, -2) == LUA_TSTRING) {
                if (lua_type(L, -1) != LUA_TSTRING) {
                    lua_pushvalue(L, -1);
                    luaL_tolstring(L, -1, NULL);
                    lua_replace(L, -3);
                    lua_pop(L, 1);
                }
                hv[n].name = lua_tostring(L, -2);
                hv[n].value = lua_tostring(L, -1);
                n++;
            }
            lua_pop(L, 1);
        }
    }
    /* The headers table stays at t (anchoring its strings) until return. */
    return n;
}

/* Parses the URL and builds the request bytes into h->req. */
static void build_request(lua_State *L, vu_http *h, const char *method, const char *urls)
{
    size_t blen = 0;
    const char *body = lua_isnoneornil(L, 3) ? NULL : luaL_checklstring(L, 3, &blen);
    err e;
    if (addr_parse_url(urls, "url", &h->u, &e))
        luaL_error(L, "http: %s", e.msg);
    if (strcmp(h->u.scheme, "http") && strcmp(h->u.scheme, "https"))
        luaL_error(L, "http: '%s' is not an http:// or https:// URL", urls);
    if (h->u.tls && !lua_worker_context(h->vu->w)->tls)
        luaL_error(L, "http: https:// is not available in this build of volley");
    if (strlen(method) >= sizeof h->one.method)
        luaL_error(L, "http: bad method");
    snprintf(h->one.method, sizeof h->one.method, "%s", method);
    /* params.raw (wrk scripts, script/lua_wrk): the body is the whole
     * request, sent as the script made it; raw = "discard": the response's
     * body is not kept (wrk reads bodies only for a response() hook). */
    int rt = lua_istable(L, 4) ? lua_getfield(L, 4, "raw") : LUA_TNIL;
    bool raw = rt != LUA_TNIL;
    h->discard_body = rt == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "discard");
    if (lua_istable(L, 4))
        lua_pop(L, 1);
    if (raw) {
        h->built_plain = false;
        buf_reset(&h->req);
        if (buf_append(&h->req, body, blen))
            luaL_error(L, "http: out of memory");
        return;
    }
    http1_header hv[MAX_HEADERS];
    size_t nh = lua_http_headers(L, 4, hv, MAX_HEADERS);
    /* Reusable as is when the script gave no body and no headers (the
     * run's default headers are the same for every request). */
    h->built_plain = !body && nh == 0;
    /* volley run -H: default headers, a request's own win. */
    nh = lua_plan_http_headers(lua_worker_context(h->vu->w)->plan, hv, nh, MAX_HEADERS);
    buf_reset(&h->req);
    /* Through an http proxy the request target is the absolute URL. */
    char absolute[sizeof h->u.path + 320];
    bool abs_form = route_absolute_form(lua_worker_context(h->vu->w)->route, &h->u, absolute, sizeof absolute);
    http1_request_spec spec = {
        .method = method, .host = h->u.hostport, .path = abs_form ? absolute : h->u.path,
        .headers = hv,
        .nheaders = nh, .body = body, .body_len = blen, .keepalive = true,
    };
    if (http1_request_build(&spec, &h->req, &e))
        luaL_error(L, "http: %s", e.msg);
}

/* The same method and URL as the request in h->req, with no body and no
 * headers: the bytes (and the parsed URL) can be sent again as they are. */
static bool same_request(lua_State *L, const vu_http *h, const char *method, const char *urls,
                         size_t ulen)
{
    if (!h->built_url_len || h->built_url_len != ulen || !lua_isnoneornil(L, 3) ||
        strcmp(method, h->one.method) || memcmp(urls, h->built_url, ulen))
        return false;
    if (!lua_istable(L, 4))
        return true;
    bool plain = lua_getfield(L, 4, "headers") == LUA_TNIL;
    lua_pop(L, 1);
    return plain;
}

/* The name of the call's statistics: params.name, else the URL without its
 * query, so that ids in query strings do not make a name each. Kept (with
 * its place in the results) while it does not change. */
static void set_name(vu_call *h, const char *pname, const char *urls, bool same)
{
    if (pname) {
        if (h->name_is_url || strcmp(h->name, pname)) {
            snprintf(h->name, sizeof h->name, "%s", pname);
            h->name_idx = 0;
        }
        h->name_is_url = false;
    } else if (!same || !h->name_is_url) {
        snprintf(h->name, sizeof h->name, "%.*s", (int)strcspn(urls, "?#"), urls);
        h->name_idx = 0;
        h->name_is_url = true;
    }
}

/* The target of the request in h->req (same: built before, cached). */
static xch_target *request_target(vu_http *h, bool same, const char *urls, size_t ulen, err *e)
{
    lua_worker *w = h->vu->w;
    if (same && h->built_t && h->built_gen == lua_worker_targets(w)->gen)
        return h->built_t;
    if (!same)
        snprintf(h->built_key, sizeof h->built_key, "%s://%s:%u", h->u.scheme, h->u.host,
                 (unsigned)h->u.port);
    xch_target *t = lua_http_target(w, &h->u, e);
    if (!t)
        return NULL;
    h->built_t = t;
    h->built_gen = lua_worker_targets(w)->gen;
    if (!same && ulen < sizeof h->built_url && h->built_plain) {
        memcpy(h->built_url, urls, ulen);
        h->built_url_len = ulen;
    }
    return t;
}

/* Sends method urls (the body at index 3, params at 4, both may be none)
 * and leaves the VU waiting for the response. */
static void http_start(lua_State *L, lua_vu *vu, vu_http *h, const char *method, const char *urls,
                       size_t ulen)
{
    lua_worker *w = vu->w;
    bool same = same_request(L, h, method, urls, ulen);
    if (!same) {
        h->built_url_len = 0;
        build_request(L, h, method, urls);
        h->built_head = !strcmp(method, "HEAD");
        h->built_idem = xch_method_idempotent(method);
    }
    /* volley run --timeout: the default of every http.* request. */
    const lua_plan *lp = lua_worker_context(w)->plan;
    uint64_t timeout_ns = lp->http_timeout_ns ? lp->http_timeout_ns : HTTP_DEFAULT_TIMEOUT_NS;
    const char *pname = NULL;
    bool params = lua_istable(L, 4);
    if (params) {
        lua_getfield(L, 4, "name");
        if (!lua_isnil(L, -1) && !(pname = lua_tostring(L, -1)))
            luaL_error(L, "http: params.name must be a string");
        lua_pop(L, 1);
    }
    set_name(&h->one, pname, urls, same);
    if (params) {
        lua_getfield(L, 4, "timeout");
        timeout_ns = lua_args_duration(L, -1, "timeout", timeout_ns);
        lua_pop(L, 1);
    }
    err e;
    xch_target *t = request_target(h, same, urls, ulen, &e);
    if (!t)
        luaL_error(L, "http: %s", e.msg);
    call_reset(&h->one);
    h->body_max = HTTP_BODY_MAX;
    h->npipe = 0;
    h->pending = 1;
    h->in_flight = true;
    xch_req *x = &h->one.x;
    x->data = h->req.data;
    x->len = h->req.len;
    x->head = h->built_head;
    x->idempotent = h->built_idem;
    x->intended_ns = loop_update_now(vu->lp);
    x->timeout_ns = timeout_ns;
    x->shard = vu->shard;
    h->hc = pool_take(h, h->built_key, t);
    vu->wait = VW_HTTP;
    xch_submit(&h->hc->xc, x);
}

/* C.http(method, url, body, params): yields; resumed with the results of
 * lua_http_push_result. */
int lua_http_call(lua_State *L)
{
    lua_vu *vu = lua_args_need_vu(L, "http.request");
    const char *method = luaL_checkstring(L, 1);
    size_t ulen;
    const char *urls = luaL_checklstring(L, 2, &ulen);
    vu_http *h = http_state(vu);
    if (!h)
        return luaL_error(L, "out of memory");
    h->own_result = false;
    buf_reset(&h->call_url);
    if (buf_append(&h->call_url, urls, ulen))
        return luaL_error(L, "out of memory");
    http_start(L, vu, h, method, urls, ulen);
    return lua_yield(L, 0);
}

/* ---- a wrk pipeline: several requests, one write ---- */

/* Room for n calls in h->pipe (no call is in flight). */
static int pipe_reserve(vu_http *h, uint32_t n)
{
    if (n <= h->pipe_cap)
        return 0;
    xch_req **px = realloc(h->pipe_x, n * sizeof *px);
    if (!px)
        return -1;
    h->pipe_x = px;
    vu_call *p = realloc(h->pipe, n * sizeof *p);
    if (!p)
        return -1;
    memset(p + h->pipe_cap, 0, (n - h->pipe_cap) * sizeof *p);
    h->pipe = p;
    h->pipe_cap = n;
    for (uint32_t i = 0; i < n; i++) {
        call_link(h, &p[i]); /* they moved */
        px[i] = &p[i].x;
    }
    return 0;
}

/* Field k of the request table at the top of L's stack, a string. */
static const char *pipe_field(lua_State *L, lua_Integer i, const char *k, size_t *len)
{
    lua_getfield(L, -1, k);
    const char *v = lua_tolstring(L, -1, len);
    if (!v)
        luaL_error(L, "wrk pipeline: request %d has no %s", (int)i, k);
    lua_pop(L, 1);
    return v;
}

/* Copies the requests of the list at index 1 into h->req and the calls. */
static void pipe_build(lua_State *L, vu_http *h, uint32_t n, const char *params_raw)
{
    buf_reset(&h->req);
    h->built_url_len = 0; /* h->req no longer holds http.*'s last request */
    for (uint32_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        if (!lua_istable(L, -1))
            luaL_error(L, "wrk pipeline: request %d is not a table", (int)i + 1);
        vu_call *c = &h->pipe[i];
        size_t ml, ul, bl;
        const char *m = pipe_field(L, i + 1, "method", &ml);
        const char *u = pipe_field(L, i + 1, "url", &ul);
        const char *b = pipe_field(L, i + 1, "bytes", &bl);
        if (ml >= sizeof c->method)
            luaL_error(L, "wrk pipeline: request %d: bad method", (int)i + 1);
        memcpy(c->method, m, ml + 1);
        set_name(c, NULL, u, c->name_is_url && !strncmp(c->name, u, strcspn(u, "?#")) &&
                                 !c->name[strcspn(u, "?#")]);
        if (i == 0) {
            err e;
            if (addr_parse_url(u, "url", &h->u, &e))
                luaL_error(L, "wrk pipeline: %s", e.msg);
        }
        c->off = h->req.len;
        c->x.len = bl;
        if (buf_append(&h->req, b, bl))
            luaL_error(L, "http: out of memory");
        lua_pop(L, 1);
    }
    h->discard_body = params_raw && !strcmp(params_raw, "discard");
    for (uint32_t i = 0; i < n; i++)
        h->pipe[i].x.data = h->req.data + h->pipe[i].off; /* h->req is whole */
}

/* C.pipe(list, params): wrk's pipelining. list[i] = {method, url, bytes}
 * (the bytes as the script made them), all on the first one's host: they
 * go on one connection, in one write (load/exchange's HTTP/1.1
 * pipelining), each timed and counted as its own request. Returns
 * status, body, raw for each, in order (status 0: failed). */
int lua_http_pipeline(lua_State *L)
{
    lua_vu *vu = lua_args_need_vu(L, "request()");
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1 || n > LUA_HTTP_PIPE_MAX)
        return luaL_error(L, "request(): %d requests in one string (a pipeline holds 1 to %d)",
                          (int)n, LUA_HTTP_PIPE_MAX);
    const char *raw = NULL;
    if (lua_istable(L, 2) && lua_getfield(L, 2, "raw") == LUA_TSTRING)
        raw = lua_tostring(L, -1);
    vu_http *h = http_state(vu);
    if (!h || pipe_reserve(h, (uint32_t)n))
        return luaL_error(L, "out of memory");
    lua_settop(L, 2);
    pipe_build(L, h, (uint32_t)n, raw);
    err e;
    xch_target *t = lua_http_target(vu->w, &h->u, &e);
    if (!t)
        return luaL_error(L, "http: %s", e.msg);
    char key[320];
    snprintf(key, sizeof key, "%s://%s:%u", h->u.scheme, h->u.host, (unsigned)h->u.port);
    const lua_plan *lp = lua_worker_context(vu->w)->plan;
    uint64_t now = loop_update_now(vu->lp);
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        vu_call *c = &h->pipe[i];
        call_reset(c);
        c->x.head = !strcmp(c->method, "HEAD");
        c->x.idempotent = xch_method_idempotent(c->method);
        c->x.intended_ns = now; /* one write: each latency from the same start */
        c->x.timeout_ns = lp->http_timeout_ns ? lp->http_timeout_ns : HTTP_DEFAULT_TIMEOUT_NS;
        c->x.shard = vu->shard;
    }
    h->body_max = HTTP_BODY_MAX;
    h->npipe = (uint32_t)n;
    h->pending = (uint32_t)n;
    h->own_result = false;
    h->in_flight = true;
    h->hc = pool_take(h, key, t);
    vu->wait = VW_HTTP;
    xch_submit_all(&h->hc->xc, h->pipe_x, (uint32_t)n);
    return lua_yield(L, 0);
}

/* ---- the result ---- */

/* res._r (the raw string of script/lua_response.h), built in the call's buffer h->hdrs: the
 * timings, the method, the protocol and the URL (urls, url_len bytes;
 * NULL: "") go in front of the head captured there. */
static void push_raw(lua_State *co, vu_call *h, bool ok, const char *urls, size_t url_len)
{
    const xch_req *x = &h->x;
    uint64_t dec = ok ? x->decode_ns : 0;
    double t[LUA_T_COUNT] = {
        /* decoding (--compressed) is the client's time, not in duration */
        [LUA_T_DURATION] = lua_args_ms(h->done_ns - x->intended_ns - dec),
        [LUA_T_CONNECTING] = lua_args_ms(x->connect_ns),
        [LUA_T_SENDING] = 0,
        [LUA_T_WAITING] = lua_args_ms(ok && x->first_byte_ns > x->sent_ns ? x->first_byte_ns - x->sent_ns : 0),
        [LUA_T_RECEIVING] = lua_args_ms(ok && h->done_ns > x->first_byte_ns + dec ? h->done_ns - x->first_byte_ns - dec : 0),
        /* sent to the first body byte (first chunk, SSE event, token) */
        [LUA_T_FIRST_BODY] = lua_args_ms(ok && x->first_body_ns > x->sent_ns ? x->first_body_ns - x->sent_ns : 0),
        [LUA_T_DECODING] = lua_args_ms(dec),
    };
    const char *proto = h->proto ? h->proto : "";
    if (!urls)
        urls = "", url_len = 0;
    size_t ml = strlen(h->method), pl = strlen(proto), hl = ok ? h->hdrs.len : 0;
    size_t pre = sizeof t + ml + 1 + pl + 1 + url_len + 1;
    if (buf_reserve(&h->hdrs, pre)) {
        lua_pushlstring(co, (const char *)t, sizeof t); /* timings only */
    } else {
        char *d = h->hdrs.data;
        memmove(d + pre, d, hl);
        memcpy(d, t, sizeof t);
        char *p = d + sizeof t;
        memcpy(p, h->method, ml + 1);
        p += ml + 1;
        memcpy(p, proto, pl + 1);
        p += pl + 1;
        memcpy(p, urls, url_len);
        p[url_len] = 0;
        lua_pushlstring(co, d, pre + hl);
    }
}

/* A pipeline's results: status (0: failed), body and raw string of each
 * request, in order. */
static int push_pipe_results(lua_State *co, vu_http *h)
{
    luaL_checkstack(co, (int)(3 * h->npipe), "wrk: pipeline results");
    for (uint32_t i = 0; i < h->npipe; i++) {
        vu_call *c = &h->pipe[i];
        bool ok = c->err_kind < 0;
        lua_pushinteger(co, ok ? c->status : 0);
        lua_pushlstring(co, c->body.data ? c->body.data : "", c->body.len);
        push_raw(co, c, ok, NULL, 0);
    }
    return (int)(3 * h->npipe);
}

/* The call returns status, body, raw (with the URL and protocol), set_cookie,
 * then error, error_code and truncated only when there is one of them (nil
 * when not so); the prelude makes the response table with one table
 * constructor, with three fields when the last three are nil (a nil field
 * costs a table store all the same). */
int lua_http_push_result(lua_State *co, lua_vu *vu)
{
    if (vu->http->own_result)
        return 0;
    if (vu->http->npipe)
        return push_pipe_results(co, vu->http);
    vu_call *h = &vu->http->one;
    bool ok = h->err_kind < 0;
    lua_pushinteger(co, ok ? h->status : 0);
    lua_pushlstring(co, h->body.data ? h->body.data : "", h->body.len);
    push_raw(co, h, ok, vu->http->call_url.data, vu->http->call_url.len);
    if (ok && h->set_cookie)
        lua_pushboolean(co, 1);
    else
        lua_pushnil(co);
    if (ok && !h->truncated)
        return 4;
    if (!ok) {
        lua_pushstring(co, h->err);
        lua_pushstring(co, metrics_err_kind_name((err_kind)h->err_kind));
    } else {
        lua_pushnil(co);
        lua_pushnil(co);
    }
    if (h->truncated)
        lua_pushboolean(co, 1);
    else
        lua_pushnil(co);
    return 8;
}

/* Upvalues of http_get: the worker (as every C.* function), the Response
 * metatable, then the response's field names, interned once. */
enum { UG_WORKER = 1, UG_RESPONSE, UG_STATUS, UG_BODY, UG_RAW, UG_ERROR, UG_CODE, UG_TRUNCATED,
       UG_COUNT = UG_TRUNCATED };

/* t[key] = the value at the top (t below it); key an upvalue. */
static void set_key(lua_State *L, int key)
{
    lua_pushvalue(L, lua_upvalueindex(key));
    lua_insert(L, -2);
    lua_rawset(L, -3);
}

/* http_get's continuation: the response table, made here (in C, with the
 * keys from upvalues) instead of from eight results, a Lua table
 * constructor and setmetatable: status, body and _r, with url and proto
 * in _r (read through __index); error, error_code and truncated when
 * there are. Then "more": nil, or 1 when the response set a cookie, 2 when
 * its status is a redirect (the prelude's request() goes on with it). */
static int http_get_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    vu_call *h = &lua_vu_of(L)->http->one;
    bool ok = h->err_kind < 0;
    bool plain = ok && !h->truncated;
    lua_createtable(L, 0, plain ? 3 : 6);
    lua_pushvalue(L, lua_upvalueindex(UG_STATUS));
    lua_pushinteger(L, ok ? h->status : 0);
    lua_rawset(L, -3);
    lua_pushvalue(L, lua_upvalueindex(UG_BODY));
    lua_pushlstring(L, h->body.data ? h->body.data : "", h->body.len);
    lua_rawset(L, -3);
    lua_pushvalue(L, lua_upvalueindex(UG_RAW));
    size_t ulen;
    const char *urls = lua_tolstring(L, 1, &ulen);
    push_raw(L, h, ok, urls, ulen);
    lua_rawset(L, -3);
    if (!plain) {
        if (!ok) {
            lua_pushstring(L, h->err);
            set_key(L, UG_ERROR);
            lua_pushstring(L, metrics_err_kind_name((err_kind)h->err_kind));
            set_key(L, UG_CODE);
        }
        if (h->truncated) {
            lua_pushboolean(L, 1);
            set_key(L, UG_TRUNCATED);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(UG_RESPONSE));
    lua_setmetatable(L, -2);
    if (ok && h->set_cookie)
        lua_pushinteger(L, 1);
    else if (ok && redirect_status(h->status))
        lua_pushinteger(L, 2);
    else
        return 1;
    return 2;
}

/* http_get(url): http.get(url) with no params (the prelude's plain case):
 * returns the response and "more" (see http_get_k); nil, 3 when url is not
 * a string (request() says what is wrong). */
static int http_get(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING) {
        lua_pushnil(L);
        lua_pushinteger(L, 3);
        return 2;
    }
    lua_vu *vu = lua_args_need_vu(L, "http.request");
    vu_http *h = http_state(vu);
    if (!h)
        return luaL_error(L, "out of memory");
    lua_settop(L, 1);
    size_t ulen;
    const char *urls = lua_tolstring(L, 1, &ulen);
    h->own_result = true;
    http_start(L, vu, h, "GET", urls, ulen);
    return lua_yieldk(L, 0, 0, http_get_k);
}

/* C.http_getter(Response): the http_get above, with its upvalues. */
int lua_http_getter(lua_State *L)
{
    static const char *const keys[] = {"status", "body", "_r", "error", "error_code",
                                       "truncated"};
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        lua_pushstring(L, keys[i]);
    lua_pushcclosure(L, http_get, UG_COUNT);
    return 1;
}

/* C.redirect(status, method, url, location): the next hop's URL, method
 * and whether the body goes along (proto/redirect), or nil when status is
 * not a redirect; C.redirect(): the default number of hops (--redirects). */
int lua_http_redirect(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_vu *vu = lua_args_need_vu(L, "http.request");
        lua_pushinteger(L, lua_worker_context(vu->w)->redirects);
        return 1;
    }
    int status = (int)luaL_checkinteger(L, 1);
    const char *method = luaL_checkstring(L, 2);
    const char *base = luaL_checkstring(L, 3);
    const char *loc = luaL_checkstring(L, 4);
    if (!redirect_status(status))
        return 0;
    char next[4200], m[32];
    bool keep_body;
    if (redirect_resolve(base, loc, next, sizeof next))
        return luaL_error(L, "http: redirect Location too long");
    redirect_method(status, method, m, &keep_body);
    lua_vu *vu = lua_args_need_vu(L, "http.request");
    vu->shard->tot.redirects++;
    lua_pushstring(L, next);
    lua_pushstring(L, m);
    lua_pushboolean(L, keep_body);
    return 3;
}

/* ---- cancel, free ---- */

void lua_http_cancel(lua_vu *vu)
{
    vu_http *h = vu->http;
    if (h && h->in_flight) {
        h->in_flight = false;
        if (h->hc)
            xch_cancel(&h->hc->xc);
        h->hc = NULL;
    }
}

void lua_http_vu_free(lua_vu *vu)
{
    vu_http *h = vu->http;
    if (!h)
        return;
    for (int i = 0; i < VU_POOL; i++)
        if (h->pool[i].ready) {
            xch_close(&h->pool[i].xc, true);
            xch_conn_release(&h->pool[i].xc); /* frees a kept TLS session */
        }
    buf_free(&h->req);
    buf_free(&h->one.body);
    buf_free(&h->one.hdrs);
    buf_free(&h->call_url);
    for (uint32_t i = 0; i < h->pipe_cap; i++) {
        buf_free(&h->pipe[i].body);
        buf_free(&h->pipe[i].hdrs);
    }
    free(h->pipe);
    free(h->pipe_x);
    free(h);
    vu->http = NULL;
}
