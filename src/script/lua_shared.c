/* lua_shared: shared(name, loader), k6's SharedArray: data loaded once per
 * process and read by every VU of every thread without a copy per VU or
 * per thread. The rows live in one immutable C store (an arena of values
 * and, per row, offsets into it); each Lua state sees it through a proxy
 * whose rows are made into tables only when read. csv() inside a loader is
 * parsed straight into the store, never into a Lua table. */
#include "script/lua_shared.h"

#include "core/err.h"


#include <lauxlib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_STORES 64
#define MAX_KEYS 256

/* Each value in the arena: a type byte ('s' string, 'i' integer, 'n'
 * number, 'b' boolean), the text, a NUL. */
typedef struct store {
    char name[128];
    char *arena;
    size_t alen, acap;
    uint32_t *vals;     /* offsets: row r's values are vals[row_off[r] .. + nkeys] */
    size_t nvals, vcap;
    size_t *row_off;
    size_t nrows, rcap;
    char *keys[MAX_KEYS]; /* the header: one schema for every row (NULL: rows are scalars) */
    size_t nkeys;
    bool typed;         /* values carry a type byte (from Lua); a CSV's are all text */
} store;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static store *stores[MAX_STORES];
static size_t nstores;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n)
        return -1;
    *p = n;
    *cap = c;
    return 0;
}

static int put_value(store *s, char type, const char *v, size_t n)
{
    if (s->alen + n + 2 > UINT32_MAX || grow((void **)&s->arena, &s->acap, s->alen + n + 2, 1) ||
        grow((void **)&s->vals, &s->vcap, s->nvals + 1, sizeof *s->vals))
        return -1;
    s->vals[s->nvals++] = (uint32_t)s->alen;
    s->arena[s->alen++] = type;
    memcpy(s->arena + s->alen, v, n);
    s->alen += n;
    s->arena[s->alen++] = 0;
    return 0;
}

static int start_row(store *s)
{
    if (grow((void **)&s->row_off, &s->rcap, s->nrows + 1, sizeof *s->row_off))
        return -1;
    s->row_off[s->nrows++] = s->nvals;
    return 0;
}

static void store_free(store *s)
{
    if (!s)
        return;
    free(s->arena);
    free(s->vals);
    free(s->row_off);
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i]);
    free(s);
}

/* ---- building: from a CSV file (RFC 4180) or from a Lua table ---- */

/* The whole file in one exact-size buffer (+1 for a final NUL). */
static int read_file(const char *path, char **out, size_t *len, err *e)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f)
        return err_sys(e, "cannot open '%s'", path);
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(e, VOLLEY_EINVAL, "'%s' is not a regular file", path);
    }
    char *b = malloc((size_t)st.st_size + 1);
    size_t n = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
    bool bad = !b || ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return b ? err_sys(e, "cannot read '%s'", path) : err_set(e, VOLLEY_ENOMEM, "out of memory");
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return 0;
}

/* RFC 4180, parsed in place: the file's buffer becomes the arena, each
 * field unquoted where it stands and ended by a NUL where its delimiter
 * was (a field never grows, so the writer never passes the reader). The
 * first row is the header; a short row's missing fields are "". */
