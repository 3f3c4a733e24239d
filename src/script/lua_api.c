/* lua_api: the functions a script calls (see lua_api.h, docs/scripting.md).
 * C does the I/O (HTTP over net/conn + proto/http1, WebSocket over net/conn
 * + proto/ws, timers, files, JSON); a small Lua prelude at the end of this
 * file builds the friendly surface on top (http.get, check, group, metric
 * objects, k6-style ws.connect), so the yielding rules stay in one place:
 * a C call that waits sets vu->wait and yields; lua_api_push_results
 * turns the completion into the call's return values. */
#include "script/lua_api.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/parse.h"
#include "proto/ws.h"
#include "script/lua_worker.h"

#include <errno.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define HTTP_DEFAULT_TIMEOUT_NS (60 * NS_PER_S)
#define HTTP_BODY_MAX (64u << 20)
#define WS_MAX_QUEUE 65536
#define WS_CLOSE_WAIT_NS (2 * NS_PER_S)
#define WS_RTT_RING 256
#define MAX_HEADERS 64

static lua_worker *worker_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* The VU of the running coroutine, or a Lua error naming the call. */
static lua_vu *need_vu(lua_State *L, const char *what)
{
    lua_vu *vu = worker_of(L) ? lua_vu_of(L) : NULL;
    if (!vu || !lua_isyieldable(L))
        luaL_error(L, "%s can only be called inside a VU function (not at the top level of "
                      "the script, nor inside a coroutine of its own)", what);
    return vu;
}

static uint64_t duration_arg(lua_State *L, int idx, const char *what, uint64_t dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double s = lua_tonumber(L, idx);
        if (!(s >= 0) || s > 1e7)
            luaL_error(L, "%s: bad duration %f", what, s);
        return (uint64_t)llround(s * 1e9);
    }
    uint64_t ns;
    err e;
    if (parse_duration_ns(luaL_checkstring(L, idx), what, &ns, &e))
        luaL_error(L, "%s", e.msg);
    return ns;
}

static double ms_of(uint64_t ns) { return (double)ns / 1e6; }

/* ---- sleep, time ---- */

static void on_sleep_done(loop *l, void *data)
{
    (void)l;
    lua_vu_wake(data);
}

static int l_sleep(lua_State *L)
{
    lua_vu *vu = need_vu(L, "sleep");
    uint64_t ns = duration_arg(L, 1, "sleep", 0);
    vu->wait = VW_SLEEP;
    loop_timer_start(vu->w->lp, &vu->timer, loop_update_now(vu->w->lp) + ns, on_sleep_done, vu);
    return lua_yield(L, 0);
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, (double)clock_now_ns() / 1e9);
    return 1;
}

/* ---- iteration end (the driver) ---- */

static int l_iter_end(lua_State *L)
{
    lua_vu *vu = need_vu(L, "iteration end");
    vu->has_err = !lua_toboolean(L, 1);
    if (vu->has_err)
        snprintf(vu->errmsg, sizeof vu->errmsg, "%s", luaL_tolstring(L, 2, NULL));
    vu->wait = VW_ITER_END;
    return lua_yield(L, 0);
}

/* ---- checks, metrics, vu ---- */

static int l_check(lua_State *L)
{
    lua_worker *w = worker_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (w) {
        script_check *c = script_results_check(w->res, name);
        if (c) {
            if (lua_toboolean(L, 2))
                c->passes++;
            else
                c->fails++;
        }
    }
    return 0;
}

static script_metric_kind kind_of(lua_State *L, int idx)
{
    static const char *const names[] = {"counter", "gauge", "rate", "trend", NULL};
    return (script_metric_kind)luaL_checkoption(L, idx, NULL, names);
}

static void metric_add(script_metric *m, double v)
{
    switch (m->kind) {
    case SMETRIC_COUNTER:
        m->sum += v;
        break;
    case SMETRIC_GAUGE:
        if (!m->count || v < m->min)
            m->min = v;
        if (!m->count || v > m->max)
            m->max = v;
        m->last = v;
        break;
    case SMETRIC_RATE:
        m->sum += v != 0;
        break;
    case SMETRIC_TREND:
        if (!m->count || v < m->min)
            m->min = v;
        if (!m->count || v > m->max)
            m->max = v;
        m->sum += v;
        if (m->h)
            hist_record(m->h, v > 0 ? (uint64_t)llround(v * 1e6) : 0);
        break;
    }
    m->count++;
}

static int l_metric_decl(lua_State *L)
{
    lua_worker *w = worker_of(L);
    script_metric_kind k = kind_of(L, 1);
    const char *name = luaL_checkstring(L, 2);
    if (strlen(name) >= sizeof ((script_metric *)0)->name)
        return luaL_error(L, "metric name too long: %s", name);
    if (w) {
        script_metric *m = script_results_metric(w->res, name, k);
        if (m && m->kind != k)
            return luaL_error(L, "metric '%s' already exists with another kind", name);
    }
    return 0;
}

/* add(kind, name, value, tags): tagged values also go to "name{k:v,...}". */
static int l_metric_add(lua_State *L)
{
    lua_worker *w = worker_of(L);
    script_metric_kind k = kind_of(L, 1);
    const char *name = luaL_checkstring(L, 2);
    double v;
    if (lua_type(L, 3) == LUA_TBOOLEAN || lua_isnil(L, 3))
        v = lua_toboolean(L, 3);
    else
        v = luaL_checknumber(L, 3);
    if (!w)
        return 0;
    script_metric *m = script_results_metric(w->res, name, k);
    if (!m)
        return luaL_error(L, "out of memory");
    if (m->kind != k)
        return luaL_error(L, "metric '%s' has another kind", name);
    metric_add(m, v);
    if (lua_istable(L, 4)) {
        /* Keys sorted, so the same tags always name the same sub-metric. */
        char keys[8][64], vals[8][64];
        int n = 0;
        lua_pushnil(L);
        while (lua_next(L, 4) && n < 8) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                snprintf(keys[n], sizeof keys[n], "%s", lua_tostring(L, -2));
                snprintf(vals[n], sizeof vals[n], "%s", luaL_tolstring(L, -1, NULL));
                lua_pop(L, 1);
                n++;
            }
            lua_pop(L, 1);
        }
        if (n == 8)
            lua_pop(L, 1);
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                char t[64];
                memcpy(t, keys[j], 64), memcpy(keys[j], keys[j - 1], 64), memcpy(keys[j - 1], t, 64);
                memcpy(t, vals[j], 64), memcpy(vals[j], vals[j - 1], 64), memcpy(vals[j - 1], t, 64);
            }
        if (n) {
            char sub[160];
            size_t off = (size_t)snprintf(sub, sizeof sub, "%s{", name);
            for (int i = 0; i < n && off < sizeof sub; i++)
                off += (size_t)snprintf(sub + off, sizeof sub - off, "%s%s:%s", i ? "," : "",
                                        keys[i], vals[i]);
            if (off < sizeof sub - 1) {
                sub[off] = '}';
                sub[off + 1] = 0;
                script_metric *sm = script_results_metric(w->res, sub, k);
                if (sm && sm->kind == k)
                    metric_add(sm, v);
            }
        }
    }
    return 0;
}

