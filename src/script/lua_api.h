/* lua_api: what a script can call (docs/scripting.md): http.*, ws.*, sleep,
 * check, group, metrics.*, vu, open, csv, json, ENV. Calls that wait yield
 * the VU's coroutine (lua_vu.h); their completion is pushed back as the
 * call's results by lua_api_push_results. HTTP goes through net/conn and
 * proto/http1 with a keep-alive pool per VU and is recorded in the
 * scenario's metrics shard exactly like load/worker records it. */
#ifndef VOLLEY_LUA_API_H
#define VOLLEY_LUA_API_H

#include "core/err.h"
#include "script/lua_vu.h"

#include <lua.h>

/* Opens the standard libraries and installs the API into L. w is NULL for
 * the checking state of script_run (waiting calls then raise errors). dir:
 * the script's directory, for open() and csv(). env: "KEY=VALUE" pairs
 * applied over the process environment into ENV. */
int lua_api_install(lua_State *L, lua_worker *w, const char *dir, const char *const *env,
                    size_t nenv, err *e);

/* Loads and runs the script file as the chunk "path" ("flow.lua:12: ..."). */
int lua_api_load(lua_State *L, const char *path, err *e);

/* Pushes onto vu->co the results of the wait that ended; returns how many. */
int lua_api_push_results(lua_vu *vu);
/* Abandons vu's pending call (run stopped): HTTP in flight is cancelled. */
void lua_api_cancel(lua_vu *vu);
/* Frees the VU's HTTP state and pooled connections. */
void lua_api_vu_free(lua_vu *vu);

#endif
