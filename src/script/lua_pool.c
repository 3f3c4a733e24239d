/* lua_pool: Lua's allocator function over core/pool (see lua_pool.h). Lua
 * says each block's size when it frees or resizes it (osize), so blocks go
 * back by size; a block that did not come from the pool (made by
 * luaL_newstate's allocator) is kept only if large enough for its class,
 * which pool_give checks. */
#include "script/lua_pool.h"

#include <malloc.h>
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
            pool_give(p, ptr, osize);
        else
            free(ptr);
        return NULL;
    }
    if (!ptr)
        return pool_take(p, nsize);
    if (!small_old && nsize > LUA_POOL_MAX)
        return realloc(ptr, nsize);
    if (small_old && nsize <= LUA_POOL_MAX && (nsize + 15) / 16 == (osize + 15) / 16 &&
        malloc_usable_size(ptr) >= nsize)
        return ptr;
    void *n = pool_take(p, nsize);
    if (!n)
        return NULL; /* ptr stays valid: Lua collects and tries again, or raises */
    memcpy(n, ptr, osize < nsize ? osize : nsize);
    if (small_old)
        pool_give(p, ptr, osize);
    else
        free(ptr);
    return n;
}