static int l_vu_field(lua_State *L)
{
    lua_vu *vu = worker_of(L) ? lua_vu_of(L) : NULL;
    const char *k = luaL_checkstring(L, 1);
    if (!vu) {
        lua_pushnil(L);
        return 1;
    }
    if (!strcmp(k, "id"))
        lua_pushinteger(L, (lua_Integer)vu->id);
    else if (!strcmp(k, "iteration"))
        lua_pushinteger(L, (lua_Integer)vu->iteration);
    else if (!strcmp(k, "scenario"))
        lua_pushstring(L, vu->w->sc[vu->scen].s->name);
    else if (!strcmp(k, "worker"))
        lua_pushinteger(L, vu->w->id);
    else
        lua_pushnil(L);
    return 1;
}

/* ---- files ---- */

static int l_readfile(lua_State *L)
{
    const char *p = luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "volley.dir");
    const char *dir = lua_tostring(L, -1);
    char full[8192];
    if (p[0] == '/' || !dir || !dir[0])
        snprintf(full, sizeof full, "%s", p);
    else
        snprintf(full, sizeof full, "%s/%s", dir, p);
    FILE *f = fopen(full, "rb");
    if (!f)
        return luaL_error(L, "open('%s'): %s", p, strerror(errno));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        luaL_addlstring(&b, tmp, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad)
        return luaL_error(L, "open('%s'): read error", p);
    luaL_pushresult(&b);
    return 1;
}

/* ---- JSON ---- */

static void push_json(lua_State *L, json_t *j, int depth)
{
    if (depth > 200) {
        lua_pushnil(L);
        return;
    }
    luaL_checkstack(L, 4, "json: too deep");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            push_json(L, v, depth + 1);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(j), 0);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            push_json(L, v, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushnil(L); /* null */
        break;
    }
}

static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j)
        return luaL_error(L, "json: %s at line %d column %d", je.text, je.line, je.column);
    push_json(L, j, 0);
    json_decref(j);
    return 1;
}

static json_t *to_json(lua_State *L, int idx, int depth)
{
    if (depth > 100)
        luaL_error(L, "json.encode: nested too deep (a cycle?)");
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return json_stringn_nocheck(s, n);
    }
    case LUA_TTABLE: {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        bool array = n > 0;
        if (!array) {
            lua_pushnil(L);
            if (!lua_next(L, idx)) {
                return json_object(); /* {} for an empty table */
            }
            lua_pop(L, 2);
        }
        if (array) {
            json_t *a = json_array();
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                json_array_append_new(a, to_json(L, -1, depth + 1));
                lua_pop(L, 1);
            }
            return a;
        }
        json_t *o = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pushvalue(L, -2);
            const char *k = luaL_tolstring(L, -1, NULL);
            json_object_set_new(o, k, to_json(L, -3, depth + 1));
            lua_pop(L, 3);
        }
        return o;
    }
    default:
        luaL_error(L, "json.encode: cannot encode a %s", luaL_typename(L, idx));
        return NULL;
    }
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    json_t *j = to_json(L, 1, 0);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        return luaL_error(L, "json.encode: out of memory");
    lua_pushstring(L, s);
    free(s);
    return 1;
}

/* ---- addresses ---- */

static int resolve(lua_worker *w, const url *u, addr *out, err *e)
{
    char key[320];
    snprintf(key, sizeof key, "%s:%u", u->host, (unsigned)u->port);
    for (uint32_t i = 0; i < w->ndns; i++)
        if (!strcmp(w->dns[i].key, key)) {
            *out = w->dns[i].a;
            return 0;
        }
    /* Once per host and worker: a blocking lookup is acceptable here. */
    int rc = addr_resolve(u, "url", out, e);
    if (rc)
        return rc;
    uint32_t slot = w->ndns < LW_DNS ? w->ndns++ : (uint32_t)(w->rng++ % LW_DNS);
    snprintf(w->dns[slot].key, sizeof w->dns[slot].key, "%s", key);
    w->dns[slot].a = *out;
    return 0;
}

/* ---- HTTP ---- */

static void http_wake(lua_vu *vu)
{
    vu_http *h = vu->http;
    loop_timer_stop(vu->w->lp, &h->timer);
    h->in_flight = false;
    h->done_ns = loop_update_now(vu->w->lp);
    lua_vu_wake(vu);
}

static void hconn_close(hconn *hc, bool reset)
{
    if (hc->c.fd < 0)
        return;
    if (hc->c.state == CONN_OPEN)
        lua_worker_active_add(hc->vu->w, -1);
    conn_close(&hc->c, reset);
}

static void http_fail(lua_vu *vu, err_kind k, const char *msg)
{
    vu_http *h = vu->http;
    metrics_record_failure(vu->w->shards[vu->scen], k, loop_now(vu->w->lp) - h->call_ns,
                           h->bytes_in, h->sent ? h->req.len : 0);
    h->err_kind = (int)k;
    snprintf(h->err, sizeof h->err, "%s", msg ? msg : metrics_err_kind_name(k));
    if (h->hc)
        hconn_close(h->hc, true);
    h->hc = NULL;
    http_wake(vu);
}

static void http_done(lua_vu *vu)
{
    vu_http *h = vu->http;
    uint64_t now = loop_update_now(vu->w->lp);
    metrics_sample m = {
        .status = h->resp.status,
        .latency_ns = now - h->call_ns,
        .service_ns = now - h->sent_ns,
        .ttfb_ns = h->first_byte_ns - h->sent_ns,
        .bytes_in = h->bytes_in,
        .bytes_out = h->req.len,
        .chunks = h->resp.chunked ? h->resp.chunks : 0,
    };
    metrics_record_response(vu->w->shards[vu->scen], &m);
    h->err_kind = -1;
    if (!h->resp.keep_alive)
        hconn_close(h->hc, false);
    else
        h->hc->reused = true;
    h->hc->last_use = now;
    h->hc = NULL;
    http_wake(vu);
}

static void http_send(lua_vu *vu)
{
    vu_http *h = vu->http;
    http1_resp_begin(&h->resp, h->head, &h->cb);
    h->got_bytes = false;
    h->sent = true;
    h->bytes_in = 0;
    h->sent_ns = loop_update_now(vu->w->lp);
    if (conn_send(&h->hc->c, h->req.data, h->req.len) < 0)
        http_fail(vu, ERRK_RESET, NULL);
}

static void http_on_connect(conn *c, int status)
{
    hconn *hc = c->owner;
    lua_vu *vu = hc->vu;
    vu_http *h = vu->http;
    if (!h || !h->in_flight || h->hc != hc) {
        conn_close(c, true);
        return;
    }
    h->connecting = false;
    if (status < 0) {
        char m[200];
        if (status == CONN_ETLS)
            snprintf(m, sizeof m, "tls: %s", conn_tls_error(c));
        else
            snprintf(m, sizeof m, "connect: %s", strerror(-status));
        http_fail(vu, status == CONN_ETLS          ? ERRK_TLS
                      : status == -ECONNREFUSED ? ERRK_CONNECT_REFUSED
                                                : ERRK_CONNECT,
                  m);
        return;
    }
    uint64_t now = loop_update_now(vu->w->lp);
    h->connect_ns += now - h->connect_start_ns;
    metrics_record_connect(vu->w->shards[vu->scen], now - h->connect_start_ns);
    lua_worker_active_add(vu->w, 1);
    http_send(vu);
}

