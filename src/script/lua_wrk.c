/* lua_wrk: wrk scripts run as they are (see lua_wrk.h). The Lua half
 * (src/script/wrk.lua, compiled in) has wrk.format, the request parser and
 * the iteration; this half makes the `wrk` table, the main state of
 * setup() and done() (with wrk's stats objects: corrected latency,
 * percentile, stats(i), #stats), lookups and connects with wrk's address
 * objects, and copies values between a thread's state and the main state
 * (thread:set before, thread:get after). */
#include "script/lua_wrk.h"

#include "core/log.h"
#include "metrics/hist.h"
#include "net/addr.h"
#include "script/lua_api.h"
#include "script/lua_http.h"
#include "script/lua_worker.h"
#include "script/script.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "wrk_lua.h"

#define COPY_DEPTH 64

struct lua_wrk {
    lua_State *M;            /* setup(thread), done(); thread objects */
    const script_opts *o;
    uint32_t nthreads;
};

/* ---- address objects (wrk.lookup, thread.addr): userdata "wrk.addr" ---- */

static int addr_tostring(lua_State *L)
{
    char s[128];
    addr_format(luaL_checkudata(L, 1, "wrk.addr"), s, sizeof s);
    lua_pushstring(L, s);
    return 1;
}

static int addr_eq(lua_State *L)
{
    const addr *a = luaL_checkudata(L, 1, "wrk.addr"), *b = luaL_checkudata(L, 2, "wrk.addr");
    lua_pushboolean(L, a->len == b->len && !memcmp(&a->sa, &b->sa, a->len));
    return 1;
}

/* Pushes an address object holding a copy of a. */
static void push_addr(lua_State *L, const addr *a)
{
    addr *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = *a;
    if (luaL_newmetatable(L, "wrk.addr")) {
        lua_pushcfunction(L, addr_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, addr_eq);
        lua_setfield(L, -2, "__eq");
    }
    lua_setmetatable(L, -2);
}

/* The address at idx: an address object, or an "ip:port" string (what
 * volley took before wrk's objects; still accepted). */
static int to_addr(lua_State *L, int idx, const char *what, addr *out)
{
    const addr *u = luaL_testudata(L, idx, "wrk.addr");
    if (u) {
        *out = *u;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return luaL_error(L, "%s: an address from wrk.lookup or an \"ip:port\" string, not a %s",
                          what, luaL_typename(L, idx));
    err e;
    if (addr_parse_hostport(lua_tostring(L, idx), what, out, &e))
        return luaL_error(L, "%s", e.msg);
    return 0;
}

/* ---- values between states (nil, booleans, numbers, strings, tables,
 * address objects) ---- */

static bool copyable(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    return t == LUA_TBOOLEAN || t == LUA_TNUMBER || t == LUA_TSTRING || t == LUA_TTABLE ||
           (t == LUA_TUSERDATA && luaL_testudata(L, idx, "wrk.addr"));
}

/* Pushes onto `to` a copy of the value at idx in `from`. seen (an index in
 * `to`) maps each table already copied, so shared tables stay shared and
 * cycles are kept; nesting deeper than COPY_DEPTH is cut (nil). */
static void copy_value(lua_State *from, int idx, lua_State *to, int seen, int depth)
{
    idx = lua_absindex(from, idx);
    luaL_checkstack(to, 6, "wrk: value too deep");
    luaL_checkstack(from, 4, "wrk: value too deep");
    switch (lua_type(from, idx)) {
    case LUA_TBOOLEAN:
        lua_pushboolean(to, lua_toboolean(from, idx));
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(from, idx))
            lua_pushinteger(to, lua_tointeger(from, idx));
        else
            lua_pushnumber(to, lua_tonumber(from, idx));
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(from, idx, &n);
        lua_pushlstring(to, s, n);
        return;
    }
    case LUA_TTABLE:
        break;
    case LUA_TUSERDATA:
        if (luaL_testudata(from, idx, "wrk.addr")) {
            push_addr(to, lua_touserdata(from, idx));
            return;
        }
        lua_pushnil(to);
        return;
    default:
        lua_pushnil(to);
        return;
    }
    lua_pushlightuserdata(to, (void *)lua_topointer(from, idx));
    if (lua_rawget(to, seen) == LUA_TTABLE || depth >= COPY_DEPTH) {
        if (!lua_istable(to, -1)) { /* too deep */
            lua_pop(to, 1);
            lua_pushnil(to);
        }
        return;
    }
    lua_pop(to, 1);
    lua_newtable(to);
    lua_pushlightuserdata(to, (void *)lua_topointer(from, idx));
    lua_pushvalue(to, -2);
    lua_rawset(to, seen);
    lua_pushnil(from);
    while (lua_next(from, idx)) {
        if (lua_type(from, -2) != LUA_TTABLE && copyable(from, -2) && copyable(from, -1)) {
            copy_value(from, -2, to, seen, depth + 1);
            copy_value(from, -1, to, seen, depth + 1);
            lua_rawset(to, -3);
        }
        lua_pop(from, 1);
    }
}

