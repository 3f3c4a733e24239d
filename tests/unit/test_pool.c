/* Tests for core/pool beyond what test_lua_pool covers through Lua's
 * allocator: blocks given back without their size (nghttp2's free) go to
 * the largest class they hold and serve any size of it; blocks over twice
 * the largest class are freed, those a little over it serve the largest;
 * a NULL pool is plain malloc and free; the cap holds; a sized give
 * keeps a foreign block only when it holds its class, a give of a taken
 * block keeps it unchecked. */
#include "core/pool.h"

#include <criterion/criterion.h>
#include <malloc.h>
#include <stdlib.h>

Test(pool, unsized_blocks_go_to_the_class_they_hold)
{
    pool *p = pool_new(256, 1 << 20);
    cr_assert_not_null(p);
    cr_assert_eq(pool_max(p), 256);
    void *a = pool_take(p, 40); /* class 48 */
    cr_assert_geq(malloc_usable_size(a), 48);
    pool_give_any(p, a);
    cr_assert_eq(pool_kept(p), malloc_usable_size(a) / 16 * 16);
    cr_assert_eq(pool_take(p, 33), a, "a size of its class takes it back");
    pool_give_any(p, a);
    void *b = pool_take(p, 49); /* class 64: not the 48 block */
    cr_assert_neq(b, a);
    pool_give_any(p, b);
    /* a little over the largest class: serves the largest */
    void *big = malloc(300);
    size_t kept = pool_kept(p);
    pool_give_any(p, big);
    cr_assert_eq(pool_kept(p), kept + 256);
    cr_assert_eq(pool_take(p, 250), big);
    free(big);
    /* over twice the largest: freed, not kept (ASan sees a double free) */
    kept = pool_kept(p);
    pool_give_any(p, malloc(600));
    cr_assert_eq(pool_kept(p), kept);
    /* past the largest class: plain malloc */
    void *large = pool_take(p, 1000);
    cr_assert_not_null(large);
    pool_give(p, large, 1000);
    cr_assert_eq(pool_kept(p), kept);
    pool_free(p);
}

Test(pool, sized_gives_check_foreign_blocks_taken_ones_go_back)
{
    pool *p = pool_new(256, 1 << 20);
    void *small = malloc(20); /* malloc's usable size (24) < its class (32) */
    cr_assert_not_null(small);
    cr_assert_lt(malloc_usable_size(small), 32);
    pool_give(p, small, 20);
    cr_assert_eq(pool_kept(p), 0);
    void *fits = malloc(64);
    pool_give(p, fits, 64);
    cr_assert_eq(pool_kept(p), 64);
    cr_assert_eq(pool_take(p, 50), fits);
    pool_give_taken(p, fits, 50);
    cr_assert_eq(pool_kept(p), 64);
    void *a = pool_take(p, 20); /* a new block of class 32 */
    pool_give_taken(p, a, 20);
    cr_assert_eq(pool_kept(p), 96);
    cr_assert_eq(pool_take(p, 32), a);
    pool_give_taken(p, a, 32);
    void *large = pool_take(p, 1000); /* past the largest class: freed */
    pool_give_taken(p, large, 1000);
    cr_assert_eq(pool_kept(p), 96);
    pool_free(p);
}

Test(pool, null_pool_is_malloc_and_free)
{
    void *a = pool_take(NULL, 100);
    cr_assert_not_null(a);
    pool_give(NULL, a, 100);
    a = pool_take(NULL, 100);
    pool_give_any(NULL, a);
    pool_give_any(NULL, NULL);
}

Test(pool, unsized_gives_respect_the_cap)
{
    pool *p = pool_new(64, 1024);
    void *v[64];
    for (int i = 0; i < 64; i++)
        cr_assert_not_null(v[i] = pool_take(p, 64));
    for (int i = 0; i < 64; i++)
        pool_give_any(p, v[i]);
    cr_assert_leq(pool_kept(p), 1024);
    cr_assert_geq(pool_kept(p), 1024 - 64);
    pool_free(p);
}