static void http_connect(lua_vu *vu)
{
    vu_http *h = vu->http;
    hconn *hc = h->hc;
    /* The slot was set up by pool_take; its TLS session (if any) carries
     * over to this connect for resumption. */
    conn_set_tls(&hc->c, h->u.tls ? vu->w->ctx->tls : NULL, h->u.host);
    hc->reused = false;
    h->connecting = true;
    h->connect_start_ns = loop_update_now(vu->w->lp);
    int rc = conn_open(&hc->c, &h->a);
    if (rc < 0) {
        char m[160];
        snprintf(m, sizeof m, "connect: %s", strerror(-rc));
        http_fail(vu, ERRK_CONNECT, m);
    }
}

static void http_on_readable(conn *c)
{
    hconn *hc = c->owner;
    lua_vu *vu = hc->vu;
    vu_http *h = vu->http;
    lua_worker *w = vu->w;
    for (;;) {
        ssize_t n = conn_read(c, w->rbuf, sizeof w->rbuf);
        if (n == -EAGAIN)
            return;
        if (!h || !h->in_flight || h->hc != hc) {
            /* An idle pooled connection was closed (or spoke unasked). */
            hconn_close(hc, n != 0);
            return;
        }
        if ((n == 0 || n == -ECONNRESET) && !h->got_bytes && hc->reused && !h->retried) {
            /* The server dropped a keep-alive connection as we reused it:
             * the request never reached it, so try once on a new one. */
            h->retried = true;
            hconn_close(hc, true);
            h->sent = false;
            http_connect(vu);
            return;
        }
        if (n < 0) {
            http_fail(vu, n == -ECONNRESET || n == -EPIPE ? ERRK_RESET : ERRK_CLOSED, NULL);
            return;
        }
        if (n == 0) {
            if (h->got_bytes && http1_resp_eof(&h->resp) == HTTP1_DONE) {
                h->resp.keep_alive = false;
                http_done(vu);
            } else {
                http_fail(vu, ERRK_CLOSED, "the server closed the connection early");
            }
            return;
        }
        if (!h->got_bytes) {
            h->got_bytes = true;
            h->first_byte_ns = loop_update_now(w->lp);
        }
        h->bytes_in += (uint64_t)n;
        size_t used = 0;
        int rc = http1_resp_parse(&h->resp, w->rbuf, (size_t)n, &used);
        if (rc == HTTP1_NEED_MORE)
            continue;
        if (rc < 0) {
            http_fail(vu, ERRK_PARSE, http1_strerror(rc));
            return;
        }
        if (used < (size_t)n)
            h->resp.keep_alive = false;
        http_done(vu);
        return;
    }
}

static void http_on_write_error(conn *c, int status)
{
    hconn *hc = c->owner;
    lua_vu *vu = hc->vu;
    if (!vu->http || !vu->http->in_flight || vu->http->hc != hc) {
        hconn_close(hc, true);
        return;
    }
    http_fail(vu, status == -ECONNRESET || status == -EPIPE ? ERRK_RESET : ERRK_CLOSED, NULL);
}

static const conn_handlers http_handlers = {
    .on_connect = http_on_connect,
    .on_readable = http_on_readable,
    .on_write_error = http_on_write_error,
};

static void http_on_timeout(loop *l, void *data)
{
    (void)l;
    lua_vu *vu = data;
    http_fail(vu, vu->http->connecting ? ERRK_CONNECT_TIMEOUT : ERRK_TIMEOUT, "request timeout");
}

static void on_hdr(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    vu_http *h = ctx;
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

/* The VU's pooled connection for key: an open one, a free slot, or the
 * least recently used (closed first). */
static hconn *pool_take(lua_vu *vu, const char *key)
{
    hconn *lru = NULL, *free_slot = NULL;
    for (int i = 0; i < VU_POOL; i++) {
        hconn *hc = &vu->pool[i];
        if (hc->c.fd >= 0 && hc->c.state == CONN_OPEN && !strcmp(hc->key, key))
            return hc;
        if (hc->c.fd < 0 && !free_slot)
            free_slot = hc;
        if (!lru || hc->last_use < lru->last_use)
            lru = hc;
    }
    hconn *hc = free_slot ? free_slot : lru;
    hconn_close(hc, false);
    hc->vu = vu;
    if (strcmp(hc->key, key)) {
        /* A new host for this slot: its TLS session belongs to the old one. */
        conn_release(&hc->c);
        conn_init(&hc->c, vu->w->lp, &http_handlers, hc);
    }
    snprintf(hc->key, sizeof hc->key, "%s", key);
    return hc;
}

static vu_http *http_state(lua_vu *vu)
{
    if (!vu->http) {
        vu->http = calloc(1, sizeof *vu->http);
        if (!vu->http)
            return NULL;
        loop_timer_init(&vu->http->timer);
        vu->http->cb = (http1_callbacks){.on_header = on_hdr, .on_body = on_body,
                                         .ctx = vu->http, .line_buf = vu->http->line,
                                         .line_cap = sizeof vu->http->line};
    }
    return vu->http;
}

/* Header pairs from params.headers (table at idx); strings stay on L's
 * stack inside the table while the request is built. */
static size_t collect_headers(lua_State *L, int params, http1_header *hv, size_t max)
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

/* C.http(method, url, body, params) */
static int l_http(lua_State *L)
{
    lua_vu *vu = need_vu(L, "http.request");
    lua_worker *w = vu->w;
    const char *method = luaL_checkstring(L, 1);
    const char *urls = luaL_checkstring(L, 2);
    size_t blen = 0;
    const char *body = lua_isnoneornil(L, 3) ? NULL : luaL_checklstring(L, 3, &blen);
    vu_http *h = http_state(vu);
    if (!h)
        return luaL_error(L, "out of memory");
    err e;
    if (addr_parse_url(urls, "url", &h->u, &e))
        return luaL_error(L, "http: %s", e.msg);
    if (strcmp(h->u.scheme, "http") && strcmp(h->u.scheme, "https"))
        return luaL_error(L, "http: '%s' is not an http:// or https:// URL", urls);
    if (h->u.tls && !w->ctx->tls)
        return luaL_error(L, "http: https:// is not available in this build of volley");
    if (strlen(method) >= sizeof h->method)
        return luaL_error(L, "http: bad method");
    h->timeout_ns = HTTP_DEFAULT_TIMEOUT_NS;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "timeout");
        h->timeout_ns = duration_arg(L, -1, "timeout", HTTP_DEFAULT_TIMEOUT_NS);
        lua_pop(L, 1);
    }
    http1_header hv[MAX_HEADERS];
    size_t nh = collect_headers(L, 4, hv, MAX_HEADERS);
    buf_reset(&h->req);
    http1_request_spec spec = {
        .method = method, .host = h->u.hostport, .path = h->u.path, .headers = hv,
        .nheaders = nh, .body = body, .body_len = blen, .keepalive = true,
    };
    if (http1_request_build(&spec, &h->req, &e))
        return luaL_error(L, "http: %s", e.msg);
    if (resolve(w, &h->u, &h->a, &e))
        return luaL_error(L, "http: %s", e.msg);
    snprintf(h->method, sizeof h->method, "%s", method);
    h->head = !strcmp(method, "HEAD");
    buf_reset(&h->body);
    buf_reset(&h->hdrs);
    h->body_max = HTTP_BODY_MAX;
    h->truncated = false;
    h->err[0] = 0;
    h->err_kind = -1;
    h->connect_ns = 0;
    h->first_byte_ns = h->sent_ns = 0;
    h->bytes_in = 0;
    h->sent = h->got_bytes = h->retried = h->connecting = false;
    h->in_flight = true;
    h->call_ns = loop_update_now(w->lp);
    char key[320];
    snprintf(key, sizeof key, "%s://%s:%u", h->u.scheme, h->u.host, (unsigned)h->u.port);
    h->hc = pool_take(vu, key);
    vu->wait = VW_HTTP;
    loop_timer_start(w->lp, &h->timer, h->call_ns + h->timeout_ns, http_on_timeout, vu);
    if (h->hc->c.fd >= 0 && h->hc->c.state == CONN_OPEN)
        http_send(vu);
    else
        http_connect(vu);
    return lua_yield(L, 0);
}

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

