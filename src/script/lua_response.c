/* lua_response: a script's response object, made by script/lua_http
 * (the raw string's layout: lua_response.h). Response.__index (here)
 * makes res.timings, res.headers, res.method, res.url and res.proto from
 * _r the first time they are read, and keeps them in the response.
 * res.timings is a userdata of the seven numbers whose metatable makes it
 * read like the table it was (fields, pairs(), writes, #, json.encode): a
 * 7-key table per read, and its collection, cost ~3,000 instructions. */
#include "script/lua_response.h"

#include "proto/http1.h"

#include <lauxlib.h>
#include <string.h>

#define RAW_TIMINGS (sizeof(double) * LUA_T_COUNT)
enum { RAW_METHOD, RAW_PROTO, RAW_URL, RAW_STRINGS };

/* res.timings: LUA_T_COUNT doubles; its one user value is the table of
 * what the script set in it (nil until it sets something). */
static const char *const timing_names[LUA_T_COUNT] = {
    "duration", "connecting", "sending", "waiting", "receiving", "first_body", "decoding"};

/* Registry keys (their addresses): the timings' metatable; the mark of a
 * timings field the script set to nil (in the user value table). */
static const char timings_mt_key;
static const char deleted_key;

/* The timings field named by the value at idx (an index of timing_names),
 * or -1. */
static int field_of(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return -1;
    size_t kl;
    const char *k = lua_tolstring(L, idx, &kl);
    int i;
    switch (kl) {
    case 7:
        i = k[0] == 's' ? LUA_T_SENDING : LUA_T_WAITING;
        break;
    case 8:
        i = k[0] == 'd' && k[1] == 'u' ? LUA_T_DURATION : LUA_T_DECODING;
        break;
    case 9:
        i = LUA_T_RECEIVING;
        break;
    case 10:
        i = k[0] == 'c' ? LUA_T_CONNECTING : LUA_T_FIRST_BODY;
        break;
    default:
        return -1;
    }
    return memcmp(k, timing_names[i], kl) ? -1 : i;
}

static double timing_of(lua_State *L, int idx, int i)
{
    double v;
    memcpy(&v, (const char *)lua_touserdata(L, idx) + (size_t)i * sizeof v, sizeof v);
    return v;
}

static bool is_deleted(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &deleted_key;
}

/* Pushes what the script set for the key at key in the block at 1: true
 * and the value (nil when it set nil), or false and nothing (not set). */
static bool set_value(lua_State *L, int key)
{
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return false;
    }
    lua_pushvalue(L, key);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pop(L, 2);
        return false;
    }
    lua_remove(L, -2);
    if (is_deleted(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return true;
}

/* timings[k]: what the script set, else the field, else nil. */
static int timings_index(lua_State *L)
{
    if (set_value(L, 2))
        return 1;
    int i = field_of(L, 2);
    if (i < 0)
        return 0;
    lua_pushnumber(L, timing_of(L, 1, i));
    return 1;
}

/* timings[k] = v: kept in the user value table (a field set to nil is
 * marked there, so that it reads nil and pairs() skips it). */
static int timings_newindex(lua_State *L)
{
    lua_settop(L, 3);
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 1);
    }
    lua_pushvalue(L, 2);
    if (lua_isnil(L, 3) && field_of(L, 2) >= 0)
        lua_pushlightuserdata(L, (void *)&deleted_key);
    else
        lua_pushvalue(L, 3);
    lua_rawset(L, -3); /* a nil or NaN key raises as for a table */
    return 0;
}

/* next(timings, k) for pairs(): the fields the script did not set, in
 * their order, then the user value table's entries (nil ones skipped). */
static int timings_next(lua_State *L)
{
    lua_settop(L, 2);
    bool set = lua_getiuservalue(L, 1, 1) == LUA_TTABLE; /* 3 */
    int from = 0;
    if (!lua_isnil(L, 2)) {
        int i = field_of(L, 2);
        lua_pushvalue(L, 2);
        bool in_set = set && lua_rawget(L, 3) != LUA_TNIL;
        lua_pop(L, 1);
        if (i < 0 || in_set)
            goto set_part;
        from = i + 1;
    }
    for (int i = from; i < LUA_T_COUNT; i++) {
        lua_pushstring(L, timing_names[i]);
        if (set) {
            lua_pushvalue(L, -1);
            bool in_set = lua_rawget(L, 3) != LUA_TNIL;
            lua_pop(L, 1);
            if (in_set) {
                lua_pop(L, 1);
                continue;
            }
        }
        lua_pushnumber(L, timing_of(L, 1, i));
        return 2;
    }
    lua_pushnil(L);
    lua_replace(L, 2);
set_part:
    if (!set)
        return 0;
    lua_pushvalue(L, 2);
    while (lua_next(L, 3)) {
        if (!is_deleted(L, -1))
            return 2;
        lua_pop(L, 1);
    }
    return 0;
}

