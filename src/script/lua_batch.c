/* lua_batch: http.batch (see lua_batch.h). A helper is a lua_vu of its
 * own (same worker, scenario and id as its VU, parent set) whose coroutine
 * runs the prelude's batch worker; its http.* calls wait and wake through
 * the ordinary VU machinery, so each request is sent, timed and counted
 * exactly as any other. Helpers are kept per VU between batches, so their
 * connections stay open for the next one. A helper takes the first request
 * not taken whose host has fewer than batchPerHost in flight; one that
 * finds none parks: every request left waits for a host whose requests in
 * flight will each free a slot, and the helper that frees it takes it. */
#include "script/lua_batch.h"

#include "script/lua_api.h"
#include "script/lua_args.h"
#include "script/lua_worker.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

typedef struct lua_batch {
    lua_vu *sub;             /* cap helpers (options.batch); never moved */
    uint32_t cap;
    uint32_t per_host;       /* options.batchPerHost; 0: no limit */
    uint32_t nsub;           /* helpers ever made (their pools persist) */
    uint32_t running;        /* helpers of this batch not yet parked */
    lua_Integer first, n;    /* the first request not taken (1-based), how many */
    uint32_t *host;          /* host of each request (0-based ids) */
    uint32_t *inflight;      /* requests in flight per host */
    bool *taken;
    size_t room, hroom;      /* lengths of host/taken and of inflight */
} lua_batch;

static lua_batch *batch_of(lua_vu *vu)
{
    if (vu->batch)
        return vu->batch;
    const lua_plan *p = lua_worker_context(vu->w)->plan;
    lua_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cap = p->batch ? p->batch : LUA_PLAN_BATCH;
    b->per_host = p->batch_per_host;
    if (!(b->sub = calloc(b->cap, sizeof *b->sub))) {
        free(b);
        return NULL;
    }
    for (uint32_t i = 0; i < b->cap; i++) {
        loop_timer_init(&b->sub[i].timer);
        b->sub[i].wake = (loop_defer){0};
        loop_timer_init(&b->sub[i].next);
        b->sub[i].co_ref = LUA_NOREF;
    }
    return vu->batch = b;
}

/* Room for n requests over nh hosts, all free and untaken. */
static bool reset_hosts(lua_batch *b, size_t n, size_t nh)
{
    if (n > b->room) {
        uint32_t *h = realloc(b->host, n * sizeof *h);
        if (h)
            b->host = h;
        bool *t = h ? realloc(b->taken, n * sizeof *t) : NULL;
        if (t)
            b->taken = t;
        if (!h || !t)
            return false;
        b->room = n;
    }
    if (nh > b->hroom) {
        uint32_t *f = realloc(b->inflight, nh * sizeof *f);
        if (!f)
            return false;
        b->inflight = f;
        b->hroom = nh;
    }
    memset(b->taken, 0, n * sizeof *b->taken);
    memset(b->inflight, 0, nh * sizeof *b->inflight);
    return true;
}

/* hosts (at idx): request i's host id, 1..nh; *nh is the largest. */
static bool read_hosts(lua_State *L, int idx, lua_batch *b, lua_Integer n)
{
    lua_Integer nh = 1;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_Integer h = lua_rawgeti(L, idx, i) == LUA_TNUMBER ? lua_tointeger(L, -1) : 1;
        lua_pop(L, 1);
        nh = h > nh ? h : nh;
    }
    if (!reset_hosts(b, (size_t)n, (size_t)nh))
        return false;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_Integer h = lua_rawgeti(L, idx, i) == LUA_TNUMBER ? lua_tointeger(L, -1) : 1;
        lua_pop(L, 1);
        b->host[i - 1] = (uint32_t)(h >= 1 ? h - 1 : 0);
    }
    return true;
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
    luaL_checktype(L, 5, LUA_TTABLE);
    lua_batch *b = batch_of(vu);
    if (!b)
        return luaL_error(L, "http.batch: out of memory");
    if (n <= 0)
        return 0;
    if (!read_hosts(L, 5, b, n))
        return luaL_error(L, "http.batch: out of memory");
    lua_settop(L, 4);
    b->n = n;
    b->first = 1;
    uint32_t k = n < (lua_Integer)b->cap ? (uint32_t)n : b->cap;
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
    lua_Integer done = luaL_optinteger(L, 1, 0);
    if (!b) {
        lua_pushnil(L);
        return 1;
    }
    if (done >= 1 && done <= b->n && b->inflight[b->host[done - 1]])
        b->inflight[b->host[done - 1]]--;
    while (b->first <= b->n && b->taken[b->first - 1])
        b->first++;
    for (lua_Integer i = b->first; i <= b->n; i++) {
        uint32_t h = b->host[i - 1];
        if (b->taken[i - 1] || (b->per_host && b->inflight[h] >= b->per_host))
            continue;
        b->taken[i - 1] = true;
        b->inflight[h]++;
        lua_pushinteger(L, i);
        return 1;
    }
    lua_pushnil(L); /* nothing left, or every host left at its limit */
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
    free(b->sub);
    free(b->host);
    free(b->taken);
    free(b->inflight);
    free(b);
    vu->batch = NULL;
}