/* copy_value with a fresh map of the tables copied. */
static void copy_top(lua_State *from, int idx, lua_State *to)
{
    idx = lua_absindex(from, idx);
    lua_newtable(to);
    int seen = lua_gettop(to);
    copy_value(from, idx, to, seen, 0);
    lua_remove(to, seen);
}

/* ---- wrk.lookup, wrk.connect, thread:stop ---- */

static int l_lookup(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    const char *svc = luaL_optstring(L, 2, "http");
    if (!strcmp(svc, "http"))
        svc = "80";
    else if (!strcmp(svc, "https"))
        svc = "443";
    char us[600];
    snprintf(us, sizeof us, strchr(host, ':') ? "http://[%s]:%s/" : "http://%s:%s/", host, svc);
    url u;
    addr a[ADDR_MAX];
    err e;
    int n = addr_parse_url(us, "wrk.lookup", &u, &e) ? -1
                                                     : addr_resolve_all(&u, "wrk.lookup", a, ADDR_MAX, &e);
    if (n < 0)
        return luaL_error(L, "wrk.lookup(%s, %s): %s", host, svc, e.msg);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_addr(L, &a[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* wrk.connect(addr): true if a TCP connection to addr opens (1 s at most). */
static int l_connect(lua_State *L)
{
    addr a;
    to_addr(L, 1, "wrk.connect", &a);
    int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {1, 0};
    bool ok = fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) &&
              !connect(fd, (struct sockaddr *)&a.sa, a.len);
    if (fd >= 0)
        close(fd);
    lua_pushboolean(L, ok);
    return 1;
}

static int l_stop(lua_State *L)
{
    lua_worker *w = lua_touserdata(L, lua_upvalueindex(1));
    if (w)
        lua_worker_stop(w);
    return 0;
}

/* ---- the wrk table and wrk.lua ---- */

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* The URL's explicit port ("8080"), or NULL when it has none. */
static const char *explicit_port(const url *u)
{
    const char *c = strrchr(u->hostport, ':');
    const char *b = strrchr(u->hostport, ']');
    return c && (!b || c > b) ? c + 1 : NULL;
}

static int install(lua_State *L, const script_opts *o, lua_worker *w, url *u, err *e)
{
    if (addr_parse_url(o->wrk->url, "url", u, e))
        return e->code;
    if (strcmp(u->scheme, "http") && strcmp(u->scheme, "https"))
        return err_set(e, VOLLEY_EINVAL, "-s: the URL must be http:// or https://, not %s",
                       o->wrk->url);
    lua_createtable(L, 0, 12);
    set_str(L, "scheme", u->scheme);
    set_str(L, "host", u->host);
    if (explicit_port(u))
        set_str(L, "port", explicit_port(u));
    set_str(L, "method", "GET");
    set_str(L, "path", u->path);
    lua_createtable(L, 0, (int)o->http_nheaders);
    for (size_t i = 0; i < o->http_nheaders; i++)
        set_str(L, o->http_headers[i].name, o->http_headers[i].value);
    lua_setfield(L, -2, "headers");
    lua_pushcfunction(L, l_lookup);
    lua_setfield(L, -2, "lookup");
    lua_pushcfunction(L, l_connect);
    lua_setfield(L, -2, "connect");
    lua_setglobal(L, "wrk");
    if (luaL_loadbuffer(L, (const char *)wrk_lua, sizeof wrk_lua, "=wrk"))
        return err_set(e, VOLLEY_EINVAL, "internal: wrk.lua: %s", lua_tostring(L, -1));
    static const luaL_Reg fns[] = {
        {"stop", l_stop}, {"http", lua_http_call}, {"pipe", lua_http_pipeline}, {NULL, NULL}};
    lua_newtable(L);
    lua_pushlightuserdata(L, w);
    luaL_setfuncs(L, fns, 1);
    lua_pushinteger(L, LUA_HTTP_PIPE_MAX);
    lua_setfield(L, -2, "PIPE_MAX");
    if (lua_pcall(L, 1, 1, 0))
        return err_set(e, VOLLEY_EINVAL, "internal: wrk.lua: %s", lua_tostring(L, -1));
    lua_setfield(L, LUA_REGISTRYINDEX, "wrk.api");
    return 0;
}

/* The iteration of wrk.lua becomes the script's `default`. */
static void set_default(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "wrk.api");
    lua_getfield(L, -1, "iteration");
    lua_setglobal(L, "default");
    lua_pop(L, 1);
}

int lua_wrk_check(lua_State *L, const script_opts *o, const char *path, err *e)
{
    url u;
    int rc = install(L, o, NULL, &u, e);
    if (!rc)
        rc = lua_api_load(L, path, e);
    if (!rc)
        set_default(L);
    return rc;
}

/* ---- the main state: setup(thread) ---- */

static int call(lua_State *L, int nargs, const char *what, err *e)
{
    if (lua_pcall(L, nargs, 0, 0))
        return err_set(e, VOLLEY_EINVAL, "%s: %s", what, luaL_tolstring(L, -1, NULL));
    return 0;
}

static int make_threads(lua_wrk *wk, const url *u, err *e)
{
    lua_State *M = wk->M;
    addr a;
    if (addr_resolve(u, "url", &a, e))
        return e->code;
    lua_createtable(M, (int)wk->nthreads, 0);
    for (uint32_t i = 0; i < wk->nthreads; i++) {
        lua_getfield(M, LUA_REGISTRYINDEX, "wrk.api");
        lua_getfield(M, -1, "main");
        lua_pushinteger(M, i + 1);
        push_addr(M, &a);
        lua_call(M, 2, 1);
        lua_rawseti(M, -3, i + 1);
        lua_pop(M, 1);
    }
    lua_setfield(M, LUA_REGISTRYINDEX, "wrk.threads");
    if (lua_getglobal(M, "setup") != LUA_TFUNCTION) {
        lua_pop(M, 1);
        return 0;
    }
    int rc = 0;
    for (uint32_t i = 0; i < wk->nthreads && !rc; i++) {
        lua_pushvalue(M, -1);
        lua_getfield(M, LUA_REGISTRYINDEX, "wrk.threads");
        lua_rawgeti(M, -1, i + 1);
        lua_remove(M, -2);
        rc = call(M, 1, "setup(thread)", e);
    }
    lua_pop(M, 1);
    return rc;
}

lua_wrk *lua_wrk_new(const char *path, const script_opts *o, uint32_t nthreads, err *e)
{
    lua_wrk *wk = calloc(1, sizeof *wk);
    if (!wk || !(wk->M = luaL_newstate())) {
        free(wk);
        err_set(e, VOLLEY_ENOMEM, "out of memory for Lua");
        return NULL;
    }
    wk->o = o;
    wk->nthreads = nthreads;
    luaL_openlibs(wk->M);
    url u;
    if (install(wk->M, o, NULL, &u, e) || lua_api_load(wk->M, path, e) ||
        make_threads(wk, &u, e)) {
        lua_wrk_free(wk);
        return NULL;
    }
    return wk;
}

/* Pushes onto M the thread object of worker id. */
static void push_thread(lua_State *M, uint32_t id)
{
    lua_getfield(M, LUA_REGISTRYINDEX, "wrk.threads");
    lua_rawgeti(M, -1, id + 1);
    lua_remove(M, -2);
}

/* ---- a worker's state ---- */

/* wrk.thread: this thread's own object, at the address setup() gave it
 * (an address object, or a "host:port" string, kept as it is). */
static int own_thread(lua_State *L, lua_wrk *wk, uint32_t id, err *e)
{
    push_thread(wk->M, id);
    lua_getfield(wk->M, -1, "addr");
    const addr *u = luaL_testudata(wk->M, -1, "wrk.addr");
    if (!u && lua_type(wk->M, -1) != LUA_TSTRING) {
        err_set(e, VOLLEY_EINVAL, "setup(thread): thread.addr must be an address from "
                "wrk.lookup or a \"host:port\" string, not a %s", luaL_typename(wk->M, -1));
        lua_pop(wk->M, 2);
        return e->code;
    }
    lua_getglobal(L, "wrk");
    lua_getfield(L, LUA_REGISTRYINDEX, "wrk.api");
    lua_getfield(L, -1, "own");
    if (u)
        push_addr(L, u);
    else
        lua_pushstring(L, lua_tostring(wk->M, -1));
    lua_call(L, 1, 1);
    lua_setfield(L, -3, "thread");
    lua_pop(L, 2);
    lua_pop(wk->M, 2);
    return 0;
}

/* The names of the globals before the script: not the script's values. */
static void mark_base(lua_State *L)
{
    lua_newtable(L);
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "wrk.base");
}

