/* lua_vu: one coroutine per virtual user (see lua_vu.h). The VU pointer
 * lives in the coroutine's extra space, so an API call finds its VU in O(1)
 * and a coroutine the script made itself (whose extra space is the main
 * thread's NULL) is refused instead of confusing the scheduler. */
#include "script/lua_vu.h"

#include "core/clock.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

lua_vu *lua_vu_of(lua_State *co)
{
    lua_vu *vu;
    memcpy(&vu, lua_getextraspace(co), sizeof vu);
    return vu;
}

int lua_vu_init(lua_vu *vu, err *e)
{
    lua_State *L = vu->L;
    lua_State *co = lua_newthread(L);
    if (!co)
        return err_set(e, VOLLEY_ENOMEM, "VU %llu: out of memory", (unsigned long long)vu->id);
    vu->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    vu->co = co;
    memcpy(lua_getextraspace(co), &vu, sizeof vu);
    /* The driver and the scenario's function wait on the new stack for the
     * first resume. */
    lua_getfield(L, LUA_REGISTRYINDEX, "volley.driver");
    lua_rawgeti(L, LUA_REGISTRYINDEX, vu->fn_ref);
    /* setup() (its return value is kept) or teardown(); nil: a scenario. */
    if (vu->phase)
        lua_pushstring(L, vu->phase);
    else
        lua_pushnil(L);
    lua_xmove(L, co, 3);
    vu->dead = false;
    vu->iters_done = 0;
    return 0;
}

static void drop_coroutine(lua_vu *vu)
{
    if (!vu->co)
        return;
    lua_State *null = NULL;
    memcpy(lua_getextraspace(vu->co), &null, sizeof null);
    luaL_unref(vu->L, LUA_REGISTRYINDEX, vu->co_ref);
    vu->co = NULL;
    vu->co_ref = LUA_NOREF;
}

static void ended(lua_vu *vu, const char *msg)
{
    vu->in_iter = false;
    vu->wait = VW_NONE;
    if (vu->parent) /* a batch helper (script/lua_batch) is no iteration */
        return;
    vu->hooks->iteration_done(vu, msg);
}

static void resume(lua_vu *vu, int nargs)
{
    lua_State *co = vu->co;
    vu->wait = VW_NONE;
    int nres = 0;
    int st = lua_resume(co, vu->L, nargs, &nres);
    if (st == LUA_YIELD) {
        lua_pop(co, nres);
        vu->waited = true;
        if (vu->wait == VW_ITER_END) {
            ended(vu, vu->has_err ? vu->errmsg : NULL);
        } else if (vu->wait == VW_NONE) {
            /* coroutine.yield() straight out of a VU function: nothing
             * would ever resume it. */
            drop_coroutine(vu);
            vu->dead = true;
            ended(vu, "coroutine.yield() cannot be used to leave a VU function");
        }
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "%s",
             st == LUA_OK ? "the VU driver returned" : luaL_tolstring(co, -1, NULL));
    drop_coroutine(vu);
    vu->dead = true;
    ended(vu, msg);
}

void lua_vu_begin(lua_vu *vu)
{
    err e;
    if (vu->dead || !vu->co) {
        drop_coroutine(vu);
        if (lua_vu_init(vu, &e)) {
            ended(vu, e.msg);
            return;
        }
    }
    vu->in_iter = true;
    vu->has_err = false;
    vu->waited = false;
    vu->iter_start_ns = loop_update_now(vu->lp);
    /* First iteration: the driver takes the function as its argument. */
    resume(vu, lua_status(vu->co) == LUA_OK ? 2 : 0);
}

void lua_vu_begin_stop(lua_vu *vu)
{
    vu->in_iter = true;
    vu->in_stop = true;
    vu->has_err = false;
    vu->iter_start_ns = loop_update_now(vu->lp);
    lua_pushboolean(vu->co, 1);
    resume(vu, 1);
}

bool lua_vu_next_at_once(lua_vu *vu)
{
    if (!vu->waited || vu->dead)
        return false;
    if (!vu->hooks->next_at_once(vu, vu->has_err ? vu->errmsg : NULL))
        return false;
    vu->has_err = false;
    vu->waited = false;
    return true;
}

static void on_wake(loop *l, void *data)
{
    (void)l;
    lua_vu *vu = data;
    if (!vu->co || !vu->in_iter)
        return;
    int n = vu->hooks->push_results(vu);
    resume(vu, n);
}

void lua_vu_wake(lua_vu *vu)
{
    loop_defer_start(vu->lp, &vu->wake, on_wake, vu);
}

void lua_vu_cancel(lua_vu *vu)
{
    loop_timer_stop(vu->lp, &vu->next);
    loop_defer_cancel(vu->lp, &vu->wake);
    loop_timer_stop(vu->lp, &vu->timer);
    vu->hooks->cancel_call(vu);
    if (vu->in_iter) {
        /* Its coroutine is suspended in the middle of the function: drop it
         * (a fresh one serves a later iteration). */
        drop_coroutine(vu);
        vu->dead = true;
        vu->in_iter = false;
    }
    vu->in_stop = false;
    vu->wait = VW_NONE;
}

void lua_vu_free(lua_vu *vu)
{
    loop_timer_stop(vu->lp, &vu->next);
    loop_defer_cancel(vu->lp, &vu->wake);
    loop_timer_stop(vu->lp, &vu->timer);
    vu->hooks->free_calls(vu);
}
