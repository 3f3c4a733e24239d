/* lua_pool: a Lua allocator over core/pool, which keeps freed small blocks
 * for reuse. A script's requests make and drop a few small objects each
 * (the response table and its hash part, strings);
 * glibc's malloc and free were ~10 % of a minimal script's instructions
 * per request. Blocks up to LUA_POOL_MAX bytes come from the pool's free
 * lists by 16-byte class; larger ones go to realloc and free. A pool serves
 * one lua_State, used by one thread at a time (no lock). */
#ifndef VOLLEY_LUA_POOL_H
#define VOLLEY_LUA_POOL_H

#include "core/pool.h"

#include <lua.h>
#include <stddef.h>

#define LUA_POOL_MAX 512              /* largest block kept for reuse */
#define LUA_POOL_KEEP (16u << 20)     /* bytes kept on the free lists at most */

/* A pool for one state: pool_new(LUA_POOL_MAX, LUA_POOL_KEEP); pool_free
 * after lua_close. */
pool *lua_pool_new(void);
/* The lua_Alloc of a state made by lua_pool_newstate; ud is the pool.
 * Every block it frees or resizes must be one it gave (a small block is
 * given back to its class's list unchecked). */
void *lua_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* A new state on p from its first block (luaL_newstate's defaults: a
 * message on a panic, warn() off until "@on"), or NULL; lua_close it
 * before pool_free(p). */
lua_State *lua_pool_newstate(pool *p);

#endif