static int push_http_result(lua_State *co, lua_vu *vu)
{
    vu_http *h = vu->http;
    bool ok = h->err_kind < 0;
    lua_createtable(co, 0, 10);
    lua_pushinteger(co, ok ? h->resp.status : 0);
    lua_setfield(co, -2, "status");
    lua_pushlstring(co, h->body.data ? h->body.data : "", h->body.len);
    lua_setfield(co, -2, "body");
    lua_pushstring(co, h->method);
    lua_setfield(co, -2, "method");
    lua_newtable(co);
    for (size_t off = 0; ok && off < h->hdrs.len;) {
        const char *name = h->hdrs.data + off;
        size_t nl = strlen(name);
        const char *val = name + nl + 1;
        size_t vl = strlen(val);
        off += nl + vl + 2;
        char cn[256];
        snprintf(cn, sizeof cn, "%s", name);
        canonical(cn);
        lua_getfield(co, -1, cn);
        if (lua_isstring(co, -1)) {
            lua_pushstring(co, ", ");
            lua_pushlstring(co, val, vl);
            lua_concat(co, 3);
        } else {
            lua_pop(co, 1);
            lua_pushlstring(co, val, vl);
        }
        lua_setfield(co, -2, cn);
    }
    lua_setfield(co, -2, "headers");
    uint64_t total = h->done_ns - h->call_ns;
    lua_createtable(co, 0, 6);
    lua_pushnumber(co, ms_of(total));
    lua_setfield(co, -2, "duration");
    lua_pushnumber(co, ms_of(h->connect_ns));
    lua_setfield(co, -2, "connecting");
    lua_pushnumber(co, 0);
    lua_setfield(co, -2, "sending");
    lua_pushnumber(co, ms_of(ok && h->first_byte_ns > h->sent_ns ? h->first_byte_ns - h->sent_ns : 0));
    lua_setfield(co, -2, "waiting");
    lua_pushnumber(co, ms_of(ok && h->done_ns > h->first_byte_ns ? h->done_ns - h->first_byte_ns : 0));
    lua_setfield(co, -2, "receiving");
    lua_setfield(co, -2, "timings");
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

/* ---- WebSocket ---- */

enum { WSS_CONNECTING, WSS_HANDSHAKE, WSS_OPEN, WSS_CLOSING, WSS_CLOSED };
enum { WSOP_OPEN = 1, WSOP_RECV, WSOP_EVENT, WSOP_CLOSE };

typedef struct ws_msg {
    struct ws_msg *next;
    size_t len;
    bool binary;
    char data[];
} ws_msg;

typedef struct ws_sock {
    lua_vu *vu;
    lua_worker *w;
    uint32_t scen;
    conn c;
    int state;
    url u;
    addr a;
    char key[WS_KEY_LEN + 1];
    http1_resp resp;
    http1_callbacks hcb;
    ws_handshake hs;
    char line[1024];
    ws_parser p;
    ws_callbacks wcb;
    buf sending, queued, msg;
    ws_msg *head, *tail;
    size_t nq;
    uint64_t connect_start_ns, open_ns;
    uint16_t close_code;
    bool close_sent, timed_out, counted_session, close_when_sent;
    char err[200];
    uint64_t rtt[WS_RTT_RING];
    uint32_t rtt_head, rtt_len;
    int self_ref;            /* anchors the socket while ws.open waits */
} ws_sock;

static script_scenario *ws_stats(ws_sock *s)
{
    return &s->w->res->sc[s->scen];
}

static bool ws_ready(ws_sock *s)
{
    lua_vu *vu = s->vu;
    switch (vu->ws_op) {
    case WSOP_OPEN:
        return s->state != WSS_CONNECTING && s->state != WSS_HANDSHAKE;
    case WSOP_RECV:
    case WSOP_EVENT:
        return s->head || s->state == WSS_CLOSED;
    case WSOP_CLOSE:
        return s->state == WSS_CLOSED;
    }
    return true;
}

static void ws_maybe_wake(ws_sock *s)
{
    lua_vu *vu = s->vu;
    if (vu && vu->wait == VW_WS && vu->ws == s && !loop_timer_active(&vu->wake) && ws_ready(s)) {
        loop_timer_stop(vu->w->lp, &vu->timer);
        lua_vu_wake(vu);
    }
}

static void ws_conn_close(ws_sock *s, bool reset)
{
    if (s->c.fd < 0)
        return;
    if (s->c.state == CONN_OPEN)
        lua_worker_active_add(s->w, -1);
    conn_close(&s->c, reset);
}

static void ws_closed(ws_sock *s, uint16_t code, const char *why)
{
    if (s->state == WSS_CLOSED)
        return;
    bool was_open = s->state >= WSS_OPEN;
    s->state = WSS_CLOSED;
    if (!s->close_code)
        s->close_code = code;
    if (why && !s->err[0])
        snprintf(s->err, sizeof s->err, "%s", why);
    if (was_open && !s->counted_session) {
        s->counted_session = true;
        hist_record(ws_stats(s)->ws_session_ns, loop_update_now(s->w->lp) - s->open_ns);
    }
    if (!s->close_when_sent || !s->sending.len)
        ws_conn_close(s, why != NULL);
    ws_maybe_wake(s);
}

static void ws_fail(ws_sock *s, const char *why)
{
    if (s->state == WSS_CLOSED)
        return;
    ws_stats(s)->ws_errors++;
    s->close_when_sent = false;
    ws_closed(s, WS_CLOSE_ABNORMAL, why);
}

static void ws_flush(ws_sock *s)
{
    if (s->sending.len || !s->queued.len || s->c.state != CONN_OPEN)
        return;
    buf t = s->sending;
    s->sending = s->queued;
    s->queued = t;
    buf_reset(&s->queued);
    if (conn_send(&s->c, s->sending.data, s->sending.len) < 0)
        ws_fail(s, "write failed");
}

static void ws_on_sent(conn *c)
{
    ws_sock *s = c->owner;
    buf_reset(&s->sending);
    if (s->queued.len) {
        ws_flush(s);
        return;
    }
    if (s->state == WSS_CLOSED && s->close_when_sent)
        ws_conn_close(s, false);
}

static int ws_queue(ws_sock *s, uint8_t op, const char *p, size_t n)
{
    uint8_t mask[4];
    uint64_t r = s->w->rng = s->w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    memcpy(mask, (const char *)&r + 4, 4);
    if (ws_frame_append(&s->queued, true, op, p, n, mask))
        return VOLLEY_ENOMEM;
    ws_flush(s);
    return 0;
}

static void ws_on_data(void *ctx, uint8_t opcode, const char *data, size_t len, bool last)
{
    ws_sock *s = ctx;
    if (len && buf_append(&s->msg, data, len))
        return;
    if (!last)
        return;
    script_scenario *st = ws_stats(s);
    st->ws_msgs_received++;
    if (s->rtt_len) {
        uint64_t t0 = s->rtt[s->rtt_head];
        s->rtt_head = (s->rtt_head + 1) % WS_RTT_RING;
        s->rtt_len--;
        hist_record(st->ws_rtt_ns, loop_update_now(s->w->lp) - t0);
    }
    if (s->nq >= WS_MAX_QUEUE) { /* the script does not read: keep the newest */
        ws_msg *old = s->head;
        s->head = old->next;
        if (!s->head)
            s->tail = NULL;
        free(old);
        s->nq--;
    }
    ws_msg *m = malloc(sizeof *m + s->msg.len + 1);
    if (m) {
        m->next = NULL;
        m->len = s->msg.len;
        m->binary = opcode == WS_OP_BINARY;
        memcpy(m->data, s->msg.data ? s->msg.data : "", m->len);
        if (s->tail)
            s->tail->next = m;
        else
            s->head = m;
        s->tail = m;
        s->nq++;
    }
    buf_reset(&s->msg);
}

static void ws_on_control(void *ctx, uint8_t opcode, uint16_t code, const char *p, size_t n)
{
    ws_sock *s = ctx;
    if (opcode == WS_OP_PING) {
        ws_queue(s, WS_OP_PONG, p, n);
    } else if (opcode == WS_OP_CLOSE) {
        if (!s->close_sent) {
            uint8_t mask[4] = {1, 2, 3, 4};
            ws_close_append(&s->queued, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL, mask);
            s->close_sent = true;
            ws_flush(s);
        }
        s->close_when_sent = true;
        ws_closed(s, code, NULL);
    }
}

static void ws_feed(ws_sock *s, char *data, size_t n)
{
    if (s->state < WSS_OPEN || s->state == WSS_CLOSED || !n)
        return;
    int rc = ws_parse(&s->p, data, n);
    if (rc < 0) {
        char m[160];
        snprintf(m, sizeof m, "websocket protocol error: %s", s->p.error);
        uint8_t mask[4] = {1, 2, 3, 4};
        ws_close_append(&s->queued, rc == WS_ETOOBIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL,
                        NULL, mask);
        ws_flush(s);
        ws_fail(s, m);
    }
}

static void ws_on_hdr(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    ws_sock *s = ctx;
    ws_handshake_header(&s->hs, name, nlen, value, vlen);
}

static void ws_on_readable(conn *c)
{
    ws_sock *s = c->owner;
    lua_worker *w = s->w;
    while (s->c.fd >= 0) {
        ssize_t n = conn_read(c, w->rbuf, sizeof w->rbuf);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            if (s->state == WSS_CLOSING)
                ws_closed(s, s->close_code ? s->close_code : WS_CLOSE_NORMAL, NULL);
            else
                ws_fail(s, n == 0 ? "connection closed" : "connection reset");
            break;
        }
        if (s->state == WSS_HANDSHAKE) {
            size_t used = 0;
            int rc = http1_resp_parse(&s->resp, w->rbuf, (size_t)n, &used);
            if (rc == HTTP1_NEED_MORE)
                continue;
            err e;
            if (rc < 0) {
                ws_fail(s, "bad handshake response");
                break;
            }
            if (ws_handshake_verify(&s->hs, s->resp.status, s->key, &e)) {
                ws_fail(s, e.msg);
                break;
            }
            uint64_t now = loop_update_now(w->lp);
            s->state = WSS_OPEN;
            s->open_ns = now;
            ws_stats(s)->ws_sessions++;
            hist_record(ws_stats(s)->ws_connect_ns, now - s->connect_start_ns);
            ws_feed(s, w->rbuf + used, (size_t)n - used);
            ws_maybe_wake(s);
            continue;
        }
        ws_feed(s, w->rbuf, (size_t)n);
    }
    ws_maybe_wake(s);
}

