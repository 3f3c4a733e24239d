/* lua_http: the script's http.* (C.http in the prelude). The request is
 * built here and sent through load/exchange, the same exchange a URL run
 * uses, so timings, error kinds, the stale-connection retry and address
 * fallback are the same in both; this file adds what only a script needs:
 * a keep-alive pool per VU (by scheme://host:port), header and body
 * capture, and the response table. */
#include "script/lua_http.h"

#include "core/buf.h"
#include "core/clock.h"
#include "load/exchange.h"
#include "script/lua_args.h"
#include "script/lua_plan.h"
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

/* The one HTTP call a VU may have in flight, and its pool. */
struct vu_http {
    lua_vu *vu;
    hconn *hc;
    hconn pool[VU_POOL];
    url u;
    char method[16];
    buf req;
    xch_req x;
    http1_callbacks cb;
    char line[VU_LINE_BYTES];
    buf body, hdrs;          /* hdrs: "name\0value\0" pairs */
    uint64_t body_max;
    bool truncated, in_flight;
    bool set_cookie;         /* the response has a Set-Cookie header */
    /* The request last built: a VU calling http.get(URL) in a loop sends
     * the same bytes every time, so they are built once. */
    char built_url[512];
    size_t built_url_len;
    char built_key[320];
    bool built_plain;        /* h->req has no body and no user headers */
    uint64_t done_ns;
    int status;
    const char *proto;       /* "HTTP/1.1", "HTTP/2" (static), NULL: not sent */
    int err_kind;            /* -1: a response */
    char err[200];
    char name[160];          /* per-name statistics: params.name or the URL sans query */
};

/* ---- targets: resolved once per host and worker ---- */

xch_target *lua_http_target(lua_worker *w, const url *u, err *e)
{
    char key[320];
    snprintf(key, sizeof key, "%s://%s:%u", u->scheme, u->host, (unsigned)u->port);
    lua_targets *tc = &w->targets;
    for (uint32_t i = 0; i < tc->n; i++)
        if (!strcmp(tc->key[i], key))
            return &tc->t[i];
    /* Once per host and worker: a blocking lookup is acceptable here. */
    uint32_t slot = tc->n < LUA_TARGETS ? tc->n : (uint32_t)(w->rng++ % LUA_TARGETS);
    xch_target t;
    int rc = xch_target_resolve(&t, u, "url", e);
    if (rc)
        return NULL;
    t.tls = u->tls ? w->ctx->tls : NULL;
    t.h2c = !t.tls && w->ctx->h2c;
    t.h2_only = t.tls && w->ctx->h2_only;
    if (slot == tc->n)
        tc->n++;
    tc->t[slot] = t;
    snprintf(tc->key[slot], sizeof tc->key[slot], "%s", key);
    return &tc->t[slot];
}

/* ---- outcome ---- */

/* Per-name statistics (script_results), beside the scenario's shard. */
static void record_name(vu_http *h, const xch_outcome *o, const metrics_shard *sh)
{
    script_name *n = script_results_name(h->vu->w->res, h->name);
    if (!n)
        return;
    n->requests++;
    n->bytes_in += o->bytes_in;
    /* Failed as the shard judged it (--ok-status). */
    n->failures += o->err >= 0 || !metrics_status_ok(sh->ok, o->status);
    hist_record(n->latency, o->latency_ns);
    if (o->err < 0)
        hist_record(n->ttfb, o->ttfb_ns);
}

static void on_outcome(xch_req *r, const xch_outcome *o)
{
    vu_http *h = r->owner;
    record_name(h, o, r->shard);
    h->in_flight = false;
    h->done_ns = o->done_ns;
    h->err_kind = o->err;
    h->status = o->err < 0 ? o->status : 0;
    h->proto = o->proto;
    if (o->err >= 0)
        snprintf(h->err, sizeof h->err, "%s", o->msg);
    h->hc->last_use = o->done_ns;
    h->hc = NULL;
    lua_vu_wake(h->vu);
}

