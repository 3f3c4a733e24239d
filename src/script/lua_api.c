/* lua_api: installs what a script can call (see lua_api.h,
 * docs/scripting.md) and implements the small utilities (sleep, checks,
 * metrics, vu, files, JSON, print). HTTP is script/lua_http (over
 * load/exchange), WebSocket script/lua_ws; the Lua prelude
 * (script/prelude.lua, compiled in) builds the friendly surface on top
 * (http.get, check, group, metric objects, k6-style ws.connect). A C call
 * that waits sets vu->wait and yields; lua_api_push_results turns the
 * completion into the call's return values. */
#include "script/lua_api.h"
#include "script/lua_batch.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/parse.h"
#include "script/lua_args.h"
#include "script/lua_http.h"
#include "script/lua_response.h"
#include "script/lua_ws.h"
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

#define worker_of lua_args_worker
#define need_vu lua_args_need_vu
#define duration_arg lua_args_duration
#define ms_of lua_args_ms

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
    loop_timer_start(vu->lp, &vu->timer, loop_update_now(vu->lp) + ns, on_sleep_done, vu);
    return lua_yield(L, 0);
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, (double)clock_now_ns() / 1e9);
    return 1;
}

/* ---- iteration end (the driver) ---- */

/* The JSON of setup()'s return value for this run's iterations, or nil. */
static int l_setup_data(lua_State *L)
{
    lua_worker *w = worker_of(L);
    const lua_worker_ctx *ctx = w ? lua_worker_context(w) : NULL;
    if (ctx && ctx->setup_json)
        lua_pushstring(L, ctx->setup_json);
    else
        lua_pushnil(L);
    return 1;
}

/* setup(): keeps the JSON of its return value for the main run. */
static int l_phase_result(lua_State *L)
{
    lua_worker *w = worker_of(L);
    const char *json = luaL_checkstring(L, 1);
    const lua_worker_ctx *ctx = w ? lua_worker_context(w) : NULL;
    if (ctx && ctx->phase_result && !*ctx->phase_result)
        *ctx->phase_result = strdup(json);
    return 0;
}

static int l_iter_end(lua_State *L)
{
    lua_vu *vu = need_vu(L, "iteration end");
    vu->has_err = !lua_toboolean(L, 1);
    if (vu->has_err)
        snprintf(vu->errmsg, sizeof vu->errmsg, "%s", luaL_tolstring(L, 2, NULL));
    if (lua_vu_next_at_once(vu))
        return 0; /* the driver goes on with the next iteration */
    vu->wait = VW_ITER_END;
    return lua_yield(L, 0);
}

/* ---- checks, metrics, vu ---- */

/* check(value, sets, tags) in C: a closure over (worker, the prelude's
 * group table by coroutine). Stack: 1 value, 2 sets, 3 tags, 4 the VU's
 * group or nil, then lua_next's key. A set is a function called with
 * value in protected mode (it may wait: lua_pcallk continues in check_k)
 * or a value taken as true or false. */
static int check_loop(lua_State *L, bool all);

/* Counts the set whose name is the key at the top (left there). */
static void check_record(lua_State *L, bool pass)
{
    lua_worker *w = worker_of(L);
    if (!w)
        return;
    bool str = lua_type(L, -1) == LUA_TSTRING;
    const char *name = str ? lua_tostring(L, -1) : luaL_tolstring(L, -1, NULL);
    char full[sizeof ((script_check *)0)->name];
    if (!lua_isnil(L, 4)) {
        snprintf(full, sizeof full, "%s::%s", lua_tostring(L, 4), name);
        name = full;
    }
    script_check *c = script_results_check(lua_worker_results(w), name);
    if (c && pass)
        c->passes++;
    else if (c)
        c->fails++;
    if (!str)
        lua_pop(L, 1);
}

static int check_k(lua_State *L, int status, lua_KContext all)
{
    bool pass = (status == LUA_OK || status == LUA_YIELD) && lua_toboolean(L, -1);
    lua_pop(L, 1);
    check_record(L, pass);
    return check_loop(L, all && pass);
}

