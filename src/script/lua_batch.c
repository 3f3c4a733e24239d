/* lua_batch: http.batch (see lua_batch.h). A helper is a lua_vu of its
 * own (same worker, scenario and id as its VU, parent set) whose coroutine
 * runs the prelude's batch worker; its http.* calls wait and wake through
 * the ordinary VU machinery, so each request is sent, timed and counted
 * exactly as any other. Helpers are kept per VU between batches, so their
 * connections stay open for the next one. */
#include "script/lua_batch.h"

#include "script/lua_api.h"
#include "script/lua_args.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

typedef struct lua_batch {
    lua_vu sub[LUA_BATCH_PARALLEL];
    uint32_t nsub;           /* helpers ever made (their pools persist) */
    uint32_t running;        /* helpers of this batch not yet parked */
    lua_Integer next, n;     /* the next request index (1-based), how many */
} lua_batch;

static lua_batch *batch_of(lua_vu *vu)
{
    if (!vu->batch && (vu->batch = calloc(1, sizeof *vu->batch)))
        for (uint32_t i = 0; i < LUA_BATCH_PARALLEL; i++) {
            loop_timer_init(&vu->batch->sub[i].timer);
            vu->batch->sub[i].wake = (loop_defer){0};
            loop_timer_init(&vu->batch->sub[i].next);
            vu->batch->sub[i].co_ref = LUA_NOREF;
        }
    return vu->batch;
}

/* Drops a parked helper's old coroutine (a new one runs the next batch). */
static void drop(lua_vu *sub)
{
    if (sub->co_ref != LUA_NOREF)
        luaL_unref(sub->L, LUA_REGISTRYINDEX, sub->co_ref);
    sub->co_ref = LUA_NOREF;
    sub->co = NULL;
}

/* Starts helper i on worker(list, results, parent) from the VU's stack. */
static void start_helper(lua_State *L, lua_vu *vu, lua_vu *sub)
{
    drop(sub);
    sub->w = vu->w;
    sub->lp = vu->lp;
    sub->L = vu->L;
    sub->hooks = vu->hooks;
    sub->shard = vu->shard;
    sub->fn_ref = vu->fn_ref;
    sub->scen = vu->scen;
    sub->index = vu->index;
    sub->id = vu->id;
    sub->iteration = vu->iteration;
    sub->parent = vu;
    sub->rng = vu->rng;
    sub->co = lua_newthread(L);
    sub->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    memcpy(lua_getextraspace(sub->co), &sub, sizeof sub);
    lua_pushvalue(L, 2);     /* worker */
    lua_pushvalue(L, 3);     /* list */
    lua_pushvalue(L, 4);     /* results */
    lua_pushthread(L);       /* the VU's coroutine: its cookie jar */
    lua_xmove(L, sub->co, 4);
    sub->in_iter = true;
    sub->wait = VW_NONE;
    int nres = 0;
    int st = lua_resume(sub->co, L, 3, &nres);
    if (st == LUA_YIELD)
        lua_pop(sub->co, nres);
    else if (sub->wait != VW_BATCH) /* cannot happen: the worker catches errors */
        vu->batch->running--;
}

int lua_batch_call(lua_State *L)
{
    lua_vu *vu = lua_args_need_vu(L, "http.batch");
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_batch *b = batch_of(vu);
    if (!b)
        return luaL_error(L, "http.batch: out of memory");
    if (n <= 0)
        return 0;
    b->n = n;
    b->next = 1;
    uint32_t k = n < LUA_BATCH_PARALLEL ? (uint32_t)n : LUA_BATCH_PARALLEL;
    if (k > b->nsub)
        b->nsub = k;
    b->running = k;
    for (uint32_t i = 0; i < k; i++)
        start_helper(L, vu, &b->sub[i]);
    if (!b->running)
        return 0;
    vu->wait = VW_BATCH;
    return lua_yield(L, 0);
}

int lua_batch_next(lua_State *L)
{
    lua_vu *sub = lua_args_need_vu(L, "http.batch");
    lua_batch *b = sub->parent ? sub->parent->batch : NULL;
    if (!b || b->next > b->n)
        lua_pushnil(L);
    else
        lua_pushinteger(L, b->next++);
    return 1;
}

int lua_batch_park(lua_State *L)
{
    lua_vu *sub = lua_args_need_vu(L, "http.batch");
    lua_vu *vu = sub->parent;
    sub->wait = VW_BATCH;
    /* The last helper wakes the VU (from the loop: never re-entrant). */
    if (vu && vu->batch && --vu->batch->running == 0 && vu->wait == VW_BATCH)
        lua_vu_wake(vu);
    return lua_yield(L, 0);
}

void lua_batch_cancel(lua_vu *vu)
{
    lua_batch *b = vu->batch;
    if (!b)
        return;
    for (uint32_t i = 0; i < b->nsub; i++)
        if (b->sub[i].w) {
            lua_vu_cancel(&b->sub[i]);
            drop(&b->sub[i]);
        }
    b->running = 0;
}

void lua_batch_free(lua_vu *vu)
{
    lua_batch *b = vu->batch;
    if (!b)
        return;
    for (uint32_t i = 0; i < b->nsub; i++)
        if (b->sub[i].w)
            lua_vu_free(&b->sub[i]);
    free(b);
    vu->batch = NULL;
}
