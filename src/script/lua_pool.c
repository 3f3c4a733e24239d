/* lua_pool: free lists of small blocks for a Lua state (see lua_pool.h). A
 * block goes to class (size + 15) / 16 and is malloc'd with the class's
 * whole size, so any block of that class can serve any size in it. A block
 * that did not come from here (the state's first allocations, made by
 * luaL_newstate's allocator) is put on a list only if malloc_usable_size
 * says it is large enough for its class; otherwise it is freed. */
#include "script/lua_pool.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CLASSES (LUA_POOL_MAX / 16)

typedef struct block {
    struct block *next;
} block;

struct lua_pool {
    block *free[CLASSES + 1]; /* free[c]: blocks of c * 16 bytes */
    size_t kept;              /* bytes on the lists */
};

lua_pool *lua_pool_new(void)
{
    return calloc(1, sizeof(lua_pool));
}

void lua_pool_free(lua_pool *p)
{
    if (!p)
        return;
    for (int c = 1; c <= CLASSES; c++)
        for (block *b = p->free[c], *n; b; b = n) {
            n = b->next;
            free(b);
        }
    free(p);
}

size_t lua_pool_kept(const lua_pool *p)
{
    return p->kept;
}

static size_t class_of(size_t n)
{
    return (n + 15) / 16;
}

static void *take(lua_pool *p, size_t n)
{
    size_t c = class_of(n);
    block *b = p->free[c];
    if (b) {
        p->free[c] = b->next;
        p->kept -= c * 16;
        return b;
    }
    return malloc(c * 16);
}

static void give(lua_pool *p, void *ptr, size_t osize)
{
    size_t c = class_of(osize);
    if (p->kept + c * 16 > LUA_POOL_KEEP || malloc_usable_size(ptr) < c * 16) {
        free(ptr);
        return;
    }
    block *b = ptr;
    b->next = p->free[c];
    p->free[c] = b;
    p->kept += c * 16;
}

void *lua_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lua_pool *p = ud;
    /* osize is the block's size only when ptr is set (else a type tag). */
    bool small_old = ptr && osize <= LUA_POOL_MAX;
    if (nsize == 0) {
        if (small_old)
            give(p, ptr, osize);
        else
            free(ptr);
        return NULL;
    }
    if (!ptr)
        return nsize <= LUA_POOL_MAX ? take(p, nsize) : malloc(nsize);
    if (!small_old && nsize > LUA_POOL_MAX)
        return realloc(ptr, nsize);
    if (small_old && nsize <= LUA_POOL_MAX && class_of(nsize) == class_of(osize) &&
        malloc_usable_size(ptr) >= nsize)
        return ptr;
    void *n = nsize <= LUA_POOL_MAX ? take(p, nsize) : malloc(nsize);
    if (!n)
        return NULL; /* ptr stays valid: Lua collects and tries again, or raises */
    memcpy(n, ptr, osize < nsize ? osize : nsize);
    if (small_old)
        give(p, ptr, osize);
    else
        free(ptr);
    return n;
}
