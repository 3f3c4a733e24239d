/* pool: free lists of small blocks by 16-byte class (see pool.h). Class c
 * holds blocks of c * 16 bytes; a block given back is put on a list only
 * if malloc_usable_size says it holds its class (blocks made elsewhere,
 * such as a Lua state's first ones, may be smaller). */
#include "core/pool.h"

#include <malloc.h>
#include <stdlib.h>

typedef struct block {
    struct block *next;
} block;

struct pool {
    size_t classes;  /* the largest class: max_block / 16 */
    size_t keep;     /* bytes kept at most */
    size_t kept;     /* bytes on the lists */
    block *free[];   /* free[c]: blocks of c * 16 bytes, c in 1..classes */
};

pool *pool_new(size_t max_block, size_t keep_bytes)
{
    size_t classes = (max_block + 15) / 16;
    pool *p = calloc(1, sizeof *p + (classes + 1) * sizeof(block *));
    if (p) {
        p->classes = classes;
        p->keep = keep_bytes;
    }
    return p;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    for (size_t c = 1; c <= p->classes; c++)
        for (block *b = p->free[c], *n; b; b = n) {
            n = b->next;
            free(b);
        }
    free(p);
}

size_t pool_kept(const pool *p)
{
    return p->kept;
}

size_t pool_max(const pool *p)
{
    return p->classes * 16;
}

void *pool_take(pool *p, size_t n)
{
    size_t c = n ? (n + 15) / 16 : 1;
    if (!p || c > p->classes)
        return malloc(n);
    block *b = p->free[c];
    if (!b)
        return malloc(c * 16);
    p->free[c] = b->next;
    p->kept -= c * 16;
    return b;
}

static void put(pool *p, void *ptr, size_t c)
{
    if (p->kept + c * 16 > p->keep) {
        free(ptr);
        return;
    }
    block *b = ptr;
    b->next = p->free[c];
    p->free[c] = b;
    p->kept += c * 16;
}

void pool_give(pool *p, void *b, size_t n)
{
    size_t c = n ? (n + 15) / 16 : 1;
    if (!b)
        return;
    if (!p || c > p->classes || malloc_usable_size(b) < c * 16)
        free(b);
    else
        put(p, b, c);
}

void pool_give_taken(pool *p, void *b, size_t n)
{
    size_t c = n ? (n + 15) / 16 : 1;
    if (!b)
        return;
    if (!p || c > p->classes)
        free(b);
    else
        put(p, b, c);
}

void pool_give_any(pool *p, void *b)
{
    if (!b)
        return;
    size_t u = malloc_usable_size(b), c = u / 16;
    if (!p || !c || u > 2 * p->classes * 16)
        free(b);
    else
        put(p, b, c < p->classes ? c : p->classes);
}
