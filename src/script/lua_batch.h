/* lua_batch: http.batch({...}) - a VU's requests in parallel, each on a
 * connection of its own, as k6's batch. The VU waits (VW_BATCH) while up
 * to options.batch (20) helper coroutines, each a sub-VU with its own HTTP
 * state and keep-alive pool, take the requests in turn through http.*, at
 * most options.batchPerHost (6) to one host at a time; the responses come
 * back in order, counted as ordinary requests. */
#ifndef VOLLEY_LUA_BATCH_H
#define VOLLEY_LUA_BATCH_H

#include "script/lua_vu.h"

#include <lua.h>

/* C.batch(n, worker, list, results, hosts): runs worker(list, results,
 * parent) in min(n, options.batch) helpers; hosts[i] numbers request i's
 * host (1, 2, ...: the same number, the same host). Yields until every
 * helper is done. */
int lua_batch_call(lua_State *L);
/* C.batch_next(done): the calling helper finished request done (nil: none
 * yet), which frees its host's slot; returns the next request index it may
 * send (the first not taken whose host is under batchPerHost), or nil:
 * none left, or every one left waits for a host at its limit. */
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
