/* lua_batch: http.batch({...}) - a VU's requests in parallel, each on a
 * connection of its own, as k6's batch. The VU waits (VW_BATCH) while up
 * to LUA_BATCH_PARALLEL helper coroutines, each a sub-VU with its own HTTP
 * state and keep-alive pool, take the requests in turn through http.*;
 * the responses come back in order, counted as ordinary requests. */
#ifndef VOLLEY_LUA_BATCH_H
#define VOLLEY_LUA_BATCH_H

#include "script/lua_vu.h"

#include <lua.h>

#define LUA_BATCH_PARALLEL 20 /* requests in flight per batch (k6's batch) */

/* C.batch(n, worker, list, results): runs worker(list, results, parent)
 * in min(n, LUA_BATCH_PARALLEL) helpers; yields until every helper is done. */
int lua_batch_call(lua_State *L);
/* C.batch_next(): the next request index of the calling helper's batch, or nil. */
int lua_batch_next(lua_State *L);
/* C.batch_park(): the calling helper is done: it waits for ever (the
 * last one wakes the VU). */
int lua_batch_park(lua_State *L);
/* The run stopped while vu waited on a batch: its helpers' requests are
 * cancelled and their coroutines dropped. */
void lua_batch_cancel(lua_vu *vu);
/* Frees vu's helpers (their HTTP state and pools); no Lua calls. */
void lua_batch_free(lua_vu *vu);

#endif