static int check_loop(lua_State *L, bool all)
{
    while (lua_next(L, 2)) {
        bool pass;
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, 1);
            int st = lua_pcallk(L, 1, 1, 0, all, check_k);
            pass = st == LUA_OK && lua_toboolean(L, -1);
        } else {
            pass = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
        check_record(L, pass);
        all = all && pass;
    }
    lua_pushboolean(L, all);
    return 1;
}

static int l_check_all(lua_State *L)
{
    if (!lua_istable(L, 2))
        return luaL_error(L, "check: the second argument must be a table of functions");
    lua_settop(L, 3);
    /* the VU's group: looked up only while some group() runs (groups[1]) */
    if (lua_rawgeti(L, lua_upvalueindex(2), 1) != LUA_TNIL) { /* nil: 4 is the nil */
        bool some = lua_tointeger(L, 4) > 0;
        lua_pop(L, 1);
        if (some)
            lua_pushthread(L);
        if (!some || lua_rawget(L, lua_upvalueindex(2)) != LUA_TSTRING) {
            lua_settop(L, 3);
            lua_pushnil(L);
        }
    }
    lua_pushnil(L);
    return check_loop(L, true);
}

/* C.checker(groups): the check function. */
static int l_checker(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, l_check_all, 2);
    return 1;
}

static int l_check(lua_State *L)
{
    lua_worker *w = worker_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (w) {
        script_check *c = script_results_check(lua_worker_results(w), name);
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
    /* Remembered by name, so that thresholds are checked before the load. */
    if (lua_getfield(L, LUA_REGISTRYINDEX, "volley.declared") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "volley.declared");
    }
    lua_pushinteger(L, k);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    if (w) {
        script_results *res = lua_worker_results(w);
        script_metric *m = script_results_metric(res, name, k);
        if (m && m->kind != k)
            return luaL_error(L, "metric '%s' already exists with another kind", name);
        if (m) {
            /* Its handle: the place in this worker's results (metrics are
             * only ever appended), so that add() finds it without a lookup. */
            lua_pushinteger(L, (lua_Integer)(m - res->metrics) + 1);
            return 1;
        }
    }
    return 0;
}

/* A value given to add(): a number, or a boolean or nil as 1 or 0. */
static double metric_value(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_tonumber(L, idx);
    if (lua_type(L, idx) == LUA_TBOOLEAN || lua_isnoneornil(L, idx))
        return lua_toboolean(L, idx);
    return luaL_checknumber(L, idx);
}

static void metric_add_id(lua_State *L, lua_Integer id, double v)
{
    lua_worker *w = worker_of(L);
    script_results *res = w ? lua_worker_results(w) : NULL;
    if (res && id >= 1 && (size_t)id <= res->nmetrics)
        metric_add(&res->metrics[id - 1], v);
}

/* add_id(handle, value): an untagged add() through metric_decl's handle. */
static int l_metric_add_id(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    metric_add_id(L, id, metric_value(L, 2));
    return 0;
}

/* A metric object's own add(self, value, tags): upvalues the worker, the
 * object, its handle (metric_decl's) and the prelude's Metric.add. Called
 * on its object without tags it adds through the handle here (no Lua
 * call); anything else goes to Metric.add. */
static int l_metric_add_bound(lua_State *L)
{
    int handle;
    /* lua_topointer: the object itself (a table), cheaper than lua_rawequal */
    lua_Integer id = lua_tointegerx(L, lua_upvalueindex(3), &handle);
    if (handle && lua_topointer(L, 1) == lua_topointer(L, lua_upvalueindex(2)) &&
        lua_isnoneornil(L, 3)) {
        metric_add_id(L, id, metric_value(L, 2));
        return 0;
    }
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(4));
    lua_insert(L, 1);
    lua_call(L, n, 0);
    return 0;
}

/* C.metric_adder(object, handle, add): the add above for one object. */
static int l_metric_adder(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushcclosure(L, l_metric_add_bound, 4);
    return 1;
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
    script_metric *m = script_results_metric(lua_worker_results(w), name, k);
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
                script_metric *sm = script_results_metric(lua_worker_results(w), sub, k);
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
        lua_pushstring(L, lua_worker_scenario_name(vu->w, vu->scen));
    else if (!strcmp(k, "worker"))
        lua_pushinteger(L, lua_worker_id(vu->w));
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

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, surrogates or code points past U+10FFFF), 0 if none. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* A JSON string of s[0..n): bytes that are not UTF-8 become U+FFFD, each
 * on its own, as Go's encoding/json writes them (k6, vegeta): a binary
 * body still encodes. */