static void on_hdr(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    vu_http *h = ctx;
    if (nlen == 10 && !strncasecmp(name, "set-cookie", 10))
        h->set_cookie = true;
    if (buf_append(&h->hdrs, name, nlen) || buf_append(&h->hdrs, "", 1) ||
        buf_append(&h->hdrs, value, vlen) || buf_append(&h->hdrs, "", 1))
        h->truncated = true;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    vu_http *h = ctx;
    if (h->body.len + len > h->body_max) {
        h->truncated = true;
        return;
    }
    if (buf_append(&h->body, data, len))
        h->truncated = true;
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
        xch_conn_init(&hc->xc, &w->xctx, t, hc);
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

static vu_http *http_state(lua_vu *vu)
{
    if (!vu->http) {
        vu_http *h = calloc(1, sizeof *h);
        if (!h)
            return NULL;
        h->vu = vu;
        h->cb = (http1_callbacks){.on_header = on_hdr, .on_body = on_body, .ctx = h,
                                  .line_buf = h->line, .line_cap = sizeof h->line};
        h->x.owner = h;
        h->x.on_done = on_outcome;
        h->x.cb = &h->cb;
        vu->http = h;
    }
    return vu->http;
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
    if (h->u.tls && !h->vu->w->ctx->tls)
        luaL_error(L, "http: https:// is not available in this build of volley");
    if (strlen(method) >= sizeof h->method)
        luaL_error(L, "http: bad method");
    http1_header hv[MAX_HEADERS];
    size_t nh = lua_http_headers(L, 4, hv, MAX_HEADERS);
    /* Reusable as is when the script gave no body and no headers (the
     * run's default headers are the same for every request). */
    h->built_plain = !body && nh == 0;
    /* volley run -H: default headers, a request's own win. */
    nh = lua_plan_http_headers(h->vu->w->ctx->plan, hv, nh, MAX_HEADERS);
    buf_reset(&h->req);
    http1_request_spec spec = {
        .method = method, .host = h->u.hostport, .path = h->u.path, .headers = hv,
        .nheaders = nh, .body = body, .body_len = blen, .keepalive = true,
    };
    if (http1_request_build(&spec, &h->req, &e))
        luaL_error(L, "http: %s", e.msg);
    snprintf(h->method, sizeof h->method, "%s", method);
}

/* The same method and URL as the request in h->req, with no body and no
 * headers: the bytes (and the parsed URL) can be sent again as they are. */
static bool same_request(lua_State *L, const vu_http *h, const char *method, const char *urls,
                         size_t ulen)
{
    if (!h->built_url_len || h->built_url_len != ulen || !lua_isnoneornil(L, 3) ||
        strcmp(method, h->method) || memcmp(urls, h->built_url, ulen))
        return false;
    if (!lua_istable(L, 4))
        return true;
    bool plain = lua_getfield(L, 4, "headers") == LUA_TNIL;
    lua_pop(L, 1);
    return plain;
}

/* C.http(method, url, body, params) */
int lua_http_call(lua_State *L)
{
    lua_vu *vu = lua_args_need_vu(L, "http.request");
    lua_worker *w = vu->w;
    const char *method = luaL_checkstring(L, 1);
    size_t ulen;
    const char *urls = luaL_checklstring(L, 2, &ulen);
    vu_http *h = http_state(vu);
    if (!h)
        return luaL_error(L, "out of memory");
    bool same = same_request(L, h, method, urls, ulen);
    if (!same) {
        h->built_url_len = 0;
        build_request(L, h, method, urls);
    }
    /* volley run --timeout: the default of every http.* request. */
    const lua_plan *lp = w->ctx->plan;
    uint64_t timeout_ns = lp->http_timeout_ns ? lp->http_timeout_ns : HTTP_DEFAULT_TIMEOUT_NS;
    /* The name of its statistics: params.name, else the URL without its
     * query, so that ids in query strings do not make a name each. */
    const char *pname = NULL;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "name");
        if (!lua_isnil(L, -1) && !(pname = lua_tostring(L, -1)))
            return luaL_error(L, "http: params.name must be a string");
        lua_pop(L, 1);
    }
    if (pname)
        snprintf(h->name, sizeof h->name, "%s", pname);
    else
        snprintf(h->name, sizeof h->name, "%.*s", (int)strcspn(urls, "?#"), urls);
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "timeout");
        timeout_ns = lua_args_duration(L, -1, "timeout", timeout_ns);
        lua_pop(L, 1);
    }
    err e;
    xch_target *t = same ? lua_http_target(w, &h->u, &e) : NULL;
    if (!same) {
        snprintf(h->built_key, sizeof h->built_key, "%s://%s:%u", h->u.scheme, h->u.host,
                 (unsigned)h->u.port);
        if (!(t = lua_http_target(w, &h->u, &e)))
            return luaL_error(L, "http: %s", e.msg);
        if (ulen < sizeof h->built_url && h->built_plain) {
            memcpy(h->built_url, urls, ulen);
            h->built_url_len = ulen;
        }
    }
    if (!t)
        return luaL_error(L, "http: %s", e.msg);
    const char *key = h->built_key;
    buf_reset(&h->body);
    buf_reset(&h->hdrs);
    h->body_max = HTTP_BODY_MAX;
    h->truncated = false;
    h->set_cookie = false;
    h->err[0] = 0;
    h->err_kind = -1;
    h->status = 0;
    h->in_flight = true;
    xch_req *x = &h->x;
    x->data = h->req.data;
    x->len = h->req.len;
    x->head = !strcmp(method, "HEAD");
    x->idempotent = xch_method_idempotent(method);
    x->intended_ns = loop_update_now(w->lp);
    x->timeout_ns = timeout_ns;
    x->shard = w->shards[vu->scen];
    h->hc = pool_take(h, key, t);
    vu->wait = VW_HTTP;
    xch_submit(&h->hc->xc, x);
    return lua_yield(L, 0);
}

/* ---- the result ---- */