static int timings_pairs(lua_State *L)
{
    lua_pushcfunction(L, timings_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* #timings: as a table of string keys, 0 (or the border of what was set). */
static int timings_len(lua_State *L)
{
    lua_Integer n = 0;
    if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE)
        n = (lua_Integer)lua_rawlen(L, -1);
    lua_pushinteger(L, n);
    return 1;
}

void lua_response_install(lua_State *L)
{
    static const luaL_Reg mt[] = {{"__index", timings_index},
                                  {"__newindex", timings_newindex},
                                  {"__pairs", timings_pairs},
                                  {"__len", timings_len},
                                  {NULL, NULL}};
    luaL_newmetatable(L, "volley.timings");
    luaL_setfuncs(L, mt, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &timings_mt_key);
}

/* The value at idx is a res.timings: its metatable is the one at mt. */
static bool is_timings(lua_State *L, int idx, int mt)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return false;
    bool ours = lua_rawequal(L, -1, mt);
    lua_pop(L, 1);
    return ours;
}

bool lua_response_timings_table(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &timings_mt_key);
    bool timings = is_timings(L, idx, lua_gettop(L));
    lua_pop(L, 1);
    if (!timings)
        return false;
    lua_newtable(L);
    int t = lua_gettop(L);
    lua_pushnil(L);
    for (;;) { /* t, key */
        lua_pushcfunction(L, timings_next);
        lua_pushvalue(L, idx);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 2); /* t, key, k, v */
        if (lua_isnil(L, -2))
            break;
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, t);
        lua_remove(L, -2);
    }
    lua_settop(L, t);
    return true;
}

bool lua_response_json_table(lua_State *L, int idx)
{
    static const char *const lazy[] = {"headers", "method", "url", "proto", "timings",
                                       "redirects"};
    idx = lua_absindex(L, idx);
    if (!lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, "volley.response");
    bool response = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!response)
        return false;
    lua_newtable(L);
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* t, k, v */
        if (lua_type(L, -2) == LUA_TSTRING && !strcmp(lua_tostring(L, -2), "_r")) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, t);
    }
    for (size_t i = 0; i < sizeof lazy / sizeof *lazy; i++) {
        lua_getfield(L, idx, lazy[i]); /* made from _r by __index when not yet read */
        lua_setfield(L, t, lazy[i]);
    }
    return true;
}

static const char *raw_of(lua_State *L, int idx, size_t *len)
{
    *len = 0;
    const char *raw = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, len) : "";
    if (*len < RAW_TIMINGS)
        *len = 0;
    return raw;
}

/* The which-th NUL-ended string after the timings of raw (len: its
 * length; RAW_STRINGS: the head, up to the end). */
static const char *raw_string(const char *raw, size_t len, int which, size_t *slen)
{
    size_t off = RAW_TIMINGS;
    *slen = 0;
    if (len <= off)
        return "";
    for (int i = 0; i < which && off < len; i++)
        off += strnlen(raw + off, len - off) + 1;
    if (off >= len)
        return "";
    *slen = which == RAW_STRINGS ? len - off : strnlen(raw + off, len - off);
    return raw + off;
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

/* One header line into the headers table at the top of L: the name in
 * canonical case, repeated names joined with ", ", Set-Cookie a list. */
static void add_header(void *ctx, const char *name, size_t nl, const char *val, size_t vl)
{
    lua_State *L = ctx;
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
        return;
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

/* Upvalues of the response's __index. */
enum { UP_CIHEADERS = 1, UP_METHODS, UP_TIMINGS_MT, UP_RAW_KEY };

/* Response.__index(self, k): timings, headers, method, url and proto
 * made from _r on first read and kept in the
 * response; redirects 0 (set when there were some); anything else from
 * the methods table. */
static int response_index(lua_State *L)
{
    size_t kl = 0;
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &kl) : "";
    bool timings = kl == 7 && !memcmp(k, "timings", 7);
    bool headers = kl == 7 && !memcmp(k, "headers", 7);
    int str = kl == 6 && !memcmp(k, "method", 6) ? RAW_METHOD
            : kl == 5 && !memcmp(k, "proto", 5)  ? RAW_PROTO
            : kl == 3 && !memcmp(k, "url", 3)    ? RAW_URL
                                                 : -1;
    if (kl == 9 && !memcmp(k, "redirects", 9)) {
        lua_pushinteger(L, 0);
        return 1;
    }
    if (!timings && !headers && str < 0) {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(UP_METHODS));
        return 1;
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(UP_RAW_KEY));
    lua_rawget(L, 1);
    size_t len;
    const char *raw = raw_of(L, 3, &len);
    if (timings) {
        double *t = lua_newuserdatauv(L, RAW_TIMINGS, 1);
        if (len)
            memcpy(t, raw, RAW_TIMINGS);
        else
            for (int i = 0; i < LUA_T_COUNT; i++)
                t[i] = 0;
        lua_pushvalue(L, lua_upvalueindex(UP_TIMINGS_MT));
        lua_setmetatable(L, -2);
    } else if (headers) {
        size_t hl;
        const char *head = raw_string(raw, len, RAW_STRINGS, &hl);
        lua_newtable(L);
        http1_head_split(head, hl, add_header, L);
        lua_pushvalue(L, lua_upvalueindex(UP_CIHEADERS));
        lua_setmetatable(L, -2);
    } else {
        size_t sl;
        const char *v = raw_string(raw, len, str, &sl);
        if (str != RAW_METHOD && !sl) /* not sent, or the table's own field */
            return 0;
        lua_pushlstring(L, v, sl);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

int lua_response_index(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &timings_mt_key);
    lua_pushliteral(L, "_r");
    lua_pushcclosure(L, response_index, UP_RAW_KEY);
    return 1;
}
