/* Tests for script/lua_pool: a freed small block is reused for the next
 * allocation of its 16-byte class; a reallocation within the class keeps
 * the block, across classes it moves the contents; large blocks are not
 * kept; the lists are capped; a Lua state made on it runs and closes
 * (ASan sees any misuse), with luaL_newstate's warn() defaults. */
#include "script/lua_pool.h"

#include <criterion/criterion.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static void *pa(pool *p, size_t n) { return lua_pool_alloc(p, NULL, LUA_TTABLE, n); }
static void pf(pool *p, void *b, size_t n) { lua_pool_alloc(p, b, n, 0); }

Test(lua_pool, freed_blocks_are_reused_by_class)
{
    pool *p = lua_pool_new();
    cr_assert_not_null(p);
    void *a = pa(p, 40), *b = pa(p, 33);
    cr_assert(a && b && a != b);
    pf(p, a, 40);
    pf(p, b, 33);
    cr_assert_eq(pool_kept(p), 2 * 48);
    /* last in, first out; any size of class 48 (33..48) takes one */
    cr_assert_eq(pa(p, 48), b);
    cr_assert_eq(pa(p, 34), a);
    cr_assert_eq(pool_kept(p), 0);
    void *c = pa(p, 16); /* another class: a new block */
    cr_assert(c != a && c != b);
    pf(p, a, 34);
    pf(p, b, 48);
    pf(p, c, 16);
    pool_free(p);
}

Test(lua_pool, realloc_keeps_or_moves_the_contents)
{
    pool *p = lua_pool_new();
    char *a = pa(p, 20);
    memcpy(a, "0123456789abcdefghi", 20);
    cr_assert_eq(lua_pool_alloc(p, a, 20, 30), a); /* same class (32) */
    char *b = lua_pool_alloc(p, a, 30, 100);       /* class 112: moved */
    cr_assert(b != a);
    cr_assert_str_eq(b, "0123456789abcdefghi");
    cr_assert_eq(pool_kept(p), 32); /* the old block is on its list */
    char *big = lua_pool_alloc(p, b, 100, 4000);   /* past LUA_POOL_MAX */
    cr_assert_str_eq(big, "0123456789abcdefghi");
    big = lua_pool_alloc(p, big, 4000, 9000);
    cr_assert_str_eq(big, "0123456789abcdefghi");
    char *back = lua_pool_alloc(p, big, 9000, 24);  /* large to small */
    cr_assert_str_eq(back, "0123456789abcdefghi");
    size_t kept = pool_kept(p);
    pf(p, pa(p, 2000), 2000); /* large blocks are never kept */
    cr_assert_eq(pool_kept(p), kept);
    pf(p, back, 24);
    pool_free(p);
}

Test(lua_pool, free_lists_are_capped)
{
    pool *p = lua_pool_new();
    size_t n = LUA_POOL_KEEP / LUA_POOL_MAX + 100;
    void **v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        cr_assert_not_null(v[i] = pa(p, LUA_POOL_MAX));
    for (size_t i = 0; i < n; i++)
        pf(p, v[i], LUA_POOL_MAX);
    cr_assert_leq(pool_kept(p), LUA_POOL_KEEP);
    cr_assert_geq(pool_kept(p), LUA_POOL_KEEP - LUA_POOL_MAX);
    free(v);
    pool_free(p);
}

Test(lua_pool, a_lua_state_runs_and_closes_on_it)
{
    pool *p = lua_pool_new();
    cr_assert_not_null(p);
    lua_State *L = lua_pool_newstate(p);
    cr_assert_not_null(L);
    luaL_openlibs(L);
    const char *src = "local t = {}\n"
                      "for i = 1, 20000 do t[i % 100 + 1] = { i, tostring(i), s = ('x'):rep(i % 700) } end\n"
                      "collectgarbage()\n"
                      "return #t, t[5][2]";
    cr_assert_eq(luaL_dostring(L, src), 0, "%s", lua_tostring(L, -1));
    cr_assert_eq(lua_tointeger(L, -2), 100);
    cr_assert_str_eq(lua_tostring(L, -1), "19904");
    cr_assert_gt(pool_kept(p), 0);
    lua_close(L);
    pool_free(p);
}

/* stderr while fn(L) runs, into out. */
static void stderr_of(lua_State *L, const char *src, char *out, size_t cap)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *f = tmpfile();
    cr_assert(saved >= 0 && f);
    dup2(fileno(f), 2);
    int rc = luaL_dostring(L, src);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    cr_assert_eq(rc, 0, "%s", lua_tostring(L, -1));
    rewind(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
}

Test(lua_pool, warnings_are_off_until_on_as_with_luaL_newstate)
{
    pool *p = lua_pool_new();
    lua_State *L = lua_pool_newstate(p);
    cr_assert_not_null(L);
    luaL_openlibs(L);
    char out[256];
    stderr_of(L, "warn('hidden') warn('@on') warn('a', 'b') warn('@x') warn('c') "
                 "warn('@off') warn('gone')", out, sizeof out);
    cr_assert_str_eq(out, "Lua warning: ab\nLua warning: c\n");
    lua_close(L);
    pool_free(p);
}