/* thread:set(name, value) in setup(): globals of the thread's state. */
static void apply_sets(lua_State *L, lua_wrk *wk, uint32_t id)
{
    lua_State *M = wk->M;
    push_thread(M, id);
    lua_getfield(M, -1, "_sets");
    lua_pushnil(M);
    while (lua_next(M, -2)) {
        if (lua_type(M, -2) == LUA_TSTRING && copyable(M, -1)) {
            copy_top(M, -1, L);
            lua_setglobal(L, lua_tostring(M, -2));
        }
        lua_pop(M, 1);
    }
    lua_pop(M, 2);
}

static int call_init(lua_State *L, const lua_wrk_opts *wo, const char *path, err *e)
{
    if (lua_getglobal(L, "init") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return 0;
    }
    lua_createtable(L, (int)wo->nargs, 0);
    for (size_t i = 0; i < wo->nargs; i++) {
        lua_pushstring(L, wo->args[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushstring(L, path); /* args[0]: the script, as in wrk */
    lua_rawseti(L, -2, 0);
    return call(L, 1, "init(args)", e);
}

int lua_wrk_worker_load(lua_State *L, lua_wrk *wk, lua_worker *w, uint32_t id, const char *path,
                        err *e)
{
    url u;
    int rc = install(L, wk->o, w, &u, e);
    if (rc)
        return rc;
    if ((rc = own_thread(L, wk, id, e)))
        return rc;
    mark_base(L);
    if ((rc = lua_api_load(L, path, e)))
        return rc;
    apply_sets(L, wk, id);
    if ((rc = call_init(L, wk->o->wrk, path, e)))
        return rc;
    set_default(L);
    return 0;
}

void lua_wrk_collect(lua_wrk *wk, uint32_t id, lua_State *L)
{
    lua_State *M = wk->M;
    if (!L || id >= wk->nthreads)
        return;
    if (lua_getfield(L, LUA_REGISTRYINDEX, "wrk.base") != LUA_TTABLE) {
        lua_pop(L, 1); /* the worker failed before the script was loaded */
        return;
    }
    push_thread(M, id);
    lua_newtable(M);
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        bool base = lua_rawget(L, -5) != LUA_TNIL;
        lua_pop(L, 1);
        if (!base && lua_type(L, -2) == LUA_TSTRING && copyable(L, -1)) {
            lua_pushstring(M, lua_tostring(L, -2));
            copy_top(L, -1, M);
            lua_rawset(M, -3);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    lua_setfield(M, -2, "_got");
    lua_pop(M, 1);
}

/* ---- done(summary, latency, requests) ---- */

typedef struct wrk_stats {
    hist *h;                 /* values in ns (latency) or counts x 1000 */
    size_t *idx;             /* the non-empty buckets, made at the first stats(i) */
    size_t n;
} wrk_stats;

static double us(uint64_t v) { return (double)v / 1e3; }

static int stats_percentile(lua_State *L)
{
    wrk_stats *s = luaL_checkudata(L, 1, "wrk.stats");
    double p = luaL_checknumber(L, 2);
    luaL_argcheck(L, p >= 0 && p <= 100, 2, "a percentile is between 0 and 100");
    lua_pushnumber(L, us(hist_percentile(s->h, p)));
    return 1;
}

static int stats_index(lua_State *L)
{
    wrk_stats *s = luaL_checkudata(L, 1, "wrk.stats");
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "min"))
        lua_pushnumber(L, us(hist_min(s->h)));
    else if (!strcmp(k, "max"))
        lua_pushnumber(L, us(hist_max(s->h)));
    else if (!strcmp(k, "mean"))
        lua_pushnumber(L, hist_mean(s->h) / 1e3);
    else if (!strcmp(k, "stdev"))
        lua_pushnumber(L, hist_stddev(s->h) / 1e3);
    else if (!strcmp(k, "percentile"))
        lua_pushcfunction(L, stats_percentile);
    else
        lua_pushnil(L);
    return 1;
}

static void note_bucket(void *ctx, size_t idx, uint64_t count)
{
    (void)count;
    wrk_stats *s = ctx;
    s->idx[s->n++] = idx;
}

/* The non-empty buckets in order, once. */
static wrk_stats *indexed(lua_State *L)
{
    wrk_stats *s = luaL_checkudata(L, 1, "wrk.stats");
    if (!s->idx && hist_count(s->h)) {
        if (!(s->idx = malloc(hist_nbuckets() * sizeof *s->idx)))
            luaL_error(L, "out of memory");
        hist_foreach(s->h, note_bucket, s);
    }
    return s;
}

/* #stats: how many distinct values were recorded (wrk's stats_popcount);
 * here the non-empty buckets of the histogram. */
static int stats_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)indexed(L)->n);
    return 1;
}

