/* lua_pool: Lua's allocator function over core/pool (see lua_pool.h). Lua
 * says each block's size when it frees or resizes it (osize), so blocks go
 * back by size; the state is made on this allocator (lua_pool_newstate),
 * so every small block is one pool_take gave, of its class's full size
 * (no malloc_usable_size per free: ~20 instructions each, ~10 frees per
 * request of a script with a check). */
#include "script/lua_pool.h"

#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

pool *lua_pool_new(void)
{
    return pool_new(LUA_POOL_MAX, LUA_POOL_KEEP);
}

void *lua_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    pool *p = ud;
    /* osize is the block's size only when ptr is set (else a type tag). */
    bool small_old = ptr && osize <= LUA_POOL_MAX;
    if (nsize == 0) {
        if (small_old)
            pool_give_taken(p, ptr, osize);
        else
            free(ptr);
        return NULL;
    }
    if (!ptr)
        return pool_take(p, nsize);
    if (!small_old && nsize > LUA_POOL_MAX)
        return realloc(ptr, nsize);
    if (small_old && nsize <= LUA_POOL_MAX && (nsize + 15) / 16 == (osize + 15) / 16)
        return ptr;
    void *n = pool_take(p, nsize);
    if (!n)
        return NULL; /* ptr stays valid: Lua collects and tries again, or raises */
    memcpy(n, ptr, osize < nsize ? osize : nsize);
    if (small_old)
        pool_give_taken(p, ptr, osize);
    else
        free(ptr);
    return n;
}

/* What luaL_newstate adds to a state, for one made by lua_newstate: a
 * message before Lua aborts on an error outside any protected call, and
 * warn() off until warn("@on") (then "Lua warning: ..." on stderr, until
 * "@off"). */
static int panic(lua_State *L)
{
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)";
    fprintf(stderr, "volley: unprotected error in call to Lua API (%s)\n", m);
    return 0;
}

static void warn_on(void *ud, const char *msg, int tocont);
static void warn_cont(void *ud, const char *msg, int tocont);

/* A one-piece message "@on" or "@off" switches; any "@..." is control. */
static bool warn_control(lua_State *L, const char *msg, int tocont);

static void warn_off(void *ud, const char *msg, int tocont)
{
    warn_control(ud, msg, tocont);
}

static bool warn_control(lua_State *L, const char *msg, int tocont)
{
    if (tocont || msg[0] != '@')
        return false;
    if (!strcmp(msg, "@on"))
        lua_setwarnf(L, warn_on, L);
    else if (!strcmp(msg, "@off"))
        lua_setwarnf(L, warn_off, L);
    return true;
}

static void warn_on(void *ud, const char *msg, int tocont)
{
    if (warn_control(ud, msg, tocont))
        return;
    fputs("Lua warning: ", stderr);
    warn_cont(ud, msg, tocont);
}

/* The pieces of a message, the last one (tocont 0) ended by a newline. */
static void warn_cont(void *ud, const char *msg, int tocont)
{
    fputs(msg, stderr);
    if (tocont) {
        lua_setwarnf(ud, warn_cont, ud);
    } else {
        fputc('\n', stderr);
        lua_setwarnf(ud, warn_on, ud);
    }
}

lua_State *lua_pool_newstate(pool *p)
{
    lua_State *L = lua_newstate(lua_pool_alloc, p);
    if (L) {
        lua_atpanic(L, panic);
        lua_setwarnf(L, warn_off, L);
    }
    return L;
}