static json_t *json_string_lossy(lua_State *L, const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    luaL_Buffer b;
    luaL_buffinitsize(L, &b, n + n / 2);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            luaL_addlstring(&b, s + i, k);
            i += k;
        } else {
            luaL_addstring(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    luaL_pushresult(&b);
    size_t len;
    const char *u = lua_tolstring(L, -1, &len);
    j = json_stringn_nocheck(u, len);
    lua_pop(L, 1);
    return j;
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
        return json_string_lossy(L, s, n);
    }
    case LUA_TTABLE: {
        if (lua_response_json_table(L, idx)) { /* a response, without its raw _r */
            json_t *o = to_json(L, -1, depth);
            lua_pop(L, 1);
            return o;
        }
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
    case LUA_TUSERDATA:
        if (lua_response_timings_table(L, idx)) { /* res.timings */
            json_t *o = to_json(L, -1, depth);
            lua_pop(L, 1);
            return o;
        }
        /* fall through */
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

/* ---- results of waits, cancel, free ---- */

int lua_api_push_results(lua_vu *vu)
{
    switch (vu->wait) {
    case VW_HTTP:
        return lua_http_push_result(vu->co, vu);
    case VW_WS:
        return lua_ws_push_result(vu->co, vu);
    default:
        return 0;
    }
}

void lua_api_cancel(lua_vu *vu)
{
    lua_http_cancel(vu);
    lua_batch_cancel(vu);
    if (vu->ws) {
        vu->ws = NULL;
    }
}

void lua_api_vu_free(lua_vu *vu)
{
    lua_http_vu_free(vu);
    lua_batch_free(vu);
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

/* The Lua half of the API: src/script/prelude.lua, compiled in by the
 * Makefile (build/gen/prelude_lua.h defines prelude_lua[]). */
#include "prelude_lua.h"
#include "script/lua_shared.h"
#include "script/lua_util.h"

int lua_api_install(lua_State *L, lua_worker *w, const char *dir, const char *const *env,
                    size_t nenv, err *e)
{
    luaL_openlibs(L);
    memset(lua_getextraspace(L), 0, sizeof(void *));
    lua_pushstring(L, dir ? dir : "");
    lua_setfield(L, LUA_REGISTRYINDEX, "volley.dir");
    /* require() finds modules beside the script first. */
    if (dir && *dir) {
        lua_getglobal(L, "package");
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
        lua_getfield(L, -2, "path");
        lua_concat(L, 2);
        lua_setfield(L, -2, "path");
        lua_pop(L, 1);
    }
    lua_util_install(L);
    lua_shared_install(L);
    /* math.random: seeded from --seed, per worker thread. */
    if (w) {
        lua_getglobal(L, "math");
        lua_getfield(L, -1, "randomseed");
        lua_pushinteger(L, (lua_Integer)lua_worker_context(w)->plan->seed);
        lua_pushinteger(L, (lua_Integer)lua_worker_id(w));
        lua_call(L, 2, 0);
        lua_pop(L, 1);
    }
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
    lua_response_install(L);
    lua_ws_install(L, w);
    static const luaL_Reg fns[] = {
        {"http", lua_http_call}, {"http_getter", lua_http_getter}, {"redirect", lua_http_redirect}, {"response_index", lua_response_index},
        {"sleep", l_sleep}, {"now", l_now}, {"iter_end", l_iter_end},
        {"check", l_check}, {"checker", l_checker}, {"metric_decl", l_metric_decl}, {"metric", l_metric_add},
        {"metric_id", l_metric_add_id}, {"metric_adder", l_metric_adder},
        {"vu", l_vu_field}, {"readfile", l_readfile}, {"json_decode", l_json_decode},
        {"json_encode", l_json_encode}, {"ws_open", lua_ws_open}, {"print", l_print},
        {"setup_data", l_setup_data}, {"phase_result", l_phase_result},
        {"batch", lua_batch_call}, {"batch_next", lua_batch_next}, {"batch_park", lua_batch_park},
        {NULL, NULL},
    };
    if (luaL_loadbuffer(L, (const char *)prelude_lua, sizeof prelude_lua, "=volley")) {
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