static int build_csv(store *s, char *text, size_t n, err *e)
{
    s->arena = text;
    s->acap = n + 1;
    s->typed = false;
    size_t r = n >= 3 && !memcmp(text, "\xef\xbb\xbf", 3) ? 3 : 0, w = r, start = w, col = 0;
    bool quoted = false, any = false, header = true;
    uint32_t empty = UINT32_MAX; /* a "" for short rows, made on demand */
    while (r <= n) {
        char ch = r < n ? text[r] : '\n';
        bool end_field = false, end_row = false;
        if (quoted) {
            if (r == n)
                return err_set(e, VOLLEY_EINVAL, "a quoted field is not closed at the end of the file");
            if (ch == '"' && r + 1 < n && text[r + 1] == '"')
                text[w++] = '"', r++;
            else if (ch == '"')
                quoted = false;
            else
                text[w++] = ch;
        } else if (ch == '"') {
            quoted = any = true;
        } else if (ch == ',') {
            end_field = any = true;
        } else if (ch == '\n' || ch == '\r') {
            if (ch == '\r' && r + 1 < n && text[r + 1] == '\n')
                r++;
            end_field = end_row = any || w > start;
        } else {
            text[w++] = ch;
            any = true;
        }
        r++;
        if (!end_field)
            continue;
        text[w++] = 0;
        int rc = 0;
        if (header) {
            if (s->nkeys < MAX_KEYS && !(s->keys[s->nkeys++] = strdup(text + start)))
                rc = -1;
        } else {
            if (col == 0)
                rc = start_row(s);
            if (!rc && col < s->nkeys)
                rc = grow((void **)&s->vals, &s->vcap, s->nvals + 1, sizeof *s->vals) ? -1 :
                     (s->vals[s->nvals++] = (uint32_t)start, 0);
            col++;
        }
        start = w;
        if (end_row) {
            if (!header)
                for (; !rc && col && col < s->nkeys; col++) {
                    if (empty == UINT32_MAX)
                        empty = (uint32_t)(w - 1); /* the NUL just written: "" */
                    rc = grow((void **)&s->vals, &s->vcap, s->nvals + 1, sizeof *s->vals) ? -1 :
                         (s->vals[s->nvals++] = empty, 0);
                }
            header = false;
            col = 0;
            any = false;
        }
        if (rc)
            return err_set(e, VOLLEY_ENOMEM, "out of memory");
    }
    s->alen = w;
    return 0;
}

static int put_lua_value(store *s, lua_State *L, int idx)
{
    size_t n;
    const char *v;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        v = lua_tolstring(L, idx, &n);
        return put_value(s, 's', v, n);
    case LUA_TNUMBER: {
        char num[64];
        n = lua_isinteger(L, idx)
                ? (size_t)snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, idx))
                : (size_t)snprintf(num, sizeof num, "%.17g", lua_tonumber(L, idx));
        return put_value(s, lua_isinteger(L, idx) ? 'i' : 'n', num, n);
    }
    case LUA_TBOOLEAN:
        return put_value(s, 'b', lua_toboolean(L, idx) ? "1" : "", lua_toboolean(L, idx) ? 1 : 0);
    default:
        return put_value(s, 's', "", 0); /* nil and the rest: nothing */
    }
}

/* An array of rows: tables with string keys (one schema, the first row's
 * keys) or scalars. */
