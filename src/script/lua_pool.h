/* lua_pool: a Lua allocator over core/pool, which keeps freed small blocks
 * for reuse. A script's requests make and drop a few small objects each
 * (the response table and its hash part, strings, the timings table);
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
/* The lua_Alloc of a state; ud is the pool. Blocks the state allocated
 * before it took this allocator (luaL_newstate's) may be freed through it. */
void *lua_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