static void ws_on_connect(conn *c, int status)
{
    ws_sock *s = c->owner;
    if (status < 0) {
        char m[200];
        snprintf(m, sizeof m, "connect: %s",
                 status == CONN_ETLS ? conn_tls_error(c) : strerror(-status));
        ws_fail(s, m);
        return;
    }
    lua_worker_active_add(s->w, 1);
    s->state = WSS_HANDSHAKE;
    http1_resp_begin(&s->resp, false, &s->hcb);
    ws_flush(s);
}

static void ws_on_write_error(conn *c, int status)
{
    (void)status;
    ws_fail(c->owner, "connection reset while writing");
}

static const conn_handlers ws_handlers = {
    .on_connect = ws_on_connect,
    .on_readable = ws_on_readable,
    .on_sent = ws_on_sent,
    .on_write_error = ws_on_write_error,
};

static void ws_free_queue(ws_sock *s)
{
    while (s->head) {
        ws_msg *m = s->head;
        s->head = m->next;
        free(m);
    }
    s->tail = NULL;
    s->nq = 0;
}

static int ws_gc(lua_State *L)
{
    ws_sock *s = luaL_checkudata(L, 1, "volley.ws");
    if (s->w) {
        if (s->state != WSS_CLOSED && s->state >= WSS_OPEN && !s->counted_session) {
            s->counted_session = true;
            hist_record(ws_stats(s)->ws_session_ns, clock_now_ns() - s->open_ns);
        }
        ws_conn_close(s, true);
        if (s->vu && s->vu->ws == s)
            s->vu->ws = NULL;
    }
    ws_free_queue(s);
    buf_free(&s->sending);
    buf_free(&s->queued);
    buf_free(&s->msg);
    s->w = NULL;
    return 0;
}

static void ws_on_timeout(loop *l, void *data)
{
    (void)l;
    lua_vu *vu = data;
    if (vu->ws)
        vu->ws->timed_out = true;
    lua_vu_wake(vu);
}

/* Suspends the VU until s is ready for op (or timeout_ns, 0 = none). */
static int ws_wait(lua_State *L, lua_vu *vu, ws_sock *s, int op, uint64_t timeout_ns)
{
    vu->wait = VW_WS;
    vu->ws = s;
    vu->ws_op = op;
    s->timed_out = false;
    if (ws_ready(s)) {
        lua_vu_wake(vu);
    } else if (timeout_ns) {
        loop_timer_start(vu->w->lp, &vu->timer, loop_update_now(vu->w->lp) + timeout_ns,
                         ws_on_timeout, vu);
    }
    return lua_yield(L, 0);
}