static void canonical(char *s)
{
    bool up = true;
    for (; *s; s++) {
        if (up && *s >= 'a' && *s <= 'z')
            *s = (char)(*s - 32);
        else if (!up && *s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
        up = *s == '-';
    }
}

/* C.headers_of(raw): the headers table of a response, built from its
 * "name\0value\0" block only when the script reads res.headers. */
int lua_http_headers_of(lua_State *L)
{
    size_t len = 0;
    const char *raw = lua_isstring(L, 1) ? lua_tolstring(L, 1, &len) : "";
    lua_newtable(L);
    for (size_t off = 0; off < len;) {
        const char *name = raw + off;
        size_t nl = strnlen(name, len - off);
        const char *val = name + nl + 1;
        size_t vl = off + nl + 1 < len ? strnlen(val, len - off - nl - 1) : 0;
        off += nl + vl + 2;
        char cn[256];
        size_t cl = nl < sizeof cn - 1 ? nl : sizeof cn - 1;
        memcpy(cn, name, cl);
        cn[cl] = 0;
        canonical(cn);
        if (!strcmp(cn, "Set-Cookie")) {
            /* Never merged with ", ": a cookie's Expires has commas. A list. */
            if (lua_getfield(L, -1, cn) != LUA_TTABLE) {
                lua_pop(L, 1);
                lua_newtable(L);
                lua_pushvalue(L, -1);
                lua_setfield(L, -3, cn);
            }
            lua_pushlstring(L, val, vl);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
            lua_pop(L, 1);
            continue;
        }
        lua_getfield(L, -1, cn);
        if (lua_isstring(L, -1)) {
            lua_pushstring(L, ", ");
            lua_pushlstring(L, val, vl);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, val, vl);
        }
        lua_setfield(L, -2, cn);
    }
    return 1;
}

enum { T_DURATION, T_CONNECTING, T_SENDING, T_WAITING, T_RECEIVING, T_COUNT };

/* C.timings_of(packed): res.timings from the doubles packed at the call. */
int lua_http_timings_of(lua_State *L)
{
    static const char *const names[T_COUNT] = {"duration", "connecting", "sending", "waiting",
                                               "receiving"};
    size_t len = 0;
    const char *p = lua_isstring(L, 1) ? lua_tolstring(L, 1, &len) : "";
    lua_createtable(L, 0, T_COUNT);
    for (int i = 0; i < T_COUNT; i++) {
        double v = 0;
        if (len == sizeof v * T_COUNT)
            memcpy(&v, p + i * sizeof v, sizeof v);
        lua_pushnumber(L, v);
        lua_setfield(L, -2, names[i]);
    }
    return 1;
}

/* Headers and timings are kept raw (one string each) and turned into
 * tables by the prelude only when read: most scripts never look. */
static void push_raw(lua_State *co, const vu_http *h, bool ok)
{
    const xch_req *x = &h->x;
    if (ok && h->hdrs.len) {
        lua_pushlstring(co, h->hdrs.data, h->hdrs.len);
        lua_setfield(co, -2, "_h");
    }
    if (ok && h->set_cookie) {
        lua_pushboolean(co, 1);
        lua_setfield(co, -2, "_c");
    }
    double t[T_COUNT] = {
        [T_DURATION] = lua_args_ms(h->done_ns - x->intended_ns),
        [T_CONNECTING] = lua_args_ms(x->connect_ns),
        [T_SENDING] = 0,
        [T_WAITING] = lua_args_ms(ok && x->first_byte_ns > x->sent_ns ? x->first_byte_ns - x->sent_ns : 0),
        [T_RECEIVING] = lua_args_ms(ok && h->done_ns > x->first_byte_ns ? h->done_ns - x->first_byte_ns : 0),
    };
    lua_pushlstring(co, (const char *)t, sizeof t);
    lua_setfield(co, -2, "_t");
}

int lua_http_push_result(lua_State *co, lua_vu *vu)
{
    vu_http *h = vu->http;
    bool ok = h->err_kind < 0;
    lua_createtable(co, 0, 10);
    lua_pushinteger(co, ok ? h->status : 0);
    lua_setfield(co, -2, "status");
    lua_pushlstring(co, h->body.data ? h->body.data : "", h->body.len);
    lua_setfield(co, -2, "body");
    lua_pushstring(co, h->method);
    lua_setfield(co, -2, "method");
    if (h->proto) {
        lua_pushstring(co, h->proto);
        lua_setfield(co, -2, "proto");
    }
    push_raw(co, h, ok);
    if (!ok) {
        lua_pushstring(co, h->err);
        lua_setfield(co, -2, "error");
        lua_pushstring(co, metrics_err_kind_name((err_kind)h->err_kind));
        lua_setfield(co, -2, "error_code");
    }
    if (h->truncated) {
        lua_pushboolean(co, 1);
        lua_setfield(co, -2, "truncated");
    }
    luaL_setmetatable(co, "volley.response");
    return 1;
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
    buf_free(&h->body);
    buf_free(&h->hdrs);
    free(h);
    vu->http = NULL;
}