/* stats(i): the value and count of the i-th recorded bucket, in order of
 * value (wrk's stats_value_at); 0, 0 past the end. The value is what
 * percentile() reports for that bucket. */
static int stats_call(lua_State *L)
{
    wrk_stats *s = indexed(L);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || (size_t)i > s->n) {
        lua_pushnumber(L, 0);
        lua_pushinteger(L, 0);
        return 2;
    }
    size_t b = s->idx[i - 1];
    uint64_t v = hist_bucket_high(b);
    if (v < hist_min(s->h))
        v = hist_min(s->h);
    if (v > hist_max(s->h))
        v = hist_max(s->h);
    lua_pushnumber(L, us(v));
    lua_pushinteger(L, (lua_Integer)hist_bucket_count(s->h, b));
    return 2;
}

static int stats_gc(lua_State *L)
{
    wrk_stats *s = luaL_checkudata(L, 1, "wrk.stats");
    hist_free(s->h);
    free(s->idx);
    s->h = NULL;
    s->idx = NULL;
    return 0;
}

/* Pushes a stats object owning h (NULL: raises out of memory). */
static void push_stats(lua_State *L, hist *h)
{
    wrk_stats *s = lua_newuserdatauv(L, sizeof *s, 0);
    *s = (wrk_stats){.h = h};
    if (luaL_newmetatable(L, "wrk.stats")) {
        static const luaL_Reg mt[] = {{"__index", stats_index}, {"__gc", stats_gc},
                                      {"__call", stats_call}, {"__len", stats_len},
                                      {NULL, NULL}};
        luaL_setfuncs(L, mt, 0);
    }
    lua_setmetatable(L, -2);
    if (!h)
        luaL_error(L, "out of memory");
}