/* C.ws_open(url, params) -> sock | nil, err */
static int l_ws_open(lua_State *L)
{
    lua_vu *vu = need_vu(L, "ws.open");
    lua_worker *w = vu->w;
    const char *urls = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    ws_sock *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->self_ref = LUA_NOREF;
    s->c.fd = -1;
    s->state = WSS_CLOSED;
    luaL_setmetatable(L, "volley.ws");
    err e;
    if (addr_parse_url(urls, "url", &s->u, &e))
        return luaL_error(L, "ws: %s", e.msg);
    if (strcmp(s->u.scheme, "ws") && strcmp(s->u.scheme, "wss"))
        return luaL_error(L, "ws: '%s' is not a ws:// or wss:// URL", urls);
    if (s->u.tls && !w->ctx->tls)
        return luaL_error(L, "ws: wss:// is not available in this build of volley");
    if (resolve(w, &s->u, &s->a, &e))
        return luaL_error(L, "ws: %s", e.msg);
    s->vu = vu;
    s->w = w;
    s->scen = vu->scen;
    s->hcb = (http1_callbacks){.on_header = ws_on_hdr, .ctx = s, .line_buf = s->line,
                               .line_cap = sizeof s->line};
    s->wcb = (ws_callbacks){.on_data = ws_on_data, .on_control = ws_on_control, .ctx = s};
    ws_parser_init(&s->p, &s->wcb, false, 0, 0);
    ws_make_key(&w->rng, s->key);
    http1_header hv[MAX_HEADERS];
    size_t nh = collect_headers(L, 2, hv, MAX_HEADERS);
    if (ws_handshake_request(&s->queued, s->u.hostport, s->u.path, s->key, hv, nh, &e))
        return luaL_error(L, "%s", e.msg);
    uint64_t timeout = HTTP_DEFAULT_TIMEOUT_NS;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "timeout");
        timeout = duration_arg(L, -1, "timeout", HTTP_DEFAULT_TIMEOUT_NS);
        lua_pop(L, 1);
    }
    conn_init(&s->c, w->lp, &ws_handlers, s);
    if (s->u.tls)
        conn_set_tls(&s->c, w->ctx->tls, s->u.host);
    s->state = WSS_CONNECTING;
    s->connect_start_ns = loop_update_now(w->lp);
    int rc = conn_open(&s->c, &s->a);
    if (rc < 0) {
        snprintf(s->err, sizeof s->err, "connect: %s", strerror(-rc));
        ws_stats(s)->ws_errors++;
        s->state = WSS_CLOSED;
    }
    lua_settop(L, 3);
    s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* returned by push_ws_result */
    return ws_wait(L, vu, s, WSOP_OPEN, timeout);
}

static ws_sock *check_sock(lua_State *L)
{
    ws_sock *s = luaL_checkudata(L, 1, "volley.ws");
    if (!s->w)
        luaL_error(L, "ws: socket already freed");
    return s;
}

/* s:send(msg, {binary=, rtt=}) -> true | nil, err */
static int l_ws_send(lua_State *L)
{
    ws_sock *s = check_sock(L);
    size_t n;
    const char *m = luaL_checklstring(L, 2, &n);
    bool binary = false, rtt = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "binary");
        binary = lua_toboolean(L, -1);
        lua_getfield(L, 3, "rtt");
        rtt = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    if (s->state != WSS_OPEN) {
        lua_pushnil(L);
        lua_pushstring(L, "closed");
        return 2;
    }
    if (ws_queue(s, binary ? WS_OP_BINARY : WS_OP_TEXT, m, n)) {
        lua_pushnil(L);
        lua_pushstring(L, "out of memory");
        return 2;
    }
    ws_stats(s)->ws_msgs_sent++;
    if (rtt && s->rtt_len < WS_RTT_RING) {
        s->rtt[(s->rtt_head + s->rtt_len) % WS_RTT_RING] = loop_update_now(s->w->lp);
        s->rtt_len++;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_ws_ping(lua_State *L)
{
    ws_sock *s = check_sock(L);
    if (s->state == WSS_OPEN)
        ws_queue(s, WS_OP_PING, "volley", 6);
    return 0;
}

/* s:recv(timeout_s) -> msg | nil, "timeout" | "closed" */
static int l_ws_recv(lua_State *L)
{
    ws_sock *s = check_sock(L);
    lua_vu *vu = need_vu(L, "socket:recv");
    uint64_t t = duration_arg(L, 2, "recv timeout", 0);
    lua_settop(L, 1);
    return ws_wait(L, vu, s, WSOP_RECV, t);
}

/* s:_event(timeout_s or -1) -> kind, data (the k6-style ws.connect loop) */
static int l_ws_event(lua_State *L)
{
    ws_sock *s = check_sock(L);
    lua_vu *vu = need_vu(L, "socket events");
    double secs = luaL_optnumber(L, 2, -1);
    uint64_t t = secs < 0 ? 0 : (uint64_t)llround(secs * 1e9);
    if (secs == 0) /* due now: a timeout without waiting */
        t = 1;
    lua_settop(L, 1);
    return ws_wait(L, vu, s, WSOP_EVENT, t);
}

/* s:close(code, reason): sends a close frame and waits for the answer. */
static int l_ws_close(lua_State *L)
{
    ws_sock *s = check_sock(L);
    lua_vu *vu = need_vu(L, "socket:close");
    uint16_t code = (uint16_t)luaL_optinteger(L, 2, WS_CLOSE_NORMAL);
    const char *reason = luaL_optstring(L, 3, "");
    if (s->state == WSS_CONNECTING || s->state == WSS_HANDSHAKE) {
        ws_closed(s, code, NULL);
        return 0;
    }
    if (s->state != WSS_OPEN)
        return 0;
    uint8_t mask[4];
    uint64_t r = s->w->rng = s->w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    memcpy(mask, &r, 4);
    ws_close_append(&s->queued, code, reason, mask);
    s->close_sent = true;
    s->close_code = code;
    s->state = WSS_CLOSING;
    ws_flush(s);
    lua_settop(L, 1);
    return ws_wait(L, vu, s, WSOP_CLOSE, WS_CLOSE_WAIT_NS);
}

static int l_ws_state(lua_State *L)
{
    ws_sock *s = check_sock(L);
    static const char *const names[] = {"connecting", "connecting", "open", "closing", "closed"};
    lua_pushstring(L, names[s->state]);
    return 1;
}

static void push_msg(lua_State *co, ws_sock *s)
{
    ws_msg *m = s->head;
    s->head = m->next;
    if (!s->head)
        s->tail = NULL;
    s->nq--;
    lua_pushlstring(co, m->data, m->len);
    free(m);
}

static int push_ws_result(lua_State *co, lua_vu *vu)
{
    ws_sock *s = vu->ws;
    int op = vu->ws_op;
    vu->ws = NULL;
    if (!s) { /* freed meanwhile */
        lua_pushnil(co);
        lua_pushstring(co, "closed");
        return 2;
    }
    switch (op) {
    case WSOP_OPEN:
        if (s->state == WSS_OPEN) {
            lua_rawgeti(co, LUA_REGISTRYINDEX, s->self_ref);
            luaL_unref(co, LUA_REGISTRYINDEX, s->self_ref);
            s->self_ref = LUA_NOREF;
            return 1;
        }
        luaL_unref(co, LUA_REGISTRYINDEX, s->self_ref);
        s->self_ref = LUA_NOREF;
        lua_pushnil(co);
        lua_pushstring(co, s->timed_out ? "timeout" : s->err[0] ? s->err : "closed");
        if (s->timed_out) {
            ws_stats(s)->ws_errors++;
            ws_closed(s, WS_CLOSE_ABNORMAL, "handshake timeout");
        }
        return 2;
    case WSOP_RECV:
        if (s->head) {
            push_msg(co, s);
            return 1;
        }
        lua_pushnil(co);
        lua_pushstring(co, s->state == WSS_CLOSED ? "closed" : "timeout");
        return 2;
    case WSOP_EVENT:
        if (s->head) {
            lua_pushstring(co, "message");
            push_msg(co, s);
            return 2;
        }
        if (s->state == WSS_CLOSED) {
            bool error = s->close_code == WS_CLOSE_ABNORMAL && s->err[0];
            lua_pushstring(co, error ? "error" : "close");
            if (error)
                lua_pushstring(co, s->err);
            else
                lua_pushinteger(co, s->close_code ? s->close_code : WS_CLOSE_NO_STATUS);
            return 2;
        }
        lua_pushstring(co, "timeout");
        return 1;
    case WSOP_CLOSE:
        if (s->state != WSS_CLOSED)
            ws_closed(s, s->close_code, NULL); /* no answer in time: just close */
        return 0;
    }
    return 0;
}

/* ---- results of waits, cancel, free ---- */

int lua_api_push_results(lua_vu *vu)
{
    switch (vu->wait) {
    case VW_HTTP:
        return push_http_result(vu->co, vu);
    case VW_WS:
        return push_ws_result(vu->co, vu);
    default:
        return 0;
    }
}

void lua_api_cancel(lua_vu *vu)
{
    vu_http *h = vu->http;
    if (h && h->in_flight) {
        metrics_record_error(vu->w->shards[vu->scen], ERRK_CANCELLED, h->bytes_in,
                             h->sent ? h->req.len : 0);
        loop_timer_stop(vu->w->lp, &h->timer);
        h->in_flight = false;
        if (h->hc)
            hconn_close(h->hc, true);
        h->hc = NULL;
    }
    if (vu->ws) {
        vu->ws = NULL;
    }
}

void lua_api_vu_free(lua_vu *vu)
{
    for (int i = 0; i < VU_POOL; i++) {
        if (vu->pool[i].c.fd >= 0)
            hconn_close(&vu->pool[i], true);
        conn_release(&vu->pool[i].c); /* frees a kept TLS session */
    }
    if (vu->http) {
        loop_timer_stop(vu->w->lp, &vu->http->timer);
        buf_free(&vu->http->req);
        buf_free(&vu->http->body);
        buf_free(&vu->http->hdrs);
        free(vu->http);
        vu->http = NULL;
    }
}

/* ---- installation ---- */

static int l_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_vu *vu = worker_of(L) ? lua_vu_of(L) : NULL;
    if (vu) {
        char pre[32];
        snprintf(pre, sizeof pre, "[VU %llu] ", (unsigned long long)vu->id);
        luaL_addstring(&b, pre);
    }
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    fwrite(s, 1, len, stderr);
    return 0;
}