static int build_lua(store *s, lua_State *L, int t, err *e)
{
    lua_Integer n = luaL_len(L, t);
    for (lua_Integer r = 1; r <= n; r++) {
        lua_geti(L, t, r);
        int rc = start_row(s);
        if (!rc && lua_istable(L, -1)) {
            if (!s->nkeys) {
                lua_pushnil(L);
                while (lua_next(L, -2) && s->nkeys < MAX_KEYS) {
                    if (lua_type(L, -2) == LUA_TSTRING)
                        s->keys[s->nkeys++] = strdup(lua_tostring(L, -2));
                    lua_pop(L, 1);
                }
            }
            for (size_t k = 0; k < s->nkeys && !rc; k++) {
                lua_getfield(L, -1, s->keys[k]);
                rc = put_lua_value(s, L, -1);
                lua_pop(L, 1);
            }
        } else if (!rc) {
            if (s->nkeys)
                rc = -2;
            else
                rc = put_lua_value(s, L, -1);
        }
        lua_pop(L, 1);
        if (rc == -2)
            return err_set(e, VOLLEY_EINVAL, "row %lld is not a table like the first", (long long)r);
        if (rc)
            return err_set(e, VOLLEY_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- reading: a proxy per Lua state ---- */

typedef struct proxy {
    const store *s;
} proxy;

static void push_value(lua_State *L, const store *s, uint32_t off)
{
    const char *v = s->arena + off;
    if (!s->typed) {
        lua_pushstring(L, v);
        return;
    }
    if (v[0] == 'i')
        lua_pushinteger(L, (lua_Integer)strtoll(v + 1, NULL, 10));
    else if (v[0] == 'n')
        lua_pushnumber(L, strtod(v + 1, NULL));
    else if (v[0] == 'b')
        lua_pushboolean(L, v[1] == '1');
    else
        lua_pushstring(L, v + 1);
}

static int p_index(lua_State *L)
{
    const store *s = ((proxy *)luaL_checkudata(L, 1, "volley.shared"))->s;
    if (!lua_isinteger(L, 2)) {
        lua_pushnil(L);
        return 1;
    }
    lua_Integer i = lua_tointeger(L, 2);
    if (i < 1 || (size_t)i > s->nrows) {
        lua_pushnil(L);
        return 1;
    }
    size_t first = s->row_off[i - 1];
    if (!s->nkeys) {
        push_value(L, s, s->vals[first]);
        return 1;
    }
    lua_createtable(L, 0, (int)s->nkeys);
    for (size_t k = 0; k < s->nkeys; k++) {
        push_value(L, s, s->vals[first + k]);
        lua_setfield(L, -2, s->keys[k]);
    }
    return 1;
}

static int p_len(lua_State *L)
{
    const store *s = ((proxy *)luaL_checkudata(L, 1, "volley.shared"))->s;
    lua_pushinteger(L, (lua_Integer)s->nrows);
    return 1;
}

static int p_newindex(lua_State *L)
{
    return luaL_error(L, "shared data is read-only");
}

static void push_proxy(lua_State *L, const store *s)
{
    proxy *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->s = s;
    luaL_setmetatable(L, "volley.shared");
}

static const store *find(const char *name)
{
    for (size_t i = 0; i < nstores; i++)
        if (!strcmp(stores[i]->name, name))
            return stores[i];
    return NULL;
}

/* C.shared(name, loader): the store named name, made by loader() the first
 * time in the process. The loader returns an array of rows, or csv()'s
 * marker (a file parsed in C). */
static int l_shared(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    pthread_mutex_lock(&lock);
    const store *s = find(name);
    if (s) {
        pthread_mutex_unlock(&lock);
        push_proxy(L, s);
        return 1;
    }
    /* The first state to ask builds it; the others wait on the lock. */
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 0, 1, 0)) {
        pthread_mutex_unlock(&lock);
        return lua_error(L);
    }
    store *n = calloc(1, sizeof *n);
    err e = {0};
    int rc = n && nstores < MAX_STORES ? 0 : err_set(&e, VOLLEY_ENOMEM, "too many shared stores");
    if (!rc) {
        snprintf(n->name, sizeof n->name, "%s", name);
        if (lua_isuserdata(L, -1) && luaL_testudata(L, -1, "volley.csvfile")) {
            char *text = NULL;
            size_t len = 0;
            const char *path = lua_touserdata(L, -1);
            rc = read_file(path, &text, &len, &e);
            if (!rc && (rc = build_csv(n, text, len, &e)) && n->arena != text)
                free(text);
        } else if (lua_istable(L, -1)) {
            n->typed = true;
            rc = build_lua(n, L, lua_gettop(L), &e);
        } else {
            rc = err_set(&e, VOLLEY_EINVAL, "the loader must return an array (or csv(file))");
        }
    }
    if (rc) {
        store_free(n);
        pthread_mutex_unlock(&lock);
        return luaL_error(L, "shared('%s'): %s", name, e.msg);
    }
    stores[nstores++] = n;
    pthread_mutex_unlock(&lock);
    lua_pop(L, 1);
    push_proxy(L, n);
    return 1;
}

/* C.csv_marker(path): what csv() returns inside a shared() loader. */
static int l_csv_marker(lua_State *L)
{
    size_t n;
    const char *path = luaL_checklstring(L, 1, &n);
    char *p = lua_newuserdatauv(L, n + 1, 0);
    memcpy(p, path, n + 1);
    luaL_setmetatable(L, "volley.csvfile");
    return 1;
}

void lua_shared_install(lua_State *L)
{
    luaL_newmetatable(L, "volley.shared");
    static const luaL_Reg mt[] = {{"__index", p_index}, {"__len", p_len},
                                  {"__newindex", p_newindex}, {NULL, NULL}};
    luaL_setfuncs(L, mt, 0);
    lua_pop(L, 1);
    luaL_newmetatable(L, "volley.csvfile");
    lua_pop(L, 1);
    lua_register(L, "__volley_shared", l_shared);
    lua_register(L, "__volley_csv_marker", l_csv_marker);
}

void lua_shared_free_all(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nstores; i++)
        store_free(stores[i]);
    nstores = 0;
    pthread_mutex_unlock(&lock);
}