static void set_int(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static void push_summary(lua_State *L, const results *r)
{
    const metrics_totals *t = &r->st.tot;
    const uint64_t *k = t->err_kind;
    uint64_t status = 0;
    for (int s = 400; s < METRICS_STATUS_MAX; s++)
        status += t->status[s];
    lua_createtable(L, 0, 4);
    set_int(L, "duration", r->st.elapsed_ns / 1000);
    set_int(L, "requests", t->requests);
    set_int(L, "bytes", t->bytes_in);
    lua_createtable(L, 0, 5);
    set_int(L, "connect", k[ERRK_CONNECT_REFUSED] + k[ERRK_CONNECT_TIMEOUT] + k[ERRK_CONNECT] +
                              k[ERRK_TLS]);
    /* A failed write is counted apart (write_errors), as wrk does; its kind
     * is still one of the read kinds in results.json. */
    set_int(L, "read", k[ERRK_RESET] + k[ERRK_PARSE] + k[ERRK_CLOSED] + k[ERRK_STALE] +
                           k[ERRK_CANCELLED] - t->write_errors);
    set_int(L, "write", t->write_errors);
    set_int(L, "status", status);
    set_int(L, "timeout", k[ERRK_TIMEOUT]);
    lua_setfield(L, -2, "errors");
}

static int done_call(lua_State *L)
{
    const results *r = lua_touserdata(L, 1);
    uint64_t threads = (uint64_t)lua_tointeger(L, 2);
    lua_getglobal(L, "done");
    push_summary(L, r);
    /* wrk hands done() its latency corrected for coordinated omission; the
     * closed model's correction is results.json's latency_corrected. The
     * open model's latency is already from each request's intended start
     * (and has no correction). */
    const hist *src = r->st.latency_corrected && hist_count(r->st.latency_corrected)
                          ? r->st.latency_corrected
                          : r->st.latency;
    hist *lat = hist_new();
    if (lat)
        hist_merge(lat, src);
    push_stats(L, lat);
    hist *req = hist_new();
    push_stats(L, req);
    for (size_t i = 0; i < r->st.sec.len; i++)
        /* wrk's Req/Sec is per thread: each second's requests over the threads */
        hist_record(req, r->st.sec.rows[i].requests * 1000 / (threads ? threads : 1));
    lua_call(L, 3, 0);
    return 0;
}

int lua_wrk_done(lua_wrk *wk, const results *r, err *e)
{
    lua_State *M = wk->M;
    int t = lua_getglobal(M, "done");
    lua_pop(M, 1);
    if (t != LUA_TFUNCTION)
        return 0;
    lua_pushcfunction(M, done_call);
    lua_pushlightuserdata(M, (void *)r);
    lua_pushinteger(M, wk->nthreads);
    fflush(stdout);
    int rc = call(M, 2, "done(summary, latency, requests)", e);
    fflush(stdout);
    return rc;
}

void lua_wrk_free(lua_wrk *wk)
{
    if (!wk)
        return;
    if (wk->M)
        lua_close(wk->M);
    free(wk);
}