/* The Lua half of the API (see the comment at the top of the file). */
static const char prelude[] =
    "-- volley prelude: the script API built on the C primitives in C.\n"
    "local C = ...\n"
    "local error, pcall, xpcall, type, tostring, setmetatable, pairs, ipairs =\n"
    "      error, pcall, xpcall, type, tostring, setmetatable, pairs, ipairs\n"
    "local co_running = coroutine.running\n"
    "\n"
    "print = C.print\n"
    "sleep = C.sleep\n"
    "\n"
    "local Response = debug.getregistry()[\"volley.response\"]\n"
    "Response.__index = {\n"
    "  json = function(self) return C.json_decode(self.body) end,\n"
    "}\n"
    "\n"
    "json = { decode = C.json_decode, encode = C.json_encode }\n"
    "\n"
    "http = {}\n"
    "function http.request(method, url, body, params) return C.http(method, url, body, params) end\n"
    "function http.get(url, params) return C.http(\"GET\", url, nil, params) end\n"
    "function http.head(url, params) return C.http(\"HEAD\", url, nil, params) end\n"
    "function http.del(url, body, params) return C.http(\"DELETE\", url, body, params) end\n"
    "function http.post(url, body, params) return C.http(\"POST\", url, body, params) end\n"
    "function http.put(url, body, params) return C.http(\"PUT\", url, body, params) end\n"
    "function http.patch(url, body, params) return C.http(\"PATCH\", url, body, params) end\n"
    "\n"
    "-- group names are per VU (coroutine), since VUs interleave on one state\n"
    "local groups = setmetatable({}, { __mode = \"k\" })\n"
    "function group(name, fn)\n"
    "  local co = co_running()\n"
    "  local prev = groups[co]\n"
    "  groups[co] = (prev and (prev .. \"::\") or \"\") .. tostring(name)\n"
    "  local ok, r = pcall(fn)\n"
    "  groups[co] = prev\n"
    "  if not ok then error(r, 0) end\n"
    "  return r\n"
    "end\n"
    "\n"
    "function check(value, sets, tags)\n"
    "  if type(sets) ~= \"table\" then error(\"check: the second argument must be a table of functions\", 2) end\n"
    "  local g = groups[co_running()]\n"
    "  local all = true\n"
    "  for name, f in pairs(sets) do\n"
    "    local pass\n"
    "    if type(f) == \"function\" then\n"
    "      local ok, r = pcall(f, value)\n"
    "      pass = ok and r and true or false\n"
    "    else\n"
    "      pass = f and true or false\n"
    "    end\n"
    "    C.check(g and (g .. \"::\" .. tostring(name)) or tostring(name), pass)\n"
    "    if not pass then all = false end\n"
    "  end\n"
    "  return all\n"
    "end\n"
    "\n"
    "local Metric = {}\n"
    "Metric.__index = Metric\n"
    "function Metric:add(v, tags) C.metric(self.kind, self.name, v, tags) end\n"
    "metrics = {}\n"
    "for _, k in ipairs({ \"counter\", \"gauge\", \"rate\", \"trend\" }) do\n"
    "  metrics[k] = function(name)\n"
    "    if type(name) ~= \"string\" then error(\"metrics.\" .. k .. \": the name must be a string\", 2) end\n"
    "    C.metric_decl(k, name)\n"
    "    return setmetatable({ name = name, kind = k }, Metric)\n"
    "  end\n"
    "end\n"
    "\n"
    "vu = setmetatable({}, {\n"
    "  __index = function(_, k) return C.vu(k) end,\n"
    "  __newindex = function() error(\"vu is read-only\", 2) end,\n"
    "})\n"
    "\n"
    "local files = {}\n"
    "function open(path)\n"
    "  local v = files[path]\n"
    "  if v == nil then v = C.readfile(path); files[path] = v end\n"
    "  return v\n"
    "end\n"
    "\n"
    "local function csv_fields(line)\n"
    "  local out, i, n = {}, 1, #line\n"
    "  while i <= n + 1 do\n"
    "    if line:sub(i, i) == '\"' then\n"
    "      local j, buf = i + 1, {}\n"
    "      while j <= n do\n"
    "        local c = line:sub(j, j)\n"
    "        if c == '\"' then\n"
    "          if line:sub(j + 1, j + 1) == '\"' then buf[#buf + 1] = '\"'; j = j + 2\n"
    "          else j = j + 1; break end\n"
    "        else buf[#buf + 1] = c; j = j + 1 end\n"
    "      end\n"
    "      out[#out + 1] = table.concat(buf)\n"
    "      i = j + 1\n"
    "    else\n"
    "      local j = line:find(\",\", i, true) or (n + 1)\n"
    "      out[#out + 1] = line:sub(i, j - 1)\n"
    "      i = j + 1\n"
    "    end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "\n"
    "local csvs = {}\n"
    "function csv(path)\n"
    "  local rows = csvs[path]\n"
    "  if rows then return rows end\n"
    "  rows = {}\n"
    "  local header\n"
    "  for line in (open(path) .. \"\\n\"):gmatch(\"([^\\n]*)\\n\") do\n"
    "    line = line:gsub(\"\\r$\", \"\")\n"
    "    if line ~= \"\" then\n"
    "      local f = csv_fields(line)\n"
    "      if not header then header = f\n"
    "      else\n"
    "        local r = {}\n"
    "        for i, h in ipairs(header) do r[h] = f[i] end\n"
    "        rows[#rows + 1] = r\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  csvs[path] = rows\n"
    "  return rows\n"
    "end\n"
    "\n"
    "-- WebSocket: blocking style on the C socket, and k6's callback style.\n"
    "ws = { open = C.ws_open }\n"
    "local Socket = {}\n"
    "Socket.__index = Socket\n"
    "function Socket:on(ev, fn) self._h[ev] = fn end\n"
    "function Socket:send(msg, opts) return self._s:send(msg, opts) end\n"
    "function Socket:ping() return self._s:ping() end\n"
    "function Socket:close(code, reason) return self._s:close(code, reason) end\n"
    "function Socket:setTimeout(fn, ms) self._timers[#self._timers + 1] = { at = C.now() + ms / 1000, fn = fn } end\n"
    "function Socket:setInterval(fn, ms)\n"
    "  self._timers[#self._timers + 1] = { at = C.now() + ms / 1000, fn = fn, every = ms / 1000 }\n"
    "end\n"
    "\n"
    "local function run_socket(sock)\n"
    "  local s, h = sock._s, sock._h\n"
    "  if h.open then h.open() end\n"
    "  while true do\n"
    "    local now, nexttime = C.now(), nil\n"
    "    for _, t in ipairs(sock._timers) do\n"
    "      if not nexttime or t.at < nexttime then nexttime = t.at end\n"
    "    end\n"
    "    local wait = nexttime and math.max(0, nexttime - now) or -1\n"
    "    local kind, data = s:_event(wait)\n"
    "    if kind == \"message\" then\n"
    "      if h.message then h.message(data) end\n"
    "    elseif kind == \"close\" then\n"
    "      if h.close then h.close(data) end\n"
    "      return\n"
    "    elseif kind == \"error\" then\n"
    "      if h.error then h.error(data) end\n"
    "      if h.close then h.close(1006) end\n"
    "      return\n"
    "    else\n"
    "      now = C.now()\n"
    "      local due, keep = {}, {}\n"
    "      for _, t in ipairs(sock._timers) do\n"
    "        if t.at <= now then due[#due + 1] = t else keep[#keep + 1] = t end\n"
    "      end\n"
    "      sock._timers = keep\n"
    "      for _, t in ipairs(due) do\n"
    "        if t.every then t.at = now + t.every; keep[#keep + 1] = t end\n"
    "        t.fn()\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "\n"
    "function ws.connect(url, params, fn)\n"
    "  if type(params) == \"function\" then fn, params = params, nil end\n"
    "  local s, err = C.ws_open(url, params)\n"
    "  if not s then\n"
    "    return { status = 0, error = err, url = url }\n"
    "  end\n"
    "  local sock = setmetatable({ _s = s, _h = {}, _timers = {} }, Socket)\n"
    "  local ok, e = pcall(function()\n"
    "    if fn then fn(sock) end\n"
    "    run_socket(sock)\n"
    "  end)\n"
    "  if not ok then\n"
    "    pcall(s.close, s)\n"
    "    error(e, 0)\n"
    "  end\n"
    "  return { status = 101, url = url }\n"
    "end\n"
    "\n"
    "-- The driver of a VU: one call of the scenario's function per iteration.\n"
    "local function handler(e)\n"
    "  if type(e) ~= \"string\" then e = tostring(e) end\n"
    "  return e\n"
    "end\n"
    "return function(fn)\n"
    "  while true do\n"
    "    local ok, err = xpcall(fn, handler)\n"
    "    C.iter_end(ok, err)\n"
    "  end\n"
    "end\n"
    "\n";

