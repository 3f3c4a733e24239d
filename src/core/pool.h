/* pool: free lists of small blocks by 16-byte class, for allocators on a
 * hot path that make and drop the same few sizes over and over (a script's
 * response tables and strings, nghttp2's streams and header fields): a
 * freed block comes back LIFO, warm in the cache, without a lock and in a
 * few instructions, where glibc's malloc and free took ~190 a pair. A
 * block is malloc'd at its class's whole size, so any block of a class can
 * serve any size in it; blocks over the pool's largest class go straight to
 * malloc and free. A pool is used by one thread at a time (no lock) and
 * keeps at most keep_bytes on its lists; the rest goes back to free. */
#ifndef VOLLEY_POOL_H
#define VOLLEY_POOL_H

#include <stddef.h>

typedef struct pool pool;

/* Blocks up to max_block bytes (rounded up to 16) are kept for reuse. */
pool *pool_new(size_t max_block, size_t keep_bytes);
/* Frees the blocks on the lists (the blocks in use are the caller's). */
void pool_free(pool *p);
/* A block of at least n bytes: from n's list, or malloc'd. */
void *pool_take(pool *p, size_t n);
/* Gives back a block taken for n bytes (or any malloc'd block of at least
 * n usable bytes); one too small for n's class, or over the largest class,
 * is freed. */
void pool_give(pool *p, void *b, size_t n);
/* pool_give for a block that pool_take gave for n bytes (its class's
 * size, no check of its usable size). */
void pool_give_taken(pool *p, void *b, size_t n);
/* Gives back a malloc'd block whose size the caller does not know: it goes
 * to the largest class its malloc_usable_size holds. */
void pool_give_any(pool *p, void *b);
/* Bytes now on the lists (tests). */
size_t pool_kept(const pool *p);
size_t pool_max(const pool *p);

#endif