int lua_api_install(lua_State *L, lua_worker *w, const char *dir, const char *const *env,
                    size_t nenv, err *e)
{
    luaL_openlibs(L);
    memset(lua_getextraspace(L), 0, sizeof(void *));
    lua_pushstring(L, dir ? dir : "");
    lua_setfield(L, LUA_REGISTRYINDEX, "volley.dir");
    /* ENV: the process environment, then -e pairs over it. */
    lua_newtable(L);
    for (char **p = environ; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        if (eq) {
            lua_pushlstring(L, *p, (size_t)(eq - *p));
            lua_pushstring(L, eq + 1);
            lua_rawset(L, -3);
        }
    }
    for (size_t i = 0; i < nenv; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq)
            return err_set(e, VOLLEY_EINVAL, "-e %s: expected KEY=VALUE", env[i]);
        lua_pushlstring(L, env[i], (size_t)(eq - env[i]));
        lua_pushstring(L, eq + 1);
        lua_rawset(L, -3);
    }
    lua_setglobal(L, "ENV");
    /* Responses: res:json(). */
    luaL_newmetatable(L, "volley.response");
    lua_pop(L, 1);
    /* WebSocket userdata. */
    static const luaL_Reg ws_methods[] = {
        {"send", l_ws_send}, {"recv", l_ws_recv}, {"close", l_ws_close},
        {"ping", l_ws_ping}, {"_event", l_ws_event}, {"state", l_ws_state}, {NULL, NULL},
    };
    luaL_newmetatable(L, "volley.ws");
    lua_newtable(L);
    lua_pushlightuserdata(L, w);
    luaL_setfuncs(L, ws_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ws_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"http", l_http}, {"sleep", l_sleep}, {"now", l_now}, {"iter_end", l_iter_end},
        {"check", l_check}, {"metric_decl", l_metric_decl}, {"metric", l_metric_add},
        {"vu", l_vu_field}, {"readfile", l_readfile}, {"json_decode", l_json_decode},
        {"json_encode", l_json_encode}, {"ws_open", l_ws_open}, {"print", l_print},
        {NULL, NULL},
    };
    if (luaL_loadbuffer(L, prelude, sizeof prelude - 1, "=volley")) {
        return err_set(e, VOLLEY_EINVAL, "internal: prelude: %s", lua_tostring(L, -1));
    }
    lua_newtable(L);
    lua_pushlightuserdata(L, w);
    luaL_setfuncs(L, fns, 1);
    if (lua_pcall(L, 1, 1, 0))
        return err_set(e, VOLLEY_EINVAL, "internal: prelude: %s", lua_tostring(L, -1));
    /* The prelude returns the VU driver. */
    lua_setfield(L, LUA_REGISTRYINDEX, "volley.driver");
    return 0;
}

int lua_api_load(lua_State *L, const char *path, err *e)
{
    int rc = luaL_loadfilex(L, path, "t");
    if (rc == LUA_ERRFILE)
        return err_set(e, VOLLEY_EINVAL, "cannot read script: %s", lua_tostring(L, -1) + 1);
    if (rc)
        return err_set(e, VOLLEY_EPARSE, "%s", lua_tostring(L, -1));
    if (lua_pcall(L, 0, 0, 0)) {
        const char *m = luaL_tolstring(L, -1, NULL);
        return err_set(e, VOLLEY_EINVAL, "%s", m);
    }
    return 0;
}
